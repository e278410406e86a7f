"""`qa eval`: retrieval and answer quality on QA datasets, the figures that decide
whether a change to chunking, models or fusion is an improvement."""

from __future__ import annotations

from typing import Annotated

import typer

from qa.cli.options import AsJson, Generator, settings_for
from qa.cli.output import emit
from qa.errors import InvalidInputError

app = typer.Typer(help="Measure retrieval and answers on QA datasets.", no_args_is_help=True)


@app.command("retrieval")
def eval_retrieval(
    dataset: Annotated[
        str,
        typer.Option(
            help="covidqa, cmrc2018, clapnq, med (in $QA_DATA_DIR), a SQuAD-style .json "
            "or a BEIR folder."
        ),
    ],
    embedder: Annotated[
        str | None,
        typer.Option(help="minilm, e5-multilingual or a folder [default: auto for the set]."),
    ] = None,
    mode: Annotated[
        list[str] | None, typer.Option(help="sparse, dense, hybrid; repeat [default: all].")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N queries.")] = None,
    as_json: AsJson = False,
) -> None:
    """Recall@k, MRR@10 and nDCG@10 of BM25, dense and hybrid retrieval on a dataset."""
    from qa.eval.datasets import load_dataset
    from qa.eval.retrieval import MODES, evaluate, table
    from qa.text import has_cjk

    settings = settings_for()
    try:
        data = load_dataset(dataset, settings.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise InvalidInputError(str(exc)) from exc
    modes = tuple(mode or MODES)
    if unknown := set(modes) - set(MODES):
        raise InvalidInputError(f"unknown --mode {sorted(unknown)}: use sparse, dense or hybrid")
    if embedder is None:
        cjk = any(has_cjk(d.text) for d in data.documents[:50])
        embedder = "e5-multilingual" if cjk else "minilm"
    results = evaluate(data, embedder=embedder, settings=settings, modes=modes, limit=limit)  # type: ignore[arg-type]
    if as_json:
        for result in results:
            emit(result.as_dict())
    else:
        typer.echo(table(results))


@app.command("answers")
def eval_answers(
    dataset: Annotated[
        str,
        typer.Option(
            help="covidqa, cmrc2018, clapnq (in $QA_DATA_DIR) or a SQuAD-style .json file."
        ),
    ],
    generator: Generator = None,
    embedder: Annotated[
        str | None, typer.Option(help="minilm, e5-multilingual or a folder [default: auto].")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="A seeded sample of N questions [default: all].")
    ] = 100,
    as_json: AsJson = False,
) -> None:
    """F1, exact match, refusals, citation precision and latency of whole answers on a QA set.

    The set's corpus is ingested once into the cache folder and reused.
    """
    from qa.eval.answers import evaluate_answers, table
    from qa.eval.datasets import load_dataset

    settings = settings_for(generator=generator)
    try:
        data = load_dataset(dataset, settings.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise InvalidInputError(str(exc)) from exc
    summary = evaluate_answers(
        data, settings=settings, embedder=embedder or settings.embedder, limit=limit
    )
    if as_json:
        emit(summary.as_dict(with_rows=False))
    else:
        typer.echo(table([summary]))
