"""Which language to answer in: the question's."""

from __future__ import annotations

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
