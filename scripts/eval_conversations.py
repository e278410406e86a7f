"""Follow-up questions on MTRAG-UN dev conversations (#16), for docs/EVALUATION.md.

    .venv/bin/python scripts/eval_conversations.py retrieval [--split dev|test]
        [--methods none rule concat rewrite] [-k 4]
    .venv/bin/python scripts/eval_conversations.py answers [--split test]
        [--answerable 40] [--seed 13] [--set NAME=VALUE ...]
    .venv/bin/python scripts/eval_conversations.py fit-follow-up [--report FILE]

The 469 MTRAG-UN reference passages are ingested with the 600 ClapNQ dev passages as
distractors (MiniLM, once, cached under the cache folder). Each conversation's last
user turn is the question and the messages before it its history; conversations fall
in `dev` or `test` by the CRC32 of their id (the contextualiser is chosen on dev,
reported on test).

`retrieval` (no generator but for `rewrite`): for answerable follow-ups (ANSWERABLE
with a history), whether a gold passage is in the top k for each contextualiser
('none' is the last turn alone), and the median time each adds.
`fit-follow-up` reads a dev `answers` report run with `--set answerability_threshold=0`
(every turn's gate features recorded, nothing refused by the gate) and writes into
qa/answer/answerability_weights.json the two follow-up thresholds (for a follow-up
whose query the contextualiser rewrote, and for one it left as asked) that together
maximise the lower of two rates on its history rows: answerable turns citing a gold
passage, and unanswerable turns declined.
`answers` (the `fast` generator, default settings, the same pipeline as /v1/ask and
/v1/chat/completions): a seeded sample of answerable follow-ups and every
UNANSWERABLE turn, each asked with the full history and with the last turn alone:
the share of answerable ones whose answer cites a gold passage, the share of
unanswerable ones declined, and the contextualiser's added latency.
Writes reports/eval_conversations_{retrieval,answers}_{split}.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa.answer.gate import GATE_WEIGHTS_FILE, GateCalibration, follow_up_kind, load_gate
from qa.answer.pipeline import AskPipeline, Judged
from qa.records import Document, SearchRequest, Turn
from qa.retrieval.contextualise import Contextualiser, Method
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = "mtrag"


def load(data_dir: Path) -> tuple[list[dict[str, Any]], list[Document]]:
    folder = data_dir / "mtrag_un_dev"
    conversations = [json.loads(line) for line in (folder / "conversations.jsonl").open()]
    documents = [
        Document(r["id"], r["text"], r.get("title", ""))
        for r in map(json.loads, (folder / "corpus.jsonl").open())
    ]
    seen: set[str] = set()
    for name in ("clapnq_dev_answerable.jsonl", "clapnq_dev_unanswerable.jsonl"):
        for row in map(json.loads, (data_dir / "clapnq" / name).open()):
            for index, passage in enumerate(row["passages"]):
                if passage["text"] not in seen:
                    seen.add(passage["text"])
                    documents.append(
                        Document(f"clapnq-{row['id']}-{index}", passage["text"], passage["title"])
                    )
    return conversations, documents


def in_split(conversation: dict[str, Any], split: str) -> bool:
    half = zlib.crc32(conversation["id"].encode("utf-8")) % 2
    return split == "all" or (half == 0) == (split == "dev")


def turns(conversation: dict[str, Any]) -> tuple[str, list[Turn]]:
    *earlier, last = conversation["messages"]
    return last["content"], [Turn(m["role"], m["content"]) for m in earlier]


def runtime_for(settings: Settings, documents: list[Document]) -> Runtime:
    index_dir = settings.cache_dir / "eval" / f"conversations-{len(documents)}"
    runtime = Runtime(settings.model_copy(update={"index_dir": index_dir, "audit": False}))
    if not runtime.store.exists(COLLECTION):
        runtime.ingest_documents(documents, COLLECTION, embedder="minilm")
    return runtime


def gold(conversation: dict[str, Any]) -> set[str]:
    return set(conversation["gold_docs"])


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4) if values else 0.0


def retrieval(
    runtime: Runtime, cases: list[dict[str, Any]], methods: list[Method], k: int
) -> dict[str, Any]:
    retriever = Retriever(runtime)
    results: dict[str, Any] = {}
    for method in methods:
        contextualiser = Contextualiser(runtime.settings, runtime.generator, method=method)
        hits = 0
        seconds: list[float] = []
        rows: list[dict[str, Any]] = []
        for case in tqdm(cases, desc=method, unit="turn"):
            question, history = turns(case)
            standalone = contextualiser.run(question, history)
            seconds.append(standalone.seconds)
            query = runtime.open_query(SearchRequest(standalone.text, COLLECTION, k))
            found = [h.chunk.document_id for h in retriever.run(query)]
            hit = bool(gold(case) & set(found))
            hits += hit
            rows.append({"id": case["id"], "standalone": standalone.text, "hit": hit})
        results[method] = {
            f"hit@{k}": round(hits / len(cases), 4),
            "median_s": median(seconds),
            "turns": rows,
        }
        print(f"{method:8} hit@{k} {hits / len(cases):.3f}  median {median(seconds):.4f} s")
    return results


def answers(
    runtime: Runtime, answerable: list[dict[str, Any]], refusable: list[dict[str, Any]]
) -> dict[str, Any]:
    pipeline = AskPipeline(runtime)
    out: dict[str, Any] = {}
    for mode in ("history", "last_turn"):
        rows = []
        for case in tqdm([*answerable, *refusable], desc=mode, unit="turn"):
            question, history = turns(case)
            query = pipeline.open(question, COLLECTION)
            *_, judged = pipeline.judged(query, history if mode == "history" else None)
            assert isinstance(judged, Judged)
            answer = judged.answer
            cited = {c.document for c in answer.citations}
            rows.append(
                {
                    "id": case["id"],
                    "answerability": case["answerability"],
                    "found": answer.found,
                    "confidence": answer.confidence,
                    "cites_gold": bool(cited & gold(case)),
                    "clarification": answer.clarification,
                    "standalone": answer.standalone_question,
                    "answer": answer.answer,
                    "timings": answer.timings,
                    "features": judged.features,
                }
            )
        asked = [r for r in rows if r["answerability"] == "ANSWERABLE"]
        declined = [r for r in rows if r["answerability"] == "UNANSWERABLE"]
        out[mode] = {
            "citation_hit": round(sum(r["cites_gold"] for r in asked) / len(asked), 4),
            "refusal": round(sum(not r["found"] for r in declined) / len(declined), 4),
            "contextualise_median_s": median(
                [r["timings"]["contextualise_s"] for r in rows if "contextualise_s" in r["timings"]]
            ),
            "answer_median_s": median([sum(r["timings"].values()) for r in rows]),
            # What the fitted refusal (QA_CONFIDENCE_THRESHOLD=0.61) would leave, on the
            # same rows: an answer below the threshold becomes "not found".
            "at_threshold_0.61": _at_threshold(asked, declined, 0.61),
            "rows": rows,
        }
        print(
            f"{mode:9} citation hit {out[mode]['citation_hit']:.3f} ({len(asked)})  "
            f"refusal {out[mode]['refusal']:.3f} ({len(declined)})  "
            f"contextualiser median {out[mode]['contextualise_median_s']:.4f} s",
            flush=True,
        )
    return out


def _at_threshold(
    asked: list[dict[str, Any]], declined: list[dict[str, Any]], threshold: float
) -> dict[str, float]:
    def kept(row: dict[str, Any]) -> bool:
        return bool(row["found"]) and (row["confidence"] or 0.0) >= threshold

    return {
        "citation_hit": round(sum(r["cites_gold"] and kept(r) for r in asked) / len(asked), 4),
        "refusal": round(sum(not kept(r) for r in declined) / len(declined), 4),
    }


def fit_follow_up(report: Path, weights: Path, data_dir: Path) -> None:
    """The two follow-up thresholds chosen jointly on a dev report's history rows (see
    the module doc): one for follow-ups whose query the contextualiser rewrote, one for
    those it left as asked."""
    data = json.loads(report.read_text(encoding="utf-8"))
    if data["split"] != "dev":
        raise SystemExit("fit the follow-up thresholds on a dev report only")
    gate = load_gate(weights)
    if gate is None:
        raise SystemExit(f"no answerability weights at {weights}")
    folder = data_dir / "mtrag_un_dev"
    conversations = {c["id"]: c for c in map(json.loads, (folder / "conversations.jsonl").open())}
    rows = data["modes"]["history"]["rows"]
    # Each row's kind, as the pipeline tells it, and its gate score (None: refused
    # before the gate, or a clarification), computed once for the whole sweep.
    kinds, scores = {}, {}
    for row in rows:
        question, history = turns(conversations[row["id"]])
        kinds[row["id"]] = follow_up_kind(row["standalone"] or question, question, history)
        features = row.get("features") or {}
        scores[row["id"]] = gate.score(features) if "sentence_similarity" in features else None

    def kept(row: dict[str, Any], trial: GateCalibration) -> bool:
        score = scores[row["id"]]
        if score is None:
            return bool(row["found"])
        return bool(row["found"]) and score >= trial.threshold(kinds[row["id"]])

    asked = [r for r in rows if r["answerability"] == "ANSWERABLE"]
    declined = [r for r in rows if r["answerability"] == "UNANSWERABLE"]
    grid = [round(float(t), 2) for t in np.arange(0.0, 0.951, 0.01)]
    sweep = []
    for limits in ((a, b) for a in grid for b in grid):
        # The pipeline's own choice of threshold by kind, with the pair under trial.
        trial = replace(gate, follow_up_threshold=limits[0], as_asked_threshold=limits[1])
        cites = sum(r["cites_gold"] and kept(r, trial) for r in asked) / len(asked)
        refused = sum(not kept(r, trial) for r in declined) / len(declined)
        # The lower of the two rates first; among equals, the higher sum, then the
        # lowest thresholds (answer rather than refuse when the dev rows cannot tell).
        key = (min(cites, refused), cites + refused, -limits[0], -limits[1])
        sweep.append((key, limits, cites, refused))
    _, (follow_up, as_asked), cites, refused = max(sweep)
    rewritten = sum(kind == "rewritten" for kind in kinds.values())
    print(
        f"follow-up thresholds: rewritten {follow_up}, as asked {as_asked}: "
        f"cites gold {cites:.3f}, declined {refused:.3f} "
        f"({rewritten} of {len(rows)} rows rewritten)"
    )
    stored = json.loads(weights.read_text(encoding="utf-8"))
    stored["follow_up_threshold"] = follow_up
    stored["follow_up_as_asked_threshold"] = as_asked
    stored["follow_up_fit"] = {
        "report": report.name,
        "answerable": len(asked),
        "unanswerable": len(declined),
        "rewritten": rewritten,
        "cites_gold": round(cites, 3),
        "declined": round(refused, 3),
    }
    weights.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {weights}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("part", choices=["retrieval", "answers", "fit-follow-up"])
    parser.add_argument(
        "--report",
        type=Path,
        default=ROOT / "reports" / "eval_conversations_answers_dev.json",
        help="fit-follow-up: the dev answers report to read",
    )
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--methods", nargs="+", default=["none", "rule", "concat", "rewrite"])
    parser.add_argument("-k", type=int, default=4, help="passages retrieved (QA_TOP_K's default)")
    parser.add_argument("--answerable", type=int, default=40, help="answerable turns sampled")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--limit", type=int, help="retrieval: only the first N follow-ups (for 'rewrite')"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    settings = Settings(**dict(item.split("=", 1) for item in args.set))
    if args.part == "fit-follow-up":
        fit_follow_up(args.report, GATE_WEIGHTS_FILE, settings.data_dir)
        return
    conversations, documents = load(settings.data_dir)
    runtime = runtime_for(settings, documents)
    chosen = [c for c in conversations if in_split(c, args.split)]
    follow_ups = [
        c for c in chosen if c["answerability"] == "ANSWERABLE" and len(c["messages"]) > 1
    ]
    refusable = [c for c in chosen if c["answerability"] == "UNANSWERABLE"]
    report: dict[str, Any] = {
        "split": args.split,
        "documents": len(documents),
        "settings": {"contextualiser": settings.contextualiser, "generator": settings.generator},
    }
    if args.part == "retrieval":
        follow_ups = follow_ups[: args.limit]
        report["answerable_follow_ups"] = len(follow_ups)
        report["methods"] = retrieval(runtime, follow_ups, args.methods, args.k)
    else:
        sample = random.Random(args.seed).sample(follow_ups, min(args.answerable, len(follow_ups)))
        report["answerable_follow_ups"], report["unanswerable"] = len(sample), len(refusable)
        report["modes"] = answers(runtime, sample, refusable)
    suffix = f"_{args.limit}" if args.limit and args.part == "retrieval" else ""
    out = ROOT / "reports" / f"eval_conversations_{args.part}_{args.split}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
