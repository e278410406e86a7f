"""How a line reads: as a short title, or as a sentence running on from the line before.

A marker or a number opening a line makes a heading only in a line of the first kind.
"""

from __future__ import annotations

SPACE = " \t\u00a0\u3000"
# Words that leave a sentence open at the end of a line: a marker on the next line is
# then the end of that sentence ("... as provided in / Section 12 of the Act").
CONTINUATIONS = {
    "a", "accordance", "an", "and", "at", "by", "except", "for", "from", "in", "including",
    "of", "on", "or", "per", "pursuant", "see", "than", "that", "the", "this", "to", "under",
    "with", "within",
}  # fmt: skip
TITLE_CHARS = 80
# A title has none of these inside it, and none of the closing ones at its end.
SENTENCE_PUNCT = set(".;!?。；！？，")
CLOSING_PUNCT = set(",:：")


def squash(text: str) -> str:
    return " ".join(text.split())


def open_sentence(previous: str) -> bool:
    """Whether the previous line stops mid-sentence, so this line continues it."""
    words = previous.split()
    if not words:
        return False
    return words[-1][-1] in ",-" or words[-1] in CONTINUATIONS
