"""What kind of answer a question expects, and where text holds one.

A 0.5B generator picks the wrong fact from the right passage; knowing that "how
long" wants a duration and "多少" a number lets evidence selection favour the
sentence that holds one, extraction offer it as the answer's backbone, and the
confidence score notice when the evidence holds nothing of the kind asked for.
The patterns are deliberately coarse: they rank sentences, they do not decide alone.
"""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["yesno", "duration", "number", "date", "person", "place", "other"]

# Order matters: "how long" before "how", "什么时候" before "什么".
_EN_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("duration", re.compile(r"\bhow (?:long|many (?:days|weeks|months|years|hours|minutes))\b")),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|old|far|big|large|tall|high)\b"
            r"|\bwhat (?:percentage|number|proportion|amount)\b"
        ),
    ),
    ("date", re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time|century)\b|\bwhich year\b")),
    ("person", re.compile(r"\bwho(?:m|se)?\b")),
    ("place", re.compile(r"\bwhere\b|\bwhat (?:country|city|state|place)\b")),
]
_EN_YESNO = re.compile(
    r"^(?:is|are|was|were|do|does|did|can|could|should|may|must|will|would|has|have|had|shall)\b",
    re.IGNORECASE,
)
_ZH_TYPES: list[tuple[AnswerType, re.Pattern[str]]] = [
    ("duration", re.compile(r"多长时间|多久|多长|几天|几个月|几年|几周|几小时")),
    ("date", re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|哪个月|什么时间")),
    ("number", re.compile(r"多少|几|多大|多高|多重|多远")),
    ("person", re.compile(r"谁|哪位|何人")),
    ("place", re.compile(r"哪里|哪儿|在哪|什么地方|何处|哪个(?:国家|城市|省)")),
]
_ZH_YESNO = re.compile(r"是否|能否|可否|能不能|可不可以|是不是|有没有|吗[？?]?$")


def expected_type(question: str) -> AnswerType:
    text = question.strip()
    lowered = text.lower()
    if _ZH_YESNO.search(text):
        return "yesno"
    for kind, pattern in _ZH_TYPES:
        if pattern.search(text):
            return kind
    for kind, pattern in _EN_TYPES:
        if pattern.search(lowered):
            return kind
    if _EN_YESNO.match(lowered):
        return "yesno"
    return "other"


_ZH_NUM = r"[0-9０-９零〇一二两三四五六七八九十百千万亿半]+"
# A numeral is matched from its first character only: tried from every character of a
# long run, each attempt scanning to its end, the patterns took quadratic time.
_ZH_NUM_START = r"(?<![0-9０-９零〇一二两三四五六七八九十百千万亿半])"
_EN_NUM_START = r"(?!(?<=[0-9][.,])[0-9])"
_EN_NUM = (
    r"(?:\d+(?:[.,]\d+)*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion|a few|several)"
)
_UNITS_EN = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries)"
_UNITS_ZH = r"(?:个)?(?:秒钟?|分钟|小时|天|日|周|星期|个月|月|年|工作日|学期|世纪)"
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
# "When is it open?" is answered by a day and an hour as often as by a date.
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?"
_CLOCK = (
    r"\b(?:[01]?\d|2[0-3])(?::[0-5]\d)?\s?(?:am|pm|a\.m\.|p\.m\.)(?![a-z])"
    r"|\b(?:[01]?\d|2[0-3]):[0-5]\d\b"
)
_SPANS: dict[AnswerType, re.Pattern[str]] = {
    "duration": re.compile(
        rf"\b{_EN_NUM_START}{_EN_NUM}(?:[\s-]+(?:and a half|to|or|-)\s*{_EN_NUM})?"
        rf"[\s-]+{_UNITS_EN}\b"
        rf"|(?<![0-9])(?:[0-9]{{1,3}}|{_ZH_NUM_START}[零〇一二两三四五六七八九十百千万半]+)"
        rf"(?:[至到\-~]{_ZH_NUM})?{_UNITS_ZH}",
        re.IGNORECASE,
    ),
    "number": re.compile(
        rf"\b{_EN_NUM}(?:\s*(?:%|percent|per cent))?|{_ZH_NUM}(?:%|％)?"
        r"(?:个|人|名|次|种|件|座|所|位|元|米|公里|千米|岁|倍|项|门|册|部|本|条|家|吨|亿|万)?",
        re.IGNORECASE,
    ),
    "date": re.compile(
        rf"\b(?:\d{{1,2}}\s+{_MONTHS}(?:\s+\d{{4}})?|{_MONTHS}\s+\d{{1,2}}(?:,\s*\d{{4}})?"
        rf"|{_MONTHS}\s+\d{{4}}|(?<!\d\s)(?:1[0-9]|20)\d\d(?:s)?|{_WEEKDAYS}|noon|midnight)\b"
        rf"|{_CLOCK}"
        rf"|{_ZH_NUM_START}{_ZH_NUM}年(?:{_ZH_NUM}月)?(?:{_ZH_NUM}[日号])?"
        rf"|{_ZH_NUM_START}{_ZH_NUM}月{_ZH_NUM}[日号]"
        r"|(?:公元前?|清朝|明朝|唐朝|宋朝)\S{0,4}",
    ),
    "person": re.compile(
        r"\b(?:[A-Z][a-z]+(?:\s+(?:de|van|von|da|of|[A-Z]\.))?\s+){1,3}[A-Z][a-z]+\b"
    ),
    "place": re.compile(
        r"\b(?:in|at|from|near|to)\s+((?:the\s+)?(?:[A-Z][a-z]+\s*){1,4})"
        r"|[\u4e00-\u9fff]{2,8}(?:省|市|县|区|州|国|岛|山|河|湖|镇|村|大学|城)",
    ),
}


def type_spans(text: str, kind: AnswerType) -> list[tuple[int, int]]:
    """Spans of `text` that could be an answer of this kind (none for yes/no or other)."""
    pattern = _SPANS.get(kind)
    if pattern is None:
        return []
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        start, end = (match.start(1), match.end(1)) if match.lastindex else match.span()
        if match.group(0).strip() and end > start:
            spans.append((start, end))
    return spans


def new_type_spans(text: str, kind: AnswerType, question: str) -> list[tuple[int, int]]:
    """Spans of the expected kind that the question does not already state: 'How long
    after 2019 ...' is not answered by a sentence whose only year is 2019."""
    asked = question.lower()
    return [(s, e) for s, e in type_spans(text, kind) if text[s:e].strip().lower() not in asked]
