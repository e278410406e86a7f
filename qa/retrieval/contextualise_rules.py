"""The rule-based contextualiser: a follow-up made searchable without a model.

A follow-up leans on the question before it in three ways: a pronoun ("Does that apply
to students?", "它的借期是多久？"), an ellipsis ("And for a repair?", "那续借呢？"), or
no subject at all ("Which is more important?"). Each is resolved to the previous
question's subject: its noun phrase when the question has the plain "What is X?" shape,
else its key terms carried along. A question with subject terms of its own and none of
those marks is left as it is: a change of topic must not drag the old one along.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.text import detect, lexical_tokens, question_terms

_EN_ANAPHORS = frozenset(
    "it its itself that this these those they them their theirs he him his she her hers "
    "one ones such same".split()
)
# Replaced by the subject phrase when they stand alone (not "that rule", "those steps").
_EN_REPLACEABLE = frozenset("it that this these those they them".split())
# Words that ask but name nothing to search for.
_EN_VAGUE = frozenset(
    "why how what which who whom whose when where more else tell explain mean means meaning "
    "example examples detail details really sure ok okay thanks thank please again also too "
    "so about and or then exactly say said happen happens case way thing things kind sort "
    "other others important difference between better best true right yes no often much "
    "many".split()
)
_EN_AUXILIARIES = frozenset("do does did can could will would should may might must shall".split())
_EN_ELLIPSIS = re.compile(
    r"^\s*(?:and|or|but|also|so|then|what about|how about|what of|same for)\b[\s,]*", re.I
)
_EN_PREPOSITIONS = frozenset(
    "for in on at to with from during after before under of about by".split()
)
# "What is X?", "How long are X?": X is the subject another question can refer to.
_EN_SUBJECT = re.compile(
    r"^\s*(?:what|which|who|where|when|how(?:\s+(?:much|many|long|often|far|old|soon))?)"
    r"(?:['’]s\s+|\s+(?:is|are|was|were)\s+)(?P<subject>[^?.!]{3,80}?)\s*[?.!]*\s*$",
    re.I,
)
_EN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")

_ZH_ANAPHORS = (
    "它们",
    "他们",
    "她们",
    "这些",
    "那些",
    "这个",
    "那个",
    "这种",
    "那种",
    "这项",
    "那项",
    "该",
    "其",
    "它",
    "此",
)
_ZH_REPLACEABLE = ("它们", "这些", "那些", "这个", "那个", "它")
_ZH_ELLIPSIS = re.compile(r"^\s*(?:那么|那|还有|另外|而且|而|至于|如果是|要是)")
_ZH_VAGUE = frozenset(
    "为什么 怎么 怎么样 什么 意思 具体 详细 例子 更多 说说 解释 重要 区别 真的 还有 那么 "
    "一下".split()
)

# A follow-up with this many subject terms or fewer, and a pronoun, refers back; with
# more it is taken to name its own subject; one with this many or fewer refers back
# whatever its words (measured on MTRAG-UN dev).
_ANAPHOR_TERMS = 4
_SHORT_TERMS = 2
_SHORT_TERMS_ZH = 1
_CARRIED_TERMS = 8


def subject_terms(question: str) -> list[str]:
    """The words that say what a question is about, in order, without repeats."""
    if detect(question) == "zh":
        import jieba

        terms = question_terms(question)
        words = [w for w in jieba.lcut(question) if w in terms and w not in _ZH_VAGUE]
        latin = [w for w in _EN_WORD.findall(question) if _is_content(w)]
        return _unique(words + latin)
    return _unique([w for w in _EN_WORD.findall(question) if _is_content(w)])


def _is_content(word: str) -> bool:
    lower = re.sub(r"['’](?:s|re|ll|ve|d|t)$", "", word.lower())
    if lower in _EN_VAGUE or lower in _EN_ANAPHORS:
        return False
    return bool(lexical_tokens(lower))


def _unique(words: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for word in words:
        if word.lower() not in seen:
            seen.add(word.lower())
            out.append(word)
    return out


def _has_anaphor(question: str) -> bool:
    if detect(question) == "zh":
        return any(a in question for a in _ZH_ANAPHORS)
    return any(w.lower() in _EN_ANAPHORS for w in _EN_WORD.findall(question))


def _is_elliptical(question: str) -> bool:
    if detect(question) == "zh":
        return bool(_ZH_ELLIPSIS.match(question)) or question.rstrip("？?。 ").endswith("呢")
    return bool(_EN_ELLIPSIS.match(question))


def vague(question: str) -> bool:
    """No subject term at all: "Why?", "And that?", "为什么？"."""
    return not subject_terms(question)


def refers_back(question: str) -> bool:
    """Whether the question leans on an earlier one for its subject."""
    terms = subject_terms(question)
    # A Chinese word (jieba) is a compound: "借书" says what "borrowing books" does.
    zh = detect(question) == "zh"
    short = _SHORT_TERMS_ZH if zh else _SHORT_TERMS
    if _is_elliptical(question):
        return True
    if len(terms) <= short:
        # "What is the capital of Australia?" is short but names its own subject.
        return zh or _has_anaphor(question) or not _names_something(question)
    return _has_anaphor(question) and len(terms) <= _ANAPHOR_TERMS


def _names_something(question: str) -> bool:
    """A capitalised word after the first, a name ("Australia", "BIO210"), not "I"."""
    words = _EN_WORD.findall(question)[1:]
    return any(w[0].isupper() and w != "I" and _is_content(w) for w in words)


def _subject_phrase(previous: str) -> str | None:
    if detect(previous) == "zh":
        return None
    match = _EN_SUBJECT.match(previous)
    if match is None:
        return None
    phrase = match.group("subject").strip()
    return phrase if len(phrase.split()) <= 8 else None


def _carried(previous: str, question: str) -> list[str]:
    have = {t.lower() for t in subject_terms(question)}
    return [t for t in subject_terms(previous) if t.lower() not in have][:_CARRIED_TERMS]


def _with_terms(question: str, terms: Sequence[str]) -> str:
    if not terms:
        return question
    if detect(question) == "zh":
        return f"{question}（{'，'.join(terms)}）"
    return f"{question} ({', '.join(terms)})"


def _replace_pronoun_en(question: str, phrase: str) -> str | None:
    words = list(_EN_WORD.finditer(question))
    for index, word in enumerate(words):
        if word.group().lower() not in _EN_REPLACEABLE:
            continue
        following = words[index + 1].group() if index + 1 < len(words) else ""
        before = words[index - 1].group().lower() if index else ""
        if following and _is_content(following) and before not in _EN_AUXILIARIES:
            return None  # a determiner ("that rule"): the noun after it is the subject
        return question[: word.start()] + phrase + question[word.end() :]
    return None


def _replace_pronoun_zh(question: str, previous: str) -> str | None:
    terms = subject_terms(previous)
    if not terms:
        return None
    subject = "".join(terms[:3])
    for pronoun in _ZH_REPLACEABLE:
        if pronoun in question:
            return question.replace(pronoun, subject, 1)
    return None


def _resolve_ellipsis_en(question: str, previous: str) -> str | None:
    """ "And for a repair?" after "What is the notice period for an inspection?" -> "What
    is the notice period for a repair?": the previous question's last phrase with the
    same preposition is swapped for the new one."""
    rest = _EN_ELLIPSIS.sub("", question).strip().rstrip("?").strip()
    first = rest.split(" ", 1)[0].lower()
    if first not in _EN_PREPOSITIONS:
        return None
    at = previous.lower().rfind(f" {first} ")
    if at < 0:
        return None
    return previous[:at] + " " + rest + "?"


def resolve(question: str, previous: str | None) -> str:
    """The question made standalone against the previous (already standalone) question;
    unchanged when it does not refer back or there is nothing to refer to."""
    if previous is None or not refers_back(question):
        return question
    zh = detect(question) == "zh"
    if _is_elliptical(question) and not zh:
        swapped = _resolve_ellipsis_en(question, previous)
        if swapped is not None:
            return swapped
    if _has_anaphor(question):
        phrase = _subject_phrase(previous)
        replaced = (
            _replace_pronoun_zh(question, previous)
            if zh
            else (_replace_pronoun_en(question, phrase) if phrase else None)
        )
        if replaced is not None:
            return replaced
    return _with_terms(question, _carried(previous, question))


def resolve_conversation(question: str, earlier_questions: Sequence[str]) -> str:
    """Each earlier user turn resolved against the one before, then the question against
    the last: a follow-up of a follow-up still reaches the topic that was named."""
    previous: str | None = None
    for earlier in earlier_questions:
        if earlier.strip():
            previous = resolve(earlier.strip(), previous)
    return resolve(question, previous)
