"""`qa chat`: a conversation in the terminal over the local pipeline, in process like
`qa ask`. Each question is asked with the turns before it, so a follow-up ("And for
a repair?") means what it refers to. Lines starting with '/' are commands.

Reads lines from stdin whether or not it is a terminal, so scripts and tests can pipe
a conversation in; the prompt and the draft streamed as the model writes are shown
on a terminal only (or with --stream).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qa.cli.options import (
    Collection,
    Filters,
    Generator,
    IndexDir,
    TopK,
    parse_filters,
    runtime_for,
    settings_for,
)
from qa.errors import QAError

if TYPE_CHECKING:
    from qa.answer.pipeline import AskPipeline
    from qa.records import Answer, Turn

HELP = """commands:
  /sources  the last answer's sources, with the quoted passages
  /new      start a new conversation (forget the turns so far)
  /help     this list
  /quit     leave (or Ctrl-D)"""

PROMPT = "you> "

SENT_TURNS = 20
"""Most earlier turns a question is asked with: the pipeline reads only the last few,
so a long session never makes each question dearer."""


class Session:
    """One conversation: its turns so far and its last answer."""

    def __init__(
        self,
        pipeline: AskPipeline,
        collection: str,
        k: int | None,
        filters: Mapping[str, Any] | None,
        *,
        live: bool,
    ) -> None:
        self.pipeline = pipeline
        self.collection = collection
        self.k = k
        self.filters = filters
        self.live = live
        self.history: list[Turn] = []
        self.last: Answer | None = None

    def handle(self, line: str) -> bool:
        """Answer a question or run a command; False once the user asks to leave."""
        text = line.strip()
        if not text:
            return True
        if not text.startswith("/"):
            self.ask(text)
            return True
        command = text.split()[0].lower()
        if command in ("/quit", "/exit", "/q"):
            return False
        if command == "/new":
            self.history, self.last = [], None
            typer.echo("(new conversation)\n")
        elif command == "/sources":
            self.sources()
        elif command == "/help":
            typer.echo(f"{HELP}\n")
        else:
            typer.echo(f"error: unknown command {command}; /help lists them", err=True)
        return True

    def ask(self, question: str) -> None:
        """One turn: the draft streamed when live, then the grounded answer. An error
        (a question over the length limit) is reported and the session goes on."""
        from qa.records import Answer, Turn

        final: Answer | None = None
        history = tuple(self.history[-SENT_TURNS:]) or None
        try:
            query = self.pipeline.open(question, self.collection, self.k, self.filters)
            with contextlib.closing(self.pipeline.stream(query, history)) as items:
                for item in items:
                    if isinstance(item, Answer):
                        final = item
                    elif self.live:
                        typer.secho(item, nl=False, dim=True)
        except QAError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            return
        except KeyboardInterrupt:
            typer.echo("\n(stopped; the question is not kept)", err=True)
            return
        if final is None:
            typer.echo("error: no answer was produced", err=True)
            return
        if self.live:
            typer.echo("\n")
        if final.standalone_question not in (None, question):
            typer.echo(f"(searched: {final.standalone_question})")
        typer.echo(final.answer)
        if final.citations:
            names = ", ".join(f"[{c.n}] {c.document}" for c in final.citations)
            typer.echo(f"sources: {names} (/sources shows the passages)")
        typer.echo()
        self.history += [Turn("user", question), Turn("assistant", final.answer)]
        self.last = final

    def sources(self) -> None:
        if self.last is None:
            typer.echo("no answer yet in this conversation\n")
            return
        if not self.last.citations:
            typer.echo("the last answer cites no source\n")
            return
        for c in self.last.citations:
            where = "".join(
                (f", page {c.page}" if c.page is not None else "",
                 f", {c.section}" if c.section else "")
            )  # fmt: skip
            typer.echo(f"[{c.n}] {c.document}{where}\n    “{' '.join(c.quote.split())}”")
        typer.echo()


def _lines(interactive: bool) -> Iterator[str]:
    """Lines typed at the prompt, or read from a pipe, until end of input."""
    if not interactive:
        yield from sys.stdin
        return
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            typer.echo()
            return


def chat(
    collection: Collection = "default",
    index_dir: IndexDir = None,
    k: TopK = None,
    filters: Filters = None,
    generator: Generator = None,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Show the draft as the model writes it (default: on a terminal).",
        ),
    ] = None,
) -> None:
    """Talk with the documents: follow-up questions mean what they refer to.
    /sources, /new, /help; Ctrl-D or /quit leaves."""
    from qa.answer.pipeline import AskPipeline

    runtime = runtime_for(settings_for(index_dir, generator=generator))
    runtime.collection(collection)  # an unknown collection fails now, not at the first question
    live = sys.stdout.isatty() if stream is None else stream
    session = Session(AskPipeline(runtime), collection, k, parse_filters(filters), live=live)
    interactive = sys.stdin.isatty()
    if interactive:
        # Model loads and dropped sentences are for logs, not between a person's turns.
        logging.getLogger().setLevel(logging.WARNING)
        typer.echo(f"Asking collection {collection!r}. /help lists the commands; Ctrl-D leaves.")
    try:
        for line in _lines(interactive):
            if not session.handle(line):
                break
    except KeyboardInterrupt:
        typer.echo()
