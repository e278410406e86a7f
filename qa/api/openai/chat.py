"""Between a chat conversation and a question: which message is asked, and how the
answer and its sources read to a chat client that shows only the message content.

Only the last user message is asked: the answer must come from the documents, so
system prompts and earlier turns, which could steer it away from them, are not used."""

from __future__ import annotations

from qa.api.openai.schemas import ChatMessageIn
from qa.errors import InvalidInputError
from qa.records import Answer, Citation


def question_of(messages: list[ChatMessageIn]) -> str:
    """The text of the last user message; 422 naming the message when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        content = message.content
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        else:
            texts: list[str] = []
            for part_index, part in enumerate(content):
                if part.type != "text":
                    raise InvalidInputError(
                        f"messages.{index}.content.{part_index}: only text parts can be asked "
                        f"about, not {part.type!r}"
                    )
                texts.append(part.text or "")
            text = "\n".join(t for t in texts if t.strip())
        if not text.strip():
            raise InvalidInputError(
                f"messages.{index}.content: the last user message is empty; it holds the question"
            )
        return text
    raise InvalidInputError(
        "messages: no message has role 'user'; the question is the last user message"
    )


def sources_text(citations: list[Citation]) -> str:
    """Numbered sources for plain chat clients, which show only the message content."""
    lines = []
    for c in citations:
        where = c.document if c.page is None else f"{c.document}, page {c.page}"
        lines.append(f"[{c.n}] {where}: “{c.quote}”")
    return "\n".join(lines)


def message_text(answer: Answer) -> str:
    sources = sources_text(answer.citations)
    return f"{answer.answer}\n\n{sources}" if sources else answer.answer
