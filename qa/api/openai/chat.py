"""Between a chat conversation and a question: which message is asked, what history
it comes with, and how the answer and its sources read to a chat client that shows
only the message content.

The last user message is the question; the user and assistant messages before it are
its history, which makes a follow-up ("And for a repair?") searchable and lets the
generator tell what "it" is. System (and developer and tool) messages are ignored:
the answer must come from the documents, and an instruction could steer it away."""

from __future__ import annotations

from qa.api.openai.schemas import ChatMessageIn
from qa.errors import InvalidInputError
from qa.records import Answer, Citation, Turn


def _text(message: ChatMessageIn, index: int, *, asked: bool = True) -> str:
    """The message's text; a part that is not text is a 422 in the question and is
    left out of an earlier turn (it can be neither searched nor shown to the model)."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part_index, part in enumerate(content):
        if part.type != "text" and not asked:
            continue
        if part.type != "text":
            raise InvalidInputError(
                f"messages.{index}.content.{part_index}: only text parts can be asked "
                f"about, not {part.type!r}"
            )
        texts.append(part.text or "")
    return "\n".join(t for t in texts if t.strip())


def _last_user(messages: list[ChatMessageIn]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return None


def history_of(messages: list[ChatMessageIn]) -> list[Turn]:
    """The user and assistant messages before the last user message, as turns; empty
    ones (an assistant turn that only called tools) left out."""
    last = _last_user(messages)
    turns: list[Turn] = []
    for index, message in enumerate(messages[:last]):
        if message.role in ("user", "assistant"):
            text = _text(message, index, asked=False)
            if text.strip():
                turns.append(Turn("user" if message.role == "user" else "assistant", text))
    return turns


def question_of(messages: list[ChatMessageIn]) -> str:
    """The text of the last user message; 422 naming the message when there is none."""
    index = _last_user(messages)
    if index is not None:
        text = _text(messages[index], index)
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
