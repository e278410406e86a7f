"""`qa index`: look after collections as stored (statistics, consistency, rebuilding,
moving between backends) rather than what they answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.cli.options import Collection, IndexDir, runtime_for, settings_for
from qa.cli.output import emit
from qa.errors import InvalidInputError

app = typer.Typer(help="Inspect, check and rebuild collections.", no_args_is_help=True)


@app.command("stats")
def index_stats(collection: Collection = "default", index_dir: IndexDir = None) -> None:
    """Documents, chunks, bytes, embedder, generation and build time."""
    from qa.store.backend import open_store

    emit(open_store(settings_for(index_dir)).stats(collection))


@app.command("verify")
def index_verify(collection: Collection = "default", index_dir: IndexDir = None) -> None:
    """Check that manifest, docstore, dense and sparse indexes agree; exit 1 with what is wrong."""
    from qa.store.backend import open_store

    problems = open_store(settings_for(index_dir)).verify(collection)
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{collection}: ok")


@app.command("rebuild")
def index_rebuild(
    collection: Collection = "default",
    index_dir: IndexDir = None,
    embedder: Annotated[
        str | None, typer.Option(help="Re-embed with this embedder instead of the recorded one.")
    ] = None,
    dense: Annotated[
        str | None,
        typer.Option(
            help="Dense index type: auto (by size), flat (exact) or hnsw "
            "[default: $QA_DENSE_INDEX or auto]."
        ),
    ] = None,
) -> None:
    """Re-chunk and re-embed from the stored documents; the old generation serves until the swap."""
    from qa.rebuild import rebuild

    if dense not in (None, "auto", "flat", "hnsw"):
        raise InvalidInputError(f"--dense {dense!r}: use auto, flat or hnsw")
    settings = settings_for(index_dir, dense_index=dense)
    runtime = runtime_for(settings)
    report = rebuild(runtime, collection, embedder)
    after = runtime.store.stats(collection)
    typer.echo(
        f"{collection}: rebuilt {len(report.added)} documents, {report.chunks} chunks "
        f"in {report.seconds:.1f} s; generation {after['generation']}, "
        f"{after['dense']['kind']} dense index"
    )


@app.command("export")
def index_export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export to.")],
    collection: Collection = "default",
    index_dir: IndexDir = None,
) -> None:
    """Write a collection's documents, chunks and vectors to a folder (no re-embedding)."""
    from qa.catalogue import PageImages
    from qa.store.backend import open_store
    from qa.store.transfer import export_collection

    settings = settings_for(index_dir)
    pictures = PageImages(settings.catalogue_location)
    summary = export_collection(open_store(settings), collection, out, pictures)
    typer.echo(
        f"{collection}: exported {summary['documents']} documents, {summary['chunks']} chunks "
        f"to {out}"
    )


@app.command("import")
def index_import(
    folder: Annotated[Path, typer.Argument(help="A folder written by `qa index export`.")],
    collection: Collection = "default",
    index_dir: IndexDir = None,
    backend: Annotated[
        str | None,
        typer.Option(help="faiss or milvus [default: $QA_VECTOR_BACKEND or faiss]."),
    ] = None,
) -> None:
    """Replace a collection with an export, in any backend, without re-embedding."""
    from qa.catalogue import PageImages
    from qa.store.backend import open_store
    from qa.store.transfer import import_collection

    if backend not in (None, "faiss", "milvus"):
        raise InvalidInputError(f"--backend {backend!r}: use faiss or milvus")
    settings = settings_for(index_dir, vector_backend=backend)
    pictures = PageImages(settings.catalogue_location)
    summary = import_collection(open_store(settings), folder, collection, pictures)
    typer.echo(
        f"{collection}: imported {summary['documents']} documents, {summary['chunks']} chunks "
        f"into {settings.vector_backend}"
    )
