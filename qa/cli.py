"""The `qa` command line. Contract: ../shared/DESIGN.md (extend, never break)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from qa.errors import InvalidInputError, QAError
from qa.settings import Settings

app = typer.Typer(
    help="Offline question answering over your documents, with cited passages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure retrieval and answers on QA datasets.", no_args_is_help=True)
index_app = typer.Typer(help="Inspect, check and rebuild collections.", no_args_is_help=True)
models_app = typer.Typer(help="Prepare the packaged offline models.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys for `qa serve`: once one exists, every /v1 request needs one.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")

log = logging.getLogger("qa")

Collection = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
IndexDir = Annotated[
    Path | None,
    typer.Option(
        "--index-dir", help="Where collections live [default: $QA_INDEX_DIR or indexes/]."
    ),
]
TopK = Annotated[int | None, typer.Option("-k", help="How many passages to retrieve.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON (one line per query with a file).")
]
Filters = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="KEY=VALUE on document, title or a metadata key; repeat for AND, "
        "VALUE1,VALUE2 for any of them.",
    ),
]


def _settings(index_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if index_dir is not None:
        values["index_dir"] = index_dir
    return Settings(**values)


def _runtime(settings: Settings) -> Any:
    from qa.runtime import Runtime

    return Runtime(settings)


def _parse_filters(raw: list[str] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    filters: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--filter {item!r}: expected KEY=VALUE")
        filters[key] = value.split(",") if "," in value else value
    return filters


def _read_jsonl(path: Path, text_key: str = "text") -> Iterator[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"{path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
        text = record.get(text_key) if text_key in record else record.get("question")
        if not isinstance(record.get("id"), str | int) or not isinstance(text, str):
            raise InvalidInputError(f"{path}:{number}: needs 'id' and '{text_key}'")
        yield str(record["id"]), text


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@app.command()
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
    runtime = _runtime(_settings(index_dir))
    report = runtime.ingest(paths, collection, embedder=embedder, sync=sync)
    for error in report.errors:
        typer.echo(f"skipped {error}", err=True)
    if as_json:
        _emit(
            {
                k: getattr(report, k)
                for k in (
                    "collection",
                    "added",
                    "updated",
                    "unchanged",
                    "removed",
                    "errors",
                    "chunks",
                )
            }
        )
    else:
        typer.echo(
            f"{collection}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
            f"{report.chunks} chunks embedded in {report.seconds:.1f} s"
            + ("" if report.changed else " (nothing changed)")
        )
    if report.errors and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@app.command()
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
    from qa.retrieval import Retriever, result_dict

    if (query is None) == (queries is None):
        raise InvalidInputError("give either a QUERY or --queries FILE")
    if mode not in ("hybrid", "dense", "sparse"):
        raise InvalidInputError(f"--mode {mode!r}: use hybrid, dense or sparse")
    settings = _settings(index_dir)
    retriever = Retriever(_runtime(settings))
    parsed = _parse_filters(filters)
    top_k = k or 10

    def run(text: str) -> list[dict[str, Any]]:
        hits = retriever.search(SearchRequest(text, collection, top_k, parsed, mode))  # type: ignore[arg-type]
        return [result_dict(rank, hit, explain=explain) for rank, hit in enumerate(hits, start=1)]

    if queries is not None:
        for query_id, text in _read_jsonl(queries):
            _emit({"query_id": query_id, "results": run(text)})
        return
    assert query is not None
    results = run(query)
    if as_json:
        _emit(results)
        return
    for r in results:
        where = f" p.{r['page']}" if r["page"] is not None else ""
        typer.echo(f"{r['rank']:>2}. {r['score']:.3f}  {r['document']}{where}  [{r['chunk_id']}]")
        typer.echo("    " + " ".join(r["text"].split())[:240])
        if explain:
            typer.echo(f"    {r['explain']}")


@app.command()
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
    generator: Annotated[
        str | None, typer.Option(help="tiny, fast, quality or a local model folder.")
    ] = None,
) -> None:
    """Answer from the documents, citing the passages; says so when they hold no answer."""
    from qa.pipeline import AskPipeline
    from qa.records import Answer

    if (question is None) == (questions is None):
        raise InvalidInputError("give either a QUESTION or --questions FILE")
    pipeline = AskPipeline(_runtime(_settings(index_dir, generator=generator)))
    parsed = _parse_filters(filters)
    if questions is not None:
        for question_id, text in _read_jsonl(questions):
            answer = pipeline.ask(text, collection, k, parsed)
            _emit({"question_id": question_id, **answer.to_dict()})
        return
    assert question is not None
    if as_json:
        _emit(pipeline.ask(question, collection, k, parsed).to_dict())
        return
    live = sys.stdout.isatty()
    final: Answer | None = None
    for item in pipeline.stream(question, collection, k, parsed):
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    index_dir: IndexDir = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page.

    On any address but loopback it refuses to start until an API key exists
    (`qa keys create`); on loopback without keys it runs open and says so."""
    import ipaddress

    import uvicorn

    from qa.api.app import create_app
    from qa.catalogue import Catalogue

    settings = _settings(index_dir)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if (
        not loopback
        and not Catalogue(
            settings.catalogue_location, owner=settings.instance_name
        ).has_active_keys()
    ):
        raise InvalidInputError(
            f"refusing to serve on {host} without an API key: anyone on the network could "
            "read the documents. Create one with `qa keys create --collections '*' "
            "--role admin`, or bind to 127.0.0.1"
        )
    uvicorn.run(create_app(settings, open_allowed=loopback), host=host, port=port, log_level="info")


@keys_app.command("create")
def keys_create(
    collections: Annotated[
        str, typer.Option(help="Comma-separated collections the key may use, or '*' for all.")
    ],
    role: Annotated[
        str,
        typer.Option(
            help="reader (search, ask), writer (+ upload and delete documents, create "
            "collections) or admin (+ delete collections)."
        ),
    ] = "reader",
    name: Annotated[str, typer.Option(help="A label for the key, e.g. who holds it.")] = "",
    index_dir: IndexDir = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from qa.catalogue import ROLES, Catalogue

    if role not in ROLES:
        raise InvalidInputError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    catalogue = Catalogue(_settings(index_dir).catalogue_location)
    key, token = catalogue.create_key(name, role, collections.split(","))
    typer.echo(token)
    typer.echo(
        f"key {key.id} ({key.role}, collections: {', '.join(key.collections)}); "
        "store it now, it is not shown again",
        err=True,
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `qa keys list`).")],
    index_dir: IndexDir = None,
) -> None:
    """Revoke a key at once: the next request made with it gets 401."""
    from qa.catalogue import Catalogue

    if not Catalogue(_settings(index_dir).catalogue_location).revoke_key(key_id):
        raise InvalidInputError(f"no active key {key_id!r}")
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(index_dir: IndexDir = None, as_json: AsJson = False) -> None:
    """Every key with its role, scope and state (never the key itself)."""
    from qa.catalogue import Catalogue

    keys = Catalogue(_settings(index_dir).catalogue_location).keys()
    if as_json:
        _emit([k.to_dict() for k in keys])
        return
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.role:<6}  {','.join(k.collections):<30}  {state}  {k.name}")


@index_app.command("stats")
def index_stats(collection: Collection = "default", index_dir: IndexDir = None) -> None:
    """Documents, chunks, bytes, embedder, generation and build time."""
    from qa.store.maintenance import stats

    _emit(stats(_settings(index_dir), collection))


@index_app.command("verify")
def index_verify(collection: Collection = "default", index_dir: IndexDir = None) -> None:
    """Check that manifest, docstore, dense and sparse indexes agree; exit 1 with what is wrong."""
    from qa.store.maintenance import verify

    problems = verify(_settings(index_dir), collection)
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{collection}: ok")


@index_app.command("rebuild")
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
    from qa.store.maintenance import rebuild, stats

    if dense not in (None, "auto", "flat", "hnsw"):
        raise InvalidInputError(f"--dense {dense!r}: use auto, flat or hnsw")
    settings = _settings(index_dir, dense_index=dense)
    report = rebuild(_runtime(settings), collection, embedder)
    after = stats(settings, collection)
    typer.echo(
        f"{collection}: rebuilt {len(report.added)} documents, {report.chunks} chunks "
        f"in {report.seconds:.1f} s; generation {after['generation']}, "
        f"{after['dense']['kind']} dense index"
    )


@index_app.command("export")
def index_export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export to.")],
    collection: Collection = "default",
    index_dir: IndexDir = None,
) -> None:
    """Write a collection's documents, chunks and vectors to a folder (no re-embedding)."""
    from qa.store.backend import open_store
    from qa.store.transfer import export_collection

    summary = export_collection(open_store(_settings(index_dir)), collection, out)
    typer.echo(
        f"{collection}: exported {summary['documents']} documents, {summary['chunks']} chunks "
        f"to {out}"
    )


@index_app.command("import")
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
    from qa.store.backend import open_store
    from qa.store.transfer import import_collection

    if backend not in (None, "faiss", "milvus"):
        raise InvalidInputError(f"--backend {backend!r}: use faiss or milvus")
    settings = _settings(index_dir, vector_backend=backend)
    summary = import_collection(open_store(settings), folder, collection)
    typer.echo(
        f"{collection}: imported {summary['documents']} documents, {summary['chunks']} chunks "
        f"into {settings.vector_backend}"
    )


@eval_app.command("retrieval")
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

    settings = _settings()
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
            _emit(result.as_dict())
    else:
        typer.echo(table(results))


@eval_app.command("answers")
def eval_answers(
    dataset: Annotated[
        str,
        typer.Option(
            help="covidqa, cmrc2018, clapnq (in $QA_DATA_DIR) or a SQuAD-style .json file."
        ),
    ],
    generator: Annotated[
        str | None, typer.Option(help="tiny, fast, quality or a local model folder.")
    ] = None,
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

    settings = _settings(generator=generator)
    try:
        data = load_dataset(dataset, settings.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        raise InvalidInputError(str(exc)) from exc
    summary = evaluate_answers(
        data, settings=settings, embedder=embedder or settings.embedder, limit=limit
    )
    if as_json:
        _emit(summary.as_dict(with_rows=False))
    else:
        typer.echo(table([summary]))


@models_app.command("prepare")
def models_prepare(
    generator: Annotated[
        str | None, typer.Option(help="Generator to prepare [default: $QA_GENERATOR or fast].")
    ] = None,
) -> None:
    """Verify the packaged models and prepare the generator once in the cache (its GGUF
    file for llama.cpp, or a converted folder for transformers)."""
    from qa.models.registry import embedder_folder, prepare_generator

    settings = _settings(generator=generator)
    auto = settings.embedder == "auto"
    for spec in ("minilm", "e5-multilingual") if auto else (settings.embedder,):
        name, embedder_path = embedder_folder(spec)
        typer.echo(f"embedder {name}: {embedder_path}")
    path = prepare_generator(settings.generator, settings.cache_dir, settings.generator_backend)
    typer.echo(f"generator {settings.generator}: {path}")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app()
    except QAError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
