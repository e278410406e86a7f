"""Retrieval and answer scores, defined as the published tools define them.

Retrieval scores follow pytrec_eval / BEIR (graded gains, log2 discount) so numbers
are comparable with published baselines. Answer scores follow the official SQuAD
(English, word tokens) and CMRC 2018 (Chinese, characters) evaluation scripts.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


def dedupe_ranking(ranked: Sequence[str]) -> list[str]:
    """Search returns chunks; several from one document must count as that document once."""
    return list(dict.fromkeys(ranked))


def _positive(relevant: Mapping[str, int]) -> dict[str, int]:
    return {doc: grade for doc, grade in relevant.items() if grade > 0}


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """0 when nothing is relevant: such queries carry no retrieval signal (summarize skips them)."""
    wanted = _positive(relevant)
    if not wanted:
        return 0.0
    return len(wanted.keys() & set(dedupe_ranking(ranked)[:k])) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Rewards only the first hit: what a reader of the top of the list sees."""
    wanted = _positive(relevant)
    for rank, doc in enumerate(dedupe_ranking(ranked)[:k], start=1):
        if doc in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Linear gains (not 2^g - 1), as pytrec_eval computes it for BEIR."""
    wanted = _positive(relevant)
    dcg = sum(
        wanted.get(doc, 0) / math.log2(rank + 1)
        for rank, doc in enumerate(dedupe_ranking(ranked)[:k], start=1)
    )
    ideal_grades = sorted(wanted.values(), reverse=True)[:k]
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal_grades, start=1))
    return dcg / ideal if ideal else 0.0


@dataclass
class MetricSummary:
    count: int
    """Queries scored: those with at least one relevant document."""
    recall: dict[int, float]
    mrr10: float
    ndcg10: float


def summarize(
    rankings: Sequence[tuple[Sequence[str], Mapping[str, int]]],
    ks: Sequence[int] = (1, 5, 10, 20),
) -> MetricSummary:
    """Means over the queries that have relevant documents.

    Unanswerable queries would add a constant 0 and only dilute the means; answer
    evaluation measures them (by refusal) instead.
    """
    judged = [(ranked, rel) for ranked, rel in rankings if _positive(rel)]
    count = len(judged)
    if not count:
        return MetricSummary(0, {k: 0.0 for k in ks}, 0.0, 0.0)
    return MetricSummary(
        count=count,
        recall={k: sum(recall_at_k(r, rel, k) for r, rel in judged) / count for k in ks},
        mrr10=sum(mrr_at_k(r, rel, 10) for r, rel in judged) / count,
        ndcg10=sum(ndcg_at_k(r, rel, 10) for r, rel in judged) / count,
    )


def normalize_answer_en(text: str) -> str:
    """The SQuAD normalisation, so scores match the official evaluation script."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: Sequence[str], gold: Sequence[str], common: int) -> float:
    if not prediction or not gold:
        # SQuAD 2.0 convention: two empty answers agree; one empty one scores nothing.
        return float(len(prediction) == len(gold))
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Bag-of-words overlap after SQuAD normalisation; the best match over the golds counts."""
    predicted = normalize_answer_en(prediction).split()
    scores = []
    for gold in golds:
        tokens = normalize_answer_en(gold).split()
        common = sum((Counter(predicted) & Counter(tokens)).values())
        scores.append(_f1(predicted, tokens, common))
    return max(scores, default=0.0)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    predicted = normalize_answer_en(prediction)
    return float(any(predicted == normalize_answer_en(gold) for gold in golds))


def _characters(text: str) -> str:
    """NFKC folds full-width forms (Ａ, ～) into ASCII so both spellings of a character match."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).lower()
        if not ch.isspace()
        and ch not in string.punctuation
        and not unicodedata.category(ch).startswith("P")
    )


def char_f1(prediction: str, golds: Sequence[str]) -> float:
    """CMRC 2018 F1: characters without punctuation, overlap = longest common substring.

    The official script counts one contiguous common run rather than a bag of
    characters, so a long answer that merely shares frequent characters (的, 是)
    with the gold is not rewarded.
    """
    predicted = _characters(prediction)
    scores = []
    for gold in golds:
        chars = _characters(gold)
        run = SequenceMatcher(None, predicted, chars, autojunk=False).find_longest_match()
        scores.append(_f1(predicted, chars, run.size))
    return max(scores, default=0.0)
