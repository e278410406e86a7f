"""A conversation held by the client: each question is asked with the turns before it,
so that "And for a repair?" means what the user meant.

    chat = qa.chat("legal")
    chat.ask("What notice must a landlord give before an inspection?")
    for item in chat.ask_stream("And for a repair?"):
        ...                                   # draft text, then the grounded answer

Kept here and sent as `history` with each question (the server stores nothing), or
kept by the server as well (`qa.chat(server=True)`, or `conversation_id=` to resume
one): each question then sends only the conversation's id, and the server adds the
turn once its answer is complete. Either way `history` holds the turns so far.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from qa.client.shapes import Answer, FilterValue, StreamItem, Turn

if TYPE_CHECKING:
    from qa.client.client import Client

SENT_TURNS = 20
"""Most turns sent as `history`: the server reads only the last few (its limit on what
it accepts is far above this), so a long conversation never grows every request."""


class Chat:
    def __init__(
        self,
        client: Client,
        collection: str | None = None,
        k: int | None = None,
        filters: Mapping[str, FilterValue] | None = None,
        conversation_id: str | None = None,
        turns: Sequence[Turn] = (),
    ) -> None:
        """Made by `Client.chat`. collection None: the server's default."""
        self._client = client
        self.collection = collection
        self.k = k
        self.filters = filters
        self.conversation_id = conversation_id
        self.history: list[Turn] = list(turns)
        self.last: Answer | None = None
        """The latest answer, with its citations."""

    def _sent(self) -> list[Turn] | None:
        """The history to send: none when the server keeps the conversation."""
        return None if self.conversation_id is not None else self.history[-SENT_TURNS:]

    def _add(self, question: str, answer: Answer) -> None:
        self.history += [
            Turn(role="user", content=question),
            Turn(role="assistant", content=answer["answer"]),
        ]
        self.last = answer

    def ask(self, question: str) -> Answer:
        answer = self._client.ask(
            question,
            self.collection,
            self.k,
            self.filters,
            history=self._sent(),
            conversation_id=self.conversation_id,
        )
        self._add(question, answer)
        return answer

    def ask_stream(self, question: str) -> Iterator[StreamItem]:
        """As `Client.ask_stream`; the turn is added once its answer has arrived, so a
        loop left early adds nothing (nor does the server to a conversation it keeps)."""
        items = self._client.ask_stream(
            question,
            self.collection,
            self.k,
            self.filters,
            history=self._sent(),
            conversation_id=self.conversation_id,
        )
        for item in items:
            if not isinstance(item, str):
                self._add(question, item)
            yield item

    def reset(self) -> None:
        """Start over: the next question has no history. A conversation the server
        keeps is left there (`Client.delete_conversation` deletes it) and a new one is
        started there."""
        self.history = []
        self.last = None
        if self.conversation_id is not None:
            created = self._client.create_conversation(self.collection)
            self.conversation_id = created["id"]
