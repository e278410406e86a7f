"""`qa ask`: a grounded answer with its citations. On a terminal the draft is shown as
it is generated, then replaced by the checked answer; piped, only the answer is written."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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
from qa.errors import QAError


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
) -> None:
    """Answer from the documents, citing the passages; says so when they hold no answer."""
    from qa.answer.pipeline import AskPipeline
    from qa.records import Answer

    require_one(question, questions, "QUESTION", "--questions")
    pipeline = AskPipeline(runtime_for(settings_for(index_dir, generator=generator)))
    parsed = parse_filters(filters)

    def answer(text: str) -> Answer:
        return pipeline.ask(text, collection, k, parsed)

    if questions is not None:
        emit_each(questions, "question_id", lambda text: answer(text).to_dict())
        return
    assert question is not None
    if as_json:
        emit(answer(question).to_dict())
        return
    live = sys.stdout.isatty()
    final: Answer | None = None
    for item in pipeline.stream(pipeline.open(question, collection, k, parsed)):
        if isinstance(item, Answer):
            final = item
        elif live:
            typer.echo(item, nl=False)
    if final is None:
        raise QAError("no answer was produced")
    if live:
        typer.echo("\n")
    typer.echo(final.answer)
    for c in final.citations:
        where = f", page {c.page}" if c.page is not None else ""
        typer.echo(f"  [{c.n}] {c.document}{where}: “{' '.join(c.quote.split())}”")
