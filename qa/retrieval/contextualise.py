"""A follow-up plus its history -> the standalone query that is searched.

"And for a repair?" searched alone finds noise; searched as "What is the notice period
for a repair?" it finds the passage. Four ways, one setting (`contextualiser`): 'rule'
(qa/retrieval/contextualise_rules.py, no model), 'rewrite' (the generator, with a short
bounded prompt, falling back to 'rule' on an empty or overlong reply), 'concat' (the
recent user turns joined) and 'none' (the last question alone, as before conversations).
Which is the default was measured (docs/EVALUATION.md, Conversations).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from qa.answer.prompts import inert
from qa.models.protocols import ChatMessage
from qa.models.protocols import Generator as TextGenerator
from qa.records import Turn
from qa.retrieval.contextualise_rules import resolve_conversation, vague
from qa.settings import Settings

log = logging.getLogger(__name__)

Method = Literal["rule", "rewrite", "concat", "none"]

_REWRITE_SYSTEM = (
    "Rewrite the user's last question as one standalone question that can be understood "
    "without the conversation: replace pronouns and fill in what is left out from the "
    "earlier turns. Keep its language. Reply with the question only."
)
_PREFIX = re.compile(
    r"^\s*(?:standalone question|question|rewritten question|问题)\s*[:：]\s*", re.I
)
# How much of each earlier turn the rewrite prompt shows: enough to name a subject.
_REWRITE_TURN_CHARS = 200


@dataclass(frozen=True)
class Standalone:
    """What a question becomes before retrieval, and how."""

    text: str
    method: Method
    clarification: bool = False
    """Even with the history, nothing names what to search for: ask back, do not guess."""
    seconds: float = 0.0


class Contextualiser:
    """`run(question, history)`: the standalone query for one question. `generator` is
    asked only by 'rewrite', and only when a question refers back to its history."""

    def __init__(
        self,
        settings: Settings,
        generator: Callable[[], TextGenerator] | None = None,
        method: Method | None = None,
    ) -> None:
        self.settings = settings
        self.generator = generator
        self.method: Method = method or settings.contextualiser

    def run(self, question: str, history: Sequence[Turn]) -> Standalone:
        started = time.perf_counter()
        question = question.strip()
        earlier = [t.content for t in history if t.role == "user"]
        method: Method = self.method
        clarification = method != "none" and _unanswerable_vagueness(question, earlier)
        if clarification or method == "none":
            text = question
        elif method == "concat":
            text = self._concat(question, earlier)
        elif method == "rewrite":
            rewritten = self._rewrite(question, history) if earlier else None
            if rewritten is None:
                method, text = "rule", resolve_conversation(question, earlier)
            else:
                text = rewritten
        else:
            text = resolve_conversation(question, earlier)
        text = text[: self.settings.max_question_chars]
        standalone = Standalone(text, method, clarification, time.perf_counter() - started)
        log.info(
            "standalone query (%s, %.3f s%s): %r",
            method,
            standalone.seconds,
            ", clarification" if clarification else "",
            text,
        )
        return standalone

    def _concat(self, question: str, earlier: Sequence[str]) -> str:
        recent = [t.strip() for t in earlier[-self.settings.contextualiser_turns :] if t.strip()]
        joined = " ".join([*recent, question])
        # The end is kept: the question itself must survive the cut.
        return joined[-self.settings.max_question_chars :]

    def _rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """The generator's rewrite, or None (empty, cut off at the token limit, or longer
        than a question may be)."""
        if self.generator is None:
            return None
        generator = self.generator()
        limit = self.settings.rewrite_tokens
        lines = []
        for turn in _recent_exchanges(history, self.settings.contextualiser_turns):
            content = inert(" ".join(turn.content.split())[:_REWRITE_TURN_CHARS])
            lines.append(f"{'User' if turn.role == 'user' else 'Assistant'}: {content}")
        user = "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {inert(question)}"
        messages = [
            ChatMessage(role="system", content=_REWRITE_SYSTEM),
            ChatMessage(role="user", content=user),
        ]
        with contextlib.closing(generator.stream(messages, max_new_tokens=limit)) as tokens:
            reply = "".join(tokens)
        first = reply.strip().split("\n", 1)[0]
        text = _PREFIX.sub("", first).strip().strip("\"'“”「」")
        if not text or generator.count_tokens(reply) >= limit:
            return None
        if len(text) > self.settings.max_question_chars:
            return None
        return text


def _unanswerable_vagueness(question: str, earlier: Sequence[str]) -> bool:
    """A question with no subject of its own and no earlier question that has one."""
    return vague(question) and not any(not vague(t) for t in earlier if t.strip())


def _recent_exchanges(history: Sequence[Turn], user_turns: int) -> list[Turn]:
    """The history from the `user_turns`-th last user turn on."""
    seen = 0
    for index in range(len(history) - 1, -1, -1):
        if history[index].role == "user":
            seen += 1
            if seen == user_turns:
                return list(history[index:])
    return list(history)
