"""Text as every layer sees it: language, sentences and lexical tokens, English and Chinese.

Shared by BM25, chunking, evidence checks and grounding so that all of them see words,
sentences and languages the same way. It imports nothing of ours: everything may use it.

English tokens: lower-cased words and numbers without stopwords, with a light plural
strip. Chinese has no spaces, and a whitespace tokenizer would give one token per
sentence; CJK runs become character unigrams and bigrams instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Literal

Language = Literal["en", "zh"]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect(text: str) -> Language:
    """Chinese when CJK characters are a fair share of the letters (mixed text counts)."""
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk == 0:
        return "en"
    return "zh" if cjk >= latin_words else "en"


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def cjk_share(texts: Iterable[str]) -> float:
    """CJK characters against CJK characters plus Latin words, over all the texts:
    the same weighing as `detect`, for a whole corpus."""
    cjk = latin = 0
    for text in texts:
        cjk += len(_CJK.findall(text))
        latin += len(_LATIN_WORD.findall(text))
    return cjk / (cjk + latin) if cjk else 0.0


# A sentence ends at . ! ? (then closing quotes or brackets, then a space) or at
# CJK 。！？； (then optional closers; Chinese puts no space after them).
_SENTENCE_END = re.compile(r"[.!?][\"'”’」』）)\]]*(?=\s)|[。！？；][\"'”’」』）)\]]*")


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence and line spans within [start, end)."""
    spans: list[tuple[int, int]] = []
    for line_match in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line_match.start()
        line_end = start + line_match.end()
        cursor = line_start
        for m in _SENTENCE_END.finditer(text, line_start, line_end):
            s, e = _strip(text, cursor, m.end())
            if e > s:
                spans.append((s, e))
            cursor = m.end()
        s, e = _strip(text, cursor, line_end)
        if e > s:
            spans.append((s, e))
    return spans


STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those there their they them he she his her you your we our i me my
    do does did done can could may might must shall should will would not no yes so than then
    into onto about over under after before within without per any all each every some such
    what which who whom whose when where why how also only just more most less other
    """.split()
)
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:[.,][0-9]+)*")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CJK_STOP = frozenset("的了是在和与或及等之其")


def _word(token: str) -> str:
    return token.rstrip("s") if len(token) > 3 and not token[0].isdigit() else token


def lexical_tokens(text: str, *, unigrams: bool = True) -> list[str]:
    """Tokens in order, repeats kept (BM25 counts them)."""
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        token = match.group()
        if _CJK_RUN.fullmatch(token):
            if unigrams:
                out.extend(ch for ch in token if ch not in _CJK_STOP)
            out.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif token not in STOPWORDS:
            out.append(_word(token.replace(",", "")))
    return out


def content_tokens(text: str) -> set[str]:
    """Distinct content words; CJK as bigrams only (single characters say too little)."""
    tokens = set(lexical_tokens(text, unigrams=False))
    for run in _CJK_RUN.findall(text):
        if len(run) == 1 and run not in _CJK_STOP:
            tokens.add(run)
    return tokens


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


# Chinese function and question words: they say what is asked, not what it is about.
_ZH_STOPWORDS = frozenset(
    """
    什么 怎么 怎样 如何 为什么 为何 哪里 哪儿 哪个 哪些 哪种 哪一 多少 多久 多长 多大 几次 几个
    是否 能否 可否 可以 能够 需要 应该 应当 必须 是不是 有没有 吗 呢 吧 一个 一些 这个 那个
    这些 那些 我们 你们 他们 如果 因为 所以 但是 或者 以及 还是 已经 进行 通过 关于 对于
    """.split()
)


def _jieba_words(run: str) -> list[str]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(run) if len(w) > 1 and w not in _ZH_STOPWORDS]


def question_terms(text: str) -> set[str]:
    """What a question is about: English content words, Chinese words (jieba)."""
    terms = content_tokens(_CJK_RUN.sub(" ", text))
    for run in _CJK_RUN.findall(text):
        terms.update(_jieba_words(run))
    return terms


def coverage(terms: set[str], passage: str) -> float:
    """Share of the terms present in the passage (CJK terms as substrings)."""
    if not terms:
        return 0.0
    words = content_tokens(passage)
    hits = sum(1 for t in terms if (t in passage) if _CJK_RUN.match(t)) + sum(
        1 for t in terms if not _CJK_RUN.match(t) and t in words
    )
    return hits / len(terms)
