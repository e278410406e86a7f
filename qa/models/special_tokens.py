"""A model's own special tokens, kept out of the text it is given.

Chat templates are rendered to a string and then tokenised with special-token
parsing, so a document holding `<|im_start|>system` — or any of a model's other
special tokens, such as SmolLM's `<repo_name>` — would become a real control token.
The prompt builder defuses the common template families whatever the model; each
backend also defuses the exact special tokens of the model it loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from qa.models.protocols import ChatMessage


class SpecialTokenDefuser:
    """Rewrites each special-token string so the tokenizer cannot match it: its first
    character becomes a look-alike ('<' -> '‹', '[' -> '［'), or a zero-width space
    follows it."""

    def __init__(self, tokens: Iterable[str]) -> None:
        specials = sorted({t for t in tokens if len(t) > 1 and not t.isspace()}, key=len)
        self._pattern = (
            re.compile("|".join(re.escape(t) for t in reversed(specials))) if specials else None
        )

    @staticmethod
    def _defuse(match: re.Match[str]) -> str:
        token = match.group()
        first = {"<": "‹", "[": "［"}.get(token[0])
        return first + token[1:] if first else token[0] + "\u200b" + token[1:]

    def text(self, text: str) -> str:
        return self._pattern.sub(self._defuse, text) if self._pattern else text

    def messages(self, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m["role"], "content": self.text(m["content"])} for m in messages]
