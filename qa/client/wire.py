"""What goes over the wire: URL paths that an id cannot escape, request bodies, and
the server-sent events of a streamed answer read back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from qa.client.shapes import FilterValue, Turn


def segment(value: str) -> str:
    """A path segment that cannot escape its place in the URL."""
    return quote(value, safe="")


def single_upload(item: object) -> bool:
    if isinstance(item, str | os.PathLike):
        return True
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and not isinstance(item[1], str)
    )


def ask_body(
    question: str,
    collection: str | None,
    k: int | None,
    filters: Mapping[str, FilterValue] | None,
    *,
    stream: bool,
    history: Sequence[Turn] | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """Only what the caller gave: a collection left out is the server's default, or the
    conversation's own when a conversation_id is sent."""
    body: dict[str, Any] = {"question": question, "stream": stream}
    optional = {"collection": collection, "k": k, "conversation_id": conversation_id}
    body.update({name: value for name, value in optional.items() if value is not None})
    if filters is not None:
        body["filters"] = dict(filters)
    if history is not None:
        body["history"] = [{"role": t["role"], "content": t["content"]} for t in history]
    return body


def document_path(collection: str, document_id: str) -> str:
    """One segment, '/' escaped too: an id is free text, and a '..' left as a segment of
    its own would be resolved away (`../../x` would name the collection `x`). The server
    takes the decoded rest of the path as the id."""
    return f"/v1/collections/{segment(collection)}/documents/{segment(document_id)}"


def lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines ended by LF (a CR before it dropped), as the server writes them. httpx's
    iter_lines also splits at U+2028, U+0085 and the like, which JSON leaves unescaped
    inside strings: a passage holding one would cut a data line in two."""
    pending = ""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split("\n")
        yield from (line.removesuffix("\r") for line in complete)
    if pending:
        yield pending.removesuffix("\r")


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-Sent Events as (event, JSON data): only what the qa server sends, which
    is one JSON `data` line per event."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, json.loads("\n".join(data))
