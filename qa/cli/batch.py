"""`search` and `ask` take one argument or a JSONL file of them (`--queries`,
`--questions`), answering each line of the file with one JSON line that carries its id:
the form evaluation harnesses feed and read back. Written once so both commands read
and report the same way."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.cli.output import emit
from qa.errors import InvalidInputError


def require_one(single: str | None, file: Path | None, argument: str, option: str) -> None:
    """Exactly one of the argument and the file: both would leave it unclear which is
    meant, neither leaves nothing to do."""
    if (single is None) == (file is None):
        raise InvalidInputError(f"give either a {argument} or {option} FILE")


def emit_each(file: Path, id_key: str, respond: Callable[[str], dict[str, Any]]) -> None:
    """`{id_key: id, **respond(text)}` on a line of its own for each line of `file`."""
    for item_id, text in read_jsonl(file):
        emit({id_key: item_id, **respond(text)})


def read_jsonl(path: Path) -> Iterator[tuple[str, str]]:
    """(id, text) of each non-blank line; `question` is accepted for `text`, as QA sets
    name it. A bad line stops the run naming file and line, rather than being skipped
    and missing from the results."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"{path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
        text = record.get("text") if "text" in record else record.get("question")
        if not isinstance(record.get("id"), str | int) or not isinstance(text, str):
            raise InvalidInputError(f"{path}:{number}: needs 'id' and 'text'")
        yield str(record["id"]), text
