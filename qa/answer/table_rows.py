"""A number read from the wrong row of a table.

Loaders write a table as one line per row, cells joined by " | ". A small model asked
"How much is the final examination worth?" over a weighting table may answer with the
laboratory reports' 30%: every word and number of its sentence is in the passage, so
word overlap calls it supported. What the passage does not say is that the final
examination is worth 30%. A stated number that the passage holds only in table rows
must sit in a row that names what the sentence is about; where another row does, that
row is the passage's answer.
"""

from __future__ import annotations

from qa.text import content_tokens, numbers


def _rows(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for line in text.splitlines(keepends=True):
        end = start + len(line.rstrip("\r\n"))
        if line.count(" | ") >= 1:
            spans.append((start, end))
        start += len(line)
    return spans


def misread_row(sentence: str, stated: set[str], text: str) -> tuple[int, int] | None:
    """None when the sentence's numbers are where it says; else the span of the row that
    names the sentence's subject, or (0, 0) when no row does (nothing supports it)."""
    rows = _rows(text)
    if not rows or not stated:
        return None
    cells = [content_tokens(text[s:e]) - numbers(text[s:e]) for s, e in rows]
    shared = set.intersection(*cells)
    words = content_tokens(sentence) - numbers(sentence)
    prose = "".join(
        text[a:b]
        for a, b in zip([0] + [e for _, e in rows], [s for s, _ in rows] + [len(text)], strict=True)
    )

    # A row that takes the answer's place must be named by a word the prose around the
    # table does not also use ("of the final mark" names no row "Final examination").
    own = words - content_tokens(prose)

    def names(i: int, among: set[str]) -> int:
        return len((among & cells[i]) - shared)

    for n in stated:
        holding = [i for i, (s, e) in enumerate(rows) if n in numbers(text[s:e])]
        if not holding or n in numbers(prose) or any(names(i, words) for i in holding):
            continue
        best = max(range(len(rows)), key=lambda i: names(i, own))
        return rows[best] if names(best, own) else (0, 0)
    return None
