"""BM25-only nDCG@10 for different tokenisations, to choose the sparse index's.

    .venv/bin/python scripts/sweep_tokenizer.py [--datasets med covidqa clapnq cmrc2018]

Chunks each set as ingestion does, then indexes the chunks with bm25s under each
tokeniser: the production one (`qa.text.lexical_tokens`: lower-case words,
stopwords dropped, plural 's' stripped; CJK as character unigrams + bigrams) and
variants (no plural strip; CJK as bigrams only; CJK as jieba words). Writes
reports/sweep_tokenizer.json.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np

from qa.eval.datasets import load_dataset
from qa.eval.metrics import dedupe_ranking, summarize
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.embedding import embedding_text
from qa.ingest.pipeline import chunker_for
from qa.models.embedders import load_embedder
from qa.settings import Settings
from qa.text import STOPWORDS, lexical_tokens

ROOT = Path(__file__).resolve().parent.parent
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:[.,][0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def variant(strip_plural: bool, cjk: str) -> Callable[[str], list[str]]:
    def tokens(text: str) -> list[str]:
        out: list[str] = []
        for match in _TOKEN.finditer(text.lower()):
            token = match.group()
            if _CJK.fullmatch(token):
                if cjk == "jieba":
                    import jieba

                    out.extend(w for w in jieba.lcut(token) if w.strip())
                else:
                    if cjk == "uni+bi":
                        out.extend(token)
                    out.extend(token[i : i + 2] for i in range(len(token) - 1))
            elif token not in STOPWORDS:
                plural = strip_plural and len(token) > 3 and not token[0].isdigit()
                out.append(token.rstrip("s") if plural else token)
        return out

    return tokens


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "production": lexical_tokens,
    "no-plural-strip": variant(False, "uni+bi"),
    "cjk-bigrams-only": variant(True, "bi"),
    "cjk-jieba": variant(True, "jieba"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["med", "covidqa", "clapnq", "cmrc2018"])
    args = parser.parse_args()
    settings = Settings()
    embedder = load_embedder("minilm")
    chunker = chunker_for(embedder, ChunkerConfig(settings.chunk_tokens, 32))
    report: dict[str, dict[str, float]] = {}
    for name in args.datasets:
        dataset = load_dataset(name, settings.data_dir)
        cjk_set = any(_CJK.search(d.text) for d in dataset.documents[:20])
        chunks = [(d.id, embedding_text(d, c)) for d in dataset.documents for c in chunker.run(d)]
        queries = [q for q in dataset.queries if q.relevant]
        report[name] = {}
        for label, tokenize in TOKENIZERS.items():
            if not cjk_set and label.startswith("cjk"):
                continue
            model = bm25s.BM25()
            model.index([tokenize(text) or [""] for _, text in chunks], show_progress=False)
            rankings = []
            for query in queries:
                scores = np.asarray(model.get_scores(tokenize(query.text)))
                top = np.argsort(-scores)[:50]
                ranked = dedupe_ranking([chunks[i][0] for i in top if scores[i] > 0])
                rankings.append((ranked, query.relevant))
            report[name][label] = round(summarize(rankings).ndcg10, 4)
            print(f"{name:<10} {label:<18} nDCG@10 {report[name][label]:.4f}", flush=True)
    out = ROOT / "reports" / "sweep_tokenizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
