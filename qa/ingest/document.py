"""The loaded form of a document, before chunking."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A labelled character range of the document text (a page, or a section)."""

    start: int
    end: int
    label: str


@dataclass
class Document:
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: list[Span] = field(default_factory=list)
    """Page spans (label = page number) for paged formats; empty otherwise."""
    sections: list[Span] = field(default_factory=list)
    """Heading spans, label = heading path such as 'Part 2 > Section 12'; as
    heading_sections makes them, in order and not overlapping."""
    source: str | None = None

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a search result shows would change."""
        payload = json.dumps(
            {
                "text": self.text,
                "title": self.title,
                "metadata": self.metadata,
                "pages": [(p.start, p.end, p.label) for p in self.pages],
                "sections": [(s.start, s.end, s.label) for s in self.sections],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def heading_sections(headings: list[tuple[int, int, str]], text_length: int) -> list[Span]:
    """Sections from (offset, level, heading) triples: each runs to the next heading."""
    spans: list[Span] = []
    path: list[tuple[int, str]] = []
    for i, (offset, level, heading) in enumerate(headings):
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading))
        end = headings[i + 1][0] if i + 1 < len(headings) else text_length
        spans.append(Span(offset, end, " > ".join(h for _, h in path)))
    return spans
