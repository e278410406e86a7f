"""`qa ingest`: add, update and (with --sync) remove documents. An unchanged re-ingest
must stay cheap, so nothing here imports the models; the runtime loads an embedder only
when there is text to embed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.cli.options import AsJson, Collection, IndexDir, runtime_for, settings_for
from qa.cli.output import emit

REPORTED = ("collection", "added", "updated", "unchanged", "removed", "errors", "chunks")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    collection: Collection = "default",
    index_dir: IndexDir = None,
    sync: Annotated[
        bool, typer.Option("--sync", help="Also remove documents whose files are gone.")
    ] = False,
    embedder: Annotated[
        str | None,
        typer.Option(
            help="Embedder for a new collection: auto, minilm, e5-multilingual or a local folder."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Add or update documents (.txt .md .html .pdf .docx .jsonl); unchanged files are skipped."""
    runtime = runtime_for(settings_for(index_dir))
    report = runtime.ingest(paths, collection, embedder=embedder, sync=sync)
    for error in report.errors:
        typer.echo(f"skipped {error}", err=True)
    if as_json:
        emit({k: getattr(report, k) for k in REPORTED})
    else:
        typer.echo(
            f"{collection}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
            f"{report.chunks} chunks embedded in {report.seconds:.1f} s"
            + ("" if report.changed else " (nothing changed)")
        )
    if report.errors and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)
