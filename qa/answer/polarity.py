"""Whether an answer sentence and the passage clause it rests on agree on negation.

Word overlap cannot see a dropped "not": "A landlord may require a bond of more than
4 weeks' rent" shares every content word with "A landlord must not require ... a bond
that is more than 4 weeks' rent", and a small generator does drop negations. So a
sentence is refused a passage whose matching clause is negated when it is not, or the
other way round. Comparisons that merely contain a negator ("no later than",
"不超过") are bounds, not negations, and are taken out first.
"""

from __future__ import annotations

import re

from qa.text import content_tokens

_BOUNDS = re.compile(
    r"\b(?:no|not)\s+(?:later|earlier|sooner|more|less|fewer|longer|shorter|greater|"
    r"higher|lower|older|younger|exceeding|exceed|before|after)\b(?:\s+than)?|"
    r"\bnot\s+only\b|\bwhether\s+or\s+not\b|\bno\.\s*\d|"
    r"不(?:超过|少于|低于|高于|多于|迟于|晚于|早于|足|仅)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|cannot|prohibited|forbidden|"
    r"may\s+not|must\s+not)\b|n't\b|"
    r"不得|禁止|不能|不可|不准|不允许|不应|不必|不需|无需|无须|没有|未经|未|并非|不是|不会|不予|不要|严禁",
    re.IGNORECASE,
)
# "The maximum bond is 4 weeks' rent" restates "must not require more than 4 weeks'
# rent": a sentence stating a limit may rest on a negated bound.
_LIMIT = re.compile(
    r"\b(?:maximum|minimum|max|min|at\s+most|at\s+least|up\s+to|limit(?:ed)?|cap(?:ped)?|"
    r"only|exceed|exceeds|over)\b|最多|最少|至少|最高|最低|上限|下限|以内|以下|为限",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[,;:，；：]|\s(?:and|but|while|whereas)\s|但是|但|而")


def negated(text: str) -> bool:
    return bool(_NEGATION.search(_BOUNDS.sub(" ", text)))


def contradicts(sentence: str, quote: str) -> bool:
    """True when one side is negated and the other is not.

    A negated sentence needs a negation somewhere in its quote. A positive one is
    refused a quote with a negated clause that speaks of the same things (shares a
    content word): "must not require or accept a bond" against "may require a bond";
    while "..., and must not charge a fee" does not touch "must return the bond"."""
    if negated(sentence):
        return not negated(quote)
    if _LIMIT.search(sentence):
        return False
    tokens = content_tokens(sentence)
    return any(
        negated(clause) and tokens & content_tokens(clause) for clause in _CLAUSE.split(quote)
    )
