"""Our metadata filters as Milvus boolean expressions.

Filter values come from API callers: every string is quoted and escaped here, and a
key is a field name only if it is one of ours or plain letters, digits, '_' and '-'.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping

from qa.errors import InvalidInputError
from qa.records import FilterValue

_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def literal(value: str | int | float | bool) -> str:
    """A value in a Milvus boolean expression: strings quoted with every quote,
    backslash and control character escaped, numbers as numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError("filter values must be finite numbers")
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def any_of(field: str, values: Iterable[str | int]) -> str:
    """`field` equal to any of the values."""
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def filter_expression(filters: Mapping[str, FilterValue] | None) -> str:
    """Our metadata filters (equality, or any of a list) as a Milvus expression."""
    clauses: list[str] = []
    for key, value in (filters or {}).items():
        if key in ("document", "document_id"):
            field = "document_id"
        elif key == "title":
            field = "title"
        elif _KEY.match(key):
            field = f"metadata[{json.dumps(key)}]"
        else:
            raise InvalidInputError(f"filter key {key!r} must be letters, digits, '_' or '-'")
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values:
            raise InvalidInputError(f"filter {key!r} has an empty list of values")
        checked: list[str | int | float | bool] = []
        for v in values:
            if not isinstance(v, str | int | float | bool):
                raise InvalidInputError(f"filter {key!r} values must be strings or numbers")
            checked.append(v)
        clauses.append("(" + " or ".join(f"{field} == {literal(v)}" for v in checked) + ")")
    return " and ".join(clauses)
