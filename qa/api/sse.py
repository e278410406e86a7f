"""JSON for server-sent events, safe against every client's idea of a line break.

SSE frames end at a newline, and `json.dumps` escapes newlines inside strings; but
many clients (httpx's `iter_lines`, Python's `str.splitlines`, some browsers' JS line
splitters) also break lines at U+2028, U+2029, U+0085, U+000B, U+000C, U+001C-U+001E,
which JSON allows raw. A passage holding one would cut an event in two there. Escaped,
the text is the same JSON value and the frame stays one line."""

from __future__ import annotations

import json
import re

_LINE_BREAKS = re.compile("[\u0085\u2028\u2029\x0b\x0c\x1c\x1d\x1e]")


def json_line(value: object) -> str:
    """`value` as compact JSON on one line for every line splitter."""
    return _LINE_BREAKS.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


def event(name: str, value: object) -> str:
    """One named SSE event with a JSON body."""
    return f"event: {name}\ndata: {json_line(value)}\n\n"
