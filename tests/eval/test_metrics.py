"""Retrieval and answer metrics against values worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest

from qa.eval.metrics import (
    MetricSummary,
    char_f1,
    dedupe_ranking,
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer_en,
    recall_at_k,
    summarize,
    token_f1,
)

RANKED = ["d3", "d1", "d2"]
GRADED = {"d1": 2, "d2": 1}
# ndcg@3 for RANKED / GRADED:
#   DCG  = 0/log2(2) + 2/log2(3) + 1/log2(4) = 0 + 1.2618595 + 0.5 = 1.7618595
#   IDCG = 2/log2(2) + 1/log2(3)             = 2 + 0.6309298     = 2.6309298
#   nDCG = 1.7618595 / 2.6309298 = 0.6696718
NDCG3 = (2 / math.log2(3) + 1 / math.log2(4)) / (2 / 1 + 1 / math.log2(3))


def test_recall_counts_relevant_documents_in_the_top_k() -> None:
    assert recall_at_k(RANKED, GRADED, 1) == 0.0  # top-1 {d3}: none of {d1, d2}
    assert recall_at_k(RANKED, GRADED, 2) == 0.5  # top-2 {d3, d1}: 1 of 2
    assert recall_at_k(RANKED, GRADED, 3) == 1.0  # 2 of 2
    assert recall_at_k(RANKED, GRADED, 20) == 1.0  # k beyond the list: the whole list


def test_mrr_is_the_reciprocal_rank_of_the_first_hit_within_k() -> None:
    assert mrr_at_k(RANKED, GRADED, 1) == 0.0  # first hit d1 is at rank 2 > k
    assert mrr_at_k(RANKED, GRADED, 2) == 0.5  # 1/2
    assert mrr_at_k(RANKED, GRADED, 10) == 0.5
    assert mrr_at_k(["d1"], GRADED, 10) == 1.0
    assert mrr_at_k(["x", "y"], GRADED, 10) == 0.0


def test_ndcg_uses_linear_gains_and_the_ideal_order_of_the_grades() -> None:
    assert ndcg_at_k(RANKED, GRADED, 3) == pytest.approx(NDCG3)
    assert pytest.approx(0.6696718, abs=1e-7) == NDCG3
    # @2: DCG = 2/log2(3) = 1.2618595; IDCG = 2 + 1/log2(3) = 2.6309298; 0.4796249
    assert ndcg_at_k(RANKED, GRADED, 2) == pytest.approx(0.4796249, abs=1e-7)
    assert ndcg_at_k(RANKED, GRADED, 1) == 0.0  # d3 has no gain
    assert ndcg_at_k(["d1", "d2"], GRADED, 10) == pytest.approx(1.0)
    # The ideal ranks the grade-2 document first, so the swapped order loses:
    # DCG = 1/1 + 2/log2(3) = 2.2618595; / 2.6309298 = 0.8597187
    assert ndcg_at_k(["d2", "d1"], GRADED, 10) == pytest.approx(0.8597187, abs=1e-7)
    # Ideal cut at k: @1 the ideal is just 2/1, and d1 first scores 2/1.
    assert ndcg_at_k(["d1", "x"], GRADED, 1) == 1.0


def test_grade_zero_is_not_relevant() -> None:
    relevant = {"d1": 1, "d9": 0}
    assert recall_at_k(["d9", "d1"], relevant, 2) == 1.0  # only d1 counts: 1 of 1
    assert mrr_at_k(["d9", "d1"], relevant, 2) == 0.5
    # DCG = 0 + 1/log2(3) = 0.6309298; IDCG = 1/1
    assert ndcg_at_k(["d9", "d1"], relevant, 2) == pytest.approx(0.6309298, abs=1e-7)


def test_no_relevant_documents_scores_zero() -> None:
    assert recall_at_k(["a"], {}, 5) == 0.0
    assert mrr_at_k(["a"], {}, 5) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 5) == 0.0


def test_dedupe_keeps_first_occurrence_order() -> None:
    assert dedupe_ranking(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert dedupe_ranking([]) == []


def test_repeated_documents_count_once_at_their_first_rank() -> None:
    # Chunk hits mapped to documents: [d1, d1, d2] is the document ranking [d1, d2].
    ranked = ["d1", "d1", "d2"]
    relevant = {"d2": 1}
    assert mrr_at_k(ranked, relevant, 2) == 0.5  # d2 is document rank 2
    assert recall_at_k(ranked, relevant, 2) == 1.0
    # DCG = 1/log2(3) = 0.6309298 over IDCG 1; never above 1 however often d2 repeats
    assert ndcg_at_k(ranked, relevant, 2) == pytest.approx(0.6309298, abs=1e-7)
    assert ndcg_at_k(["d2", "d2", "d2"], relevant, 3) == 1.0


def test_summarize_averages_only_queries_with_relevant_documents() -> None:
    summary = summarize(
        [
            (RANKED, GRADED),  # recall@1 0, @5 1; mrr 1/2; ndcg 0.6696718
            (["x"], {"x": 1}),  # recall 1 everywhere; mrr 1; ndcg 1
            (["y"], {}),  # unanswerable: skipped
        ],
        ks=(1, 5),
    )
    assert summary.count == 2
    assert summary.recall == {1: 0.5, 5: 1.0}  # (0 + 1)/2, (1 + 1)/2
    assert summary.mrr10 == 0.75  # (0.5 + 1)/2
    assert summary.ndcg10 == pytest.approx((NDCG3 + 1) / 2)  # 0.8348359


def test_summarize_default_ks_and_nothing_to_score() -> None:
    assert summarize([(["a"], {"a": 1})]).recall == {1: 1.0, 5: 1.0, 10: 1.0, 20: 1.0}
    assert summarize([(["a"], {})]) == MetricSummary(
        0, {1: 0.0, 5: 0.0, 10: 0.0, 20: 0.0}, 0.0, 0.0
    )


def test_normalize_answer_en_follows_squad() -> None:
    # lower -> drop punctuation ("cat's" -> "cats", "a-ok" -> "aok") -> drop articles -> spaces
    assert normalize_answer_en("The  Cat's hat, a-OK!") == "cats hat aok"
    assert normalize_answer_en("An apple") == "apple"
    assert normalize_answer_en("theatre") == "theatre"  # articles only as whole words


def test_exact_match_after_normalisation_against_any_gold() -> None:
    assert exact_match("The cat.", ["dog", "cat"]) == 1.0
    assert exact_match("cat sat", ["cat"]) == 0.0
    assert exact_match("cat", []) == 0.0


def test_token_f1_is_the_best_bag_of_words_overlap() -> None:
    # pred tokens [cat, sat, on, mat] (articles gone), gold [cat, sat]: common 2
    # P = 2/4, R = 2/2, F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert token_f1("the cat sat on the mat", ["dog", "a cat sat"]) == pytest.approx(2 / 3)
    # Counts are clipped: pred [cat, cat], gold [cat]: common 1, P = 1/2, R = 1, F1 = 2/3
    assert token_f1("cat cat", ["cat"]) == pytest.approx(2 / 3)
    assert token_f1("Cat!", ["the cat"]) == 1.0
    assert token_f1("dog", ["cat"]) == 0.0
    assert token_f1("the", ["cat"]) == 0.0  # empty after normalising
    assert token_f1("", [""]) == 1.0  # two empty answers agree
    assert token_f1("cat", []) == 0.0


def test_char_f1_follows_cmrc() -> None:
    assert char_f1("光荣和ω-force", ["光荣和ω-force"]) == 1.0
    # Punctuation (ASCII, Chinese, full-width) and spaces are dropped first:
    # pred 是由光荣和ωforce开发的 (14 chars), gold 光荣和ωforce (9): common run 9
    # P = 9/14, R = 9/9, F1 = 2 * (9/14) / (9/14 + 1) = 18/23
    assert char_f1("是由光荣和ω-force开发的。", ["光荣和ω－force"]) == pytest.approx(18 / 23)
    assert char_f1("《北京》", ["北 京"]) == 1.0
    assert char_f1("ＡＢＣ", ["abc"]) == 1.0  # full-width letters fold to ASCII
    # Overlap is the longest common substring, not a bag of characters:
    # 京北 vs 北京 share a run of 1, P = 1/2, R = 1/2, F1 = 1/2
    assert char_f1("京北", ["北京"]) == 0.5
    assert char_f1("北京", ["上海", "北京"]) == 1.0
    assert char_f1("上海", ["北京"]) == 0.0
    assert char_f1("北京", []) == 0.0
