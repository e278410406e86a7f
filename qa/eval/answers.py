"""Answer evaluation: the whole ask pipeline on a public QA set, scored against gold spans.

Runs what a user gets (retrieval over the whole ingested corpus, the generator,
grounding), not the generator alone on a gold passage: a wrong passage or a
dropped sentence costs here exactly as it would in use. The index is built once
per (set, embedder) under the cache folder and reused, since ingestion is
incremental and a re-run finds nothing to do.
"""

from __future__ import annotations

import random
import statistics
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from qa.answer.assembly import without_markers
from qa.answer.pipeline import AskPipeline, Judged
from qa.eval.datasets import Query, RetrievalDataset
from qa.eval.metrics import char_f1, exact_match, normalize_answer_en, token_f1
from qa.records import Answer, Citation
from qa.runtime import Runtime
from qa.settings import Settings
from qa.text import has_cjk


@dataclass
class AnswerRow:
    id: str
    question: str
    answerable: bool
    golds: tuple[str, ...]
    answer: str
    found: bool
    f1: float
    exact: float
    citations: int
    citations_correct: int
    total_s: float
    first_token_s: float | None
    confidence: float | None = None
    features: dict[str, float] = field(default_factory=dict)
    cited: list[dict[str, Any]] = field(default_factory=list)
    """Each citation counted above: its marker, document, chunk and whether it is
    correct, so a report shows which passages were wrong without asking again."""
    relevant: list[str] = field(default_factory=list)
    """The gold documents."""


@dataclass
class AnswerSummary:
    dataset: str
    generator: str
    embedder: str
    questions: int
    answerable: int
    unanswerable: int
    f1: float
    """Mean over answerable questions; a refusal scores 0."""
    exact: float
    answered_rate: float
    """Share of answerable questions given a (found) answer."""
    refusal_rate: float | None
    """Share of unanswerable questions declined; None when the set has none."""
    citation_precision: float | None
    """Citations of answers to answerable questions that hold a gold answer or come
    from a gold document; None when no citation was made."""
    median_s: float
    p95_s: float
    median_first_token_s: float | None
    p95_first_token_s: float | None
    metric: str
    rows: list[AnswerRow] = field(default_factory=list)

    def as_dict(self, with_rows: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_rows:
            data.pop("rows")
        return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


Split = Literal["all", "dev", "test"]


def in_split(query: Query, split: Split) -> bool:
    """Each question falls in `dev` or `test` by a hash of its id: tuning and fitting
    use `dev`, reported figures `test`, and no question is ever in both."""
    if split == "all":
        return True
    half = zlib.crc32(query.id.encode("utf-8")) % 2
    return (half == 0) == (split == "dev")


def sample(queries: list[Query], limit: int | None, seed: int, split: Split = "all") -> list[Query]:
    """A fixed random sample, half answerable and half not when the set has both.

    Sets are ordered by document, so the first N questions would all come from a
    few articles; a seeded sample keeps runs comparable across generators.
    """
    queries = [q for q in queries if in_split(q, split)]
    answerable = [q for q in queries if q.answers]
    unanswerable = [q for q in queries if not q.relevant]
    rng = random.Random(seed)
    if limit is None:
        return answerable + unanswerable
    if not unanswerable:
        return rng.sample(answerable, min(limit, len(answerable)))
    half = limit // 2
    return rng.sample(answerable, min(limit - half, len(answerable))) + rng.sample(
        unanswerable, min(half, len(unanswerable))
    )


def citation_correct(citation: Citation, query: Query, chinese: bool) -> bool:
    if citation.document in query.relevant:
        return True
    if chinese:
        text = "".join(citation.text.split())
        return any("".join(gold.split()) in text for gold in query.answers)
    text = normalize_answer_en(citation.text)
    return any(normalize_answer_en(gold) in text for gold in query.answers)


def cited_records(citations: list[Citation], query: Query, chinese: bool) -> list[dict[str, Any]]:
    """One record per citation: a report then names the wrong passages, not only how many."""
    return [
        {
            "n": c.n,
            "document": c.document,
            "chunk_id": c.chunk_id,
            "correct": citation_correct(c, query, chinese),
        }
        for c in citations
    ]


def score_answer(query: Query, answer: Answer, chinese: bool) -> tuple[float, float]:
    if not query.answers or not answer.found:
        return 0.0, 0.0
    text = without_markers(answer.answer)
    if chinese:
        f1 = char_f1(text, query.answers)
        return f1, float(f1 == 1.0)
    return token_f1(text, query.answers), exact_match(text, query.answers)


def ask_timed(
    pipeline: AskPipeline, text: str, collection: str
) -> tuple[Judged, float, float | None]:
    """The judged answer, its wall time, and the wall time to the first generated piece
    (retrieval and prompt processing included: what a user waits for)."""
    started = time.perf_counter()
    first: float | None = None
    final: Judged | None = None
    for item in pipeline.judged(pipeline.open(text, collection)):
        if isinstance(item, Judged):
            final = item
        elif first is None:
            first = time.perf_counter() - started
    if final is None:
        raise RuntimeError("the answer stream ended without an answer")
    return final, time.perf_counter() - started, first


def evaluate_answers(
    dataset: RetrievalDataset,
    *,
    settings: Settings,
    embedder: str,
    limit: int | None = None,
    seed: int = 13,
    split: Split = "all",
    progress: bool = True,
) -> AnswerSummary:
    chinese = any(has_cjk(d.text) for d in dataset.documents[:50])
    index_dir = settings.cache_dir / "eval-indexes"
    runtime = Runtime(settings.model_copy(update={"index_dir": index_dir}))
    collection = f"{Path(dataset.name).stem}-{Path(embedder).name}"
    requested = None if embedder == "auto" else embedder
    runtime.ingest_documents(dataset.documents, collection, embedder=requested, progress=progress)
    embedder = runtime.collection(collection).manifest.embedder["name"]
    pipeline = AskPipeline(runtime)
    runtime.generator()
    rows: list[AnswerRow] = []
    for query in tqdm(
        sample(dataset.queries, limit, seed, split),
        desc=f"{dataset.name} ({settings.generator})",
        unit="question",
        disable=not progress,
    ):
        judged, total, first = ask_timed(pipeline, query.text, collection)
        answer = judged.answer
        f1, exact = score_answer(query, answer, chinese)
        cited = (
            cited_records(answer.citations, query, chinese)
            if answer.found and query.answers
            else []
        )
        rows.append(
            AnswerRow(
                id=query.id,
                question=query.text,
                answerable=bool(query.answers),
                golds=query.answers,
                answer=answer.answer,
                found=answer.found,
                f1=f1,
                exact=exact,
                citations=len(cited),
                citations_correct=sum(c["correct"] for c in cited),
                total_s=total,
                first_token_s=first,
                confidence=answer.confidence,
                features=judged.features,
                cited=cited,
                relevant=sorted(query.relevant),
            )
        )
    return summarize_answers(dataset.name, str(settings.generator), embedder, rows, chinese)


def summarize_answers(
    dataset: str, generator: str, embedder: str, rows: list[AnswerRow], chinese: bool
) -> AnswerSummary:
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    cited = sum(r.citations for r in answerable)
    firsts = [r.first_token_s for r in rows if r.first_token_s is not None]
    totals = [r.total_s for r in rows]

    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 4) if values else 0.0

    return AnswerSummary(
        dataset=dataset,
        generator=generator,
        embedder=embedder,
        questions=len(rows),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        f1=mean([r.f1 for r in answerable]),
        exact=mean([r.exact for r in answerable]),
        answered_rate=mean([float(r.found) for r in answerable]),
        refusal_rate=mean([float(not r.found) for r in unanswerable]) if unanswerable else None,
        citation_precision=round(sum(r.citations_correct for r in answerable) / cited, 4)
        if cited
        else None,
        median_s=round(statistics.median(totals), 3) if totals else 0.0,
        p95_s=round(percentile(totals, 0.95), 3) if totals else 0.0,
        median_first_token_s=round(statistics.median(firsts), 3) if firsts else None,
        p95_first_token_s=round(percentile(firsts, 0.95), 3) if firsts else None,
        metric="character F1" if chinese else "token F1",
        rows=rows,
    )


def table(summaries: list[AnswerSummary]) -> str:
    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    lines = [
        "| set (questions) | generator | F1 | EM | answered | refused (unanswerable) "
        "| citation precision | median s | p95 s | median first token s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.dataset} ({s.answerable}+{s.unanswerable}) | {s.generator} | {fmt(s.f1)} "
            f"| {fmt(s.exact)} | {fmt(s.answered_rate)} | {fmt(s.refusal_rate)} "
            f"| {fmt(s.citation_precision)} | {s.median_s:.2f} | {s.p95_s:.2f} "
            f"| {fmt(s.median_first_token_s)} |"
        )
    return "\n".join(lines)
