"""A number read from the wrong row or the wrong column of a table.

Loaders write a table as one line per row, cells joined by " | ". A small model asked
"How much is the final examination worth?" over a weighting table may answer with the
laboratory reports' 30%: every word and number of its sentence is in the passage, so
word overlap calls it supported. What the passage does not say is that the final
examination is worth 30%. A stated number that the passage holds only in table rows
must sit in a row that names what the sentence is about; where another row does, that
row is the passage's answer.

Columns the same way: asked "What is the dose for children aged 12 to 15?" over a
dosage table (Age | Dose | How often | Maximum in 24 hours), the model may give that
row's daily maximum. The sentence names the column "Dose", and none of its numbers is
in that column of the row it is about: the row is the passage's answer.
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


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split(" | ")]


def _tables(text: str) -> list[list[tuple[int, int]]]:
    """Runs of consecutive row lines; the first row of each is its header."""
    tables: list[list[tuple[int, int]]] = []
    for start, end in _rows(text):
        if tables and not text[tables[-1][-1][1] : start].strip("\r\n"):
            tables[-1].append((start, end))
        else:
            tables.append([(start, end)])
    return [t for t in tables if len(t) > 1]


def misread_column(sentence: str, stated: set[str], text: str) -> tuple[int, int] | None:
    """The span of the row the sentence is about when the sentence names a column of
    the table and none of its numbers sits in a named column of that row; else None.
    `stated`: the sentence's numbers that answer (not those of the question)."""
    words = content_tokens(sentence) - numbers(sentence)
    for table in _tables(text):
        head = _cells(text[slice(*table[0])])
        named = {j for j, cell in enumerate(head) if (content_tokens(cell) - numbers(cell)) & words}
        if not named or 0 in named:
            continue
        rows = [(s, e) for s, e in table[1:] if len(_cells(text[s:e])) == len(head)]

        def about(row: tuple[int, int]) -> int:
            return len(content_tokens(_cells(text[slice(*row)])[0]) & content_tokens(sentence))

        scored = sorted(((about(row), row) for row in rows), reverse=True)
        if not scored or not scored[0][0] or (scored[1:2] and scored[1][0] == scored[0][0]):
            continue  # no row, or no single row, is what the sentence is about
        best = scored[0][1]
        cells = _cells(text[slice(*best)])
        columns = [{j for j, cell in enumerate(cells) if n in numbers(cell)} - {0} for n in stated]
        found = [where for where in columns if where]
        if found and not any(where & named for where in found):
            return best
    return None
