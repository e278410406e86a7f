"""A conversation's earlier turns: checked against the limits when they come in, and
cut to what the generator is shown.

Every entry point (the API's history, a stored conversation, `qa ask --history`) hands
its turns to `checked_history`, so one set of limits holds everywhere. The prompt gets
only the last few turns within a token budget, assistant turns cut short and stripped
of their sources: they are there so "it" and "that" resolve, not as evidence; the
answer is still grounded in the retrieved passages alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qa.answer.assembly import without_markers
from qa.errors import InvalidInputError
from qa.records import Turn
from qa.settings import Settings
from qa.text import sentence_spans

# The numbered sources qa appends to a chat answer ("[1] doc, page 2: “quote”"), and the
# [n] marks in its text (`without_markers`): they point at passages of an earlier
# answer, not this one's.
_SOURCE_LINE = re.compile(r"^\[\d+\] .*$", re.MULTILINE)


def turns_from_records(records: Any, where: str = "history") -> list[Turn]:
    """Turns from JSON-shaped records ([{"role", "content"}, ...]), or the 422 naming
    the first bad one: for callers that did not validate a schema (the CLI's file)."""
    if not isinstance(records, list):
        raise InvalidInputError(f"{where}: expected a list of {{'role', 'content'}} objects")
    turns: list[Turn] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInputError(f"{where}.{index}: expected an object with role and content")
        role, content = record.get("role"), record.get("content")
        if role not in ("user", "assistant"):
            raise InvalidInputError(
                f"{where}.{index}.role: expected 'user' or 'assistant', not {role!r}"
            )
        if not isinstance(content, str):
            raise InvalidInputError(f"{where}.{index}.content: expected a string")
        turns.append(Turn(role, content))
    return turns


def checked_history(turns: Sequence[Turn], settings: Settings) -> tuple[Turn, ...]:
    """The turns, or the 422 that says which limit they break."""
    if len(turns) > settings.max_history_turns:
        raise InvalidInputError(
            f"history has {len(turns)} turns, over the limit of {settings.max_history_turns}"
        )
    total = 0
    for index, turn in enumerate(turns):
        if len(turn.content) > settings.max_turn_chars:
            raise InvalidInputError(
                f"history.{index}.content is {len(turn.content)} characters, over the limit "
                f"of {settings.max_turn_chars}"
            )
        total += len(turn.content)
    if total > settings.max_history_chars:
        raise InvalidInputError(
            f"history is {total} characters, over the limit of {settings.max_history_chars}"
        )
    return tuple(turns)


def _shortened(text: str, limit: int) -> str:
    """An earlier answer without its sources, cut at the last sentence end within the
    limit (or at the limit when the first sentence is longer)."""
    text = without_markers(_SOURCE_LINE.sub("", text)).strip()
    if len(text) <= limit:
        return text
    ends = [end for _, end in sentence_spans(text, 0, len(text)) if end <= limit]
    return text[: ends[-1]] if ends else text[:limit].rstrip() + "…"


def prompt_history(
    turns: Sequence[Turn], settings: Settings, count: Callable[[str], int]
) -> list[Turn]:
    """The last `history_turns` turns that fit `history_tokens`, oldest first."""
    kept: list[Turn] = []
    budget = settings.history_tokens
    for turn in reversed(turns[-settings.history_turns :] if settings.history_turns else []):
        content = " ".join(turn.content.split())
        if turn.role == "assistant":
            content = _shortened(turn.content, settings.history_answer_chars)
            content = " ".join(content.split())
        if not content:
            continue
        cost = count(content) + 4
        if cost > budget:
            break
        budget -= cost
        kept.append(Turn(turn.role, content))
    return kept[::-1]
