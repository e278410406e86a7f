"""`qa ingest`: add, update and (with --sync) remove documents. An unchanged re-ingest
must stay cheap, so nothing here imports the models; the runtime loads an embedder only
when there is text to embed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from qa.cli.options import AsJson, Collection, IndexDir, runtime_for, settings_for
from qa.cli.output import emit
from qa.ingest.ocr import progress


@contextmanager
def _ocr_bar() -> Iterator[None]:
    """A progress bar a file, for the files read by OCR (seconds a page)."""
    bar: tqdm[None] | None = None

    def pages(document_id: str, done: int, total: int) -> None:
        nonlocal bar
        if done == 0:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, unit="page", desc=f"OCR {document_id}")
        elif bar is not None:
            bar.update(done - bar.n)

    with progress.reporting(pages):
        try:
            yield
        finally:
            if bar is not None:
                bar.close()


REPORTED = (
    "collection",
    "added",
    "updated",
    "unchanged",
    "removed",
    "errors",
    "not_read",
    "chunks",
)


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
    """Add or update documents; unchanged files are skipped. Scanned PDF pages and images
    (.png .jpg .jpeg .tif .tiff) are read by OCR. Every file not read is named, with why."""
    runtime = runtime_for(settings_for(index_dir))
    with _ocr_bar():
        report = runtime.ingest(paths, collection, embedder=embedder, sync=sync)
    for line in report.not_read:
        typer.echo(f"not read {line}", err=True)
    for error in report.errors:
        if error not in report.not_read:
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
