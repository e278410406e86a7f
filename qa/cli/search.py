"""`qa search`: the passages nearest a query, ranked, without generating an answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from qa.cli.batch import emit_each, require_one
from qa.cli.options import (
    AsJson,
    Collection,
    Filters,
    IndexDir,
    TopK,
    parse_filters,
    runtime_for,
    settings_for,
)
from qa.cli.output import emit
from qa.errors import InvalidInputError


def search(
    query: Annotated[str | None, typer.Argument(help="The search text.")] = None,
    queries: Annotated[
        Path | None, typer.Option(help='JSONL file of {"id", "text"} queries.')
    ] = None,
    collection: Collection = "default",
    index_dir: IndexDir = None,
    k: TopK = None,
    filters: Filters = None,
    as_json: AsJson = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each result's dense and BM25 rank and score.")
    ] = False,
    mode: Annotated[
        str, typer.Option(help="hybrid (dense + BM25, fused), dense or sparse.")
    ] = "hybrid",
) -> None:
    """Find the passages nearest a query."""
    from qa.records import SearchRequest
    from qa.retrieval.search import Retriever
    from qa.views import result_dict

    require_one(query, queries, "QUERY", "--queries")
    if mode not in ("hybrid", "dense", "sparse"):
        raise InvalidInputError(f"--mode {mode!r}: use hybrid, dense or sparse")
    retriever = Retriever(runtime_for(settings_for(index_dir)))
    parsed = parse_filters(filters)
    top_k = k or 10

    def run(text: str) -> list[dict[str, Any]]:
        hits = retriever.search(SearchRequest(text, collection, top_k, parsed, mode))  # type: ignore[arg-type]
        return [result_dict(rank, hit, explain=explain) for rank, hit in enumerate(hits, start=1)]

    if queries is not None:
        emit_each(queries, "query_id", lambda text: {"results": run(text)})
        return
    assert query is not None
    results = run(query)
    if as_json:
        emit(results)
        return
    for r in results:
        where = f" p.{r['page']}" if r["page"] is not None else ""
        typer.echo(f"{r['rank']:>2}. {r['score']:.3f}  {r['document']}{where}  [{r['chunk_id']}]")
        typer.echo("    " + " ".join(r["text"].split())[:240])
        if explain:
            typer.echo(f"    {r['explain']}")
