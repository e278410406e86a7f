"""Table-of-contents entries: a line ending in dot leaders (or a gap of three blanks)
and a page number, which names a division without opening it."""

from __future__ import annotations

_LEADERS = ("...", "…", "···", "．．．")
_GAP = 3


def toc_entry(line: str) -> bool:
    """Whether the line is a table-of-contents entry.

    Read backwards from the end of the line: a regular expression searching for the
    leader from every position takes time cubic in the length of a run of blanks (a
    line of 20,000 spaces held the ingest worker for hours).
    """
    body = line.rstrip(" \t")
    end = len(body)
    while end and body[end - 1].isdecimal():
        end -= 1
    if end == len(body):
        return False
    leader = body[:end].rstrip(" \t")
    return end - len(leader) >= _GAP or leader.endswith(_LEADERS)
