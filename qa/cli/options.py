"""The options several commands share, and what they turn into: the same flag means
the same thing, with the same help text, in every command that takes it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qa.errors import InvalidInputError
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.runtime import Runtime

Collection = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
IndexDir = Annotated[
    Path | None,
    typer.Option(
        "--index-dir", help="Where collections live [default: $QA_INDEX_DIR or indexes/]."
    ),
]
TopK = Annotated[int | None, typer.Option("-k", help="How many passages to retrieve.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON (one line per query with a file).")
]
Filters = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="KEY=VALUE on document, title or a metadata key; repeat for AND, "
        "VALUE1,VALUE2 for any of them.",
    ),
]
Generator = Annotated[str | None, typer.Option(help="tiny, fast, quality or a local model folder.")]


def settings_for(index_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the options the user gave on top (an option
    left out keeps the environment's value)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if index_dir is not None:
        values["index_dir"] = index_dir
    return Settings(**values)


def runtime_for(settings: Settings) -> Runtime:
    """Imported here, not at the top: the runtime pulls in the stores, and `qa --help`
    or `qa keys list` should not wait for them."""
    from qa.runtime import Runtime

    return Runtime(settings)


def parse_filters(raw: list[str] | None) -> dict[str, Any] | None:
    """`--filter KEY=VALUE` options as the filters dict the API takes as JSON."""
    if not raw:
        return None
    filters: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--filter {item!r}: expected KEY=VALUE")
        filters[key] = value.split(",") if "," in value else value
    return filters
