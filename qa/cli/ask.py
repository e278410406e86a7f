"""`qa ask`: a grounded answer with its citations. On a terminal the draft is shown as
it is generated, then replaced by the checked answer; piped, only the answer is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qa.cli.batch import emit_each, require_one
from qa.cli.options import (
    AsJson,
    Collection,
    Filters,
    Generator,
    IndexDir,
    TopK,
    parse_filters,
    runtime_for,
    settings_for,
)
from qa.cli.output import emit
from qa.errors import InvalidInputError, QAError

if TYPE_CHECKING:
    from qa.records import Turn


def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[
        Path | None, typer.Option(help='JSONL file of {"id", "text"} questions.')
    ] = None,
    collection: Collection = "default",
    index_dir: IndexDir = None,
    k: TopK = None,
    filters: Filters = None,
    as_json: AsJson = False,
    generator: Generator = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help='JSON file: the conversation before QUESTION, a list of {"role": "user" or '
            '"assistant", "content"}; QUESTION is then searched as a standalone question.'
        ),
    ] = None,
) -> None:
    """Answer from the documents, citing the passages; says so when they hold no answer."""
    from qa.answer.history import checked_history
    from qa.answer.pipeline import AskPipeline
    from qa.records import Answer

    require_one(question, questions, "QUESTION", "--questions")
    if history is not None and questions is not None:
        raise InvalidInputError("--history goes with one QUESTION, not with --questions")
    settings = settings_for(index_dir, generator=generator)
    turns = None if history is None else checked_history(_read_history(history), settings)
    pipeline = AskPipeline(runtime_for(settings))
    parsed = parse_filters(filters)

    def answer(text: str) -> Answer:
        return pipeline.ask(text, collection, k, parsed, turns)

    if questions is not None:
        emit_each(questions, "question_id", lambda text: answer(text).to_dict())
        return
    assert question is not None
    if as_json:
        emit(answer(question).to_dict())
        return
    live = sys.stdout.isatty()
    final: Answer | None = None
    for item in pipeline.stream(pipeline.open(question, collection, k, parsed), turns):
        if isinstance(item, Answer):
            final = item
        elif live:
            typer.echo(item, nl=False)
    if final is None:
        raise QAError("no answer was produced")
    if live:
        typer.echo("\n")
    if final.standalone_question is not None and final.standalone_question != question.strip():
        typer.echo(f"(searched: {final.standalone_question})")
    typer.echo(final.answer)
    for c in final.citations:
        where = f", page {c.page}" if c.page is not None else ""
        typer.echo(f"  [{c.n}] {c.document}{where}: “{' '.join(c.quote.split())}”")


def _read_history(path: Path) -> list[Turn]:
    from qa.answer.history import turns_from_records

    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"--history {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"--history {path}: not a JSON file ({exc})") from None
    return turns_from_records(records, f"--history {path}")
