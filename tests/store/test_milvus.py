"""The Milvus backend: the same store and retrieval tests against FAISS, Milvus Lite
embedded (a .db path) and a `milvus-lite server` process on loopback (the network
path a Milvus cluster takes); export/import between backends; filter expressions."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qa.errors import CollectionNotFoundError, IndexMismatchError, InvalidInputError
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.rebuild import rebuild
from qa.records import Document, SearchRequest
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.backend import Store, open_store
from qa.store.faiss.store import FaissStore
from qa.store.milvus.filters import filter_expression, literal
from qa.store.milvus.rows import lexical_text
from tests.conftest import HashingEmbedder, free_port, milvus_ready

RECORDS: list[dict[str, object]] = [
    {"id": "bond", "title": "Bonds", "text": "The maximum bond is four weeks of rent.",
     "metadata": {"domain": "legal", "year": 2024}},
    {"id": "dose", "title": "Dosage", "text": "Adults take one or two tablets every six hours.",
     "metadata": {"domain": "medical"}},
    {"id": "loan", "title": "借阅", "text": "每证最多可同时借阅图书10册。借期为30天。",
     "metadata": {"domain": "library"}},
    {"id": "quote", "title": "Quotes", "text": "Tenants may keep one cat and one dog.",
     "metadata": {"domain": 'le"gal\\ or 1==1', "year": 2023}},
]  # fmt: skip


@pytest.fixture(scope="session")
def milvus_lite_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded Milvus Lite data path (pymilvus runs it inside this process)."""
    pytest.importorskip("pymilvus", reason="pymilvus is not installed")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed")
    uri = str(tmp_path_factory.mktemp("milvus-lite") / "milvus.db")
    why = milvus_ready(uri)
    if why is not None:
        pytest.skip(f"Milvus Lite could not open {uri}: {why}")
    return uri


MakeSettings = Callable[..., Settings]


def _milvus_settings(uri: str, tmp_path: Path) -> MakeSettings:
    namespace = f"t{uuid.uuid4().hex[:12]}"

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "index_dir": tmp_path / "idx",
            "vector_backend": "milvus",
            "milvus_uri": uri,
            "milvus_namespace": namespace,
        }
        return Settings(**(values | overrides))  # type: ignore[arg-type]

    return make


@pytest.fixture(params=["faiss", "milvus-lite", "milvus-server"])
def make_settings(request: pytest.FixtureRequest, tmp_path: Path) -> MakeSettings:
    """Settings for one backend; Milvus ones get a namespace of their own per test."""
    if request.param == "faiss":
        return lambda **overrides: Settings(index_dir=tmp_path / "idx", **overrides)  # type: ignore[arg-type]
    fixture = "milvus_lite_db" if request.param == "milvus-lite" else "milvus_server"
    return _milvus_settings(request.getfixturevalue(fixture), tmp_path)


@pytest.fixture
def server_settings(milvus_server: str, tmp_path: Path) -> MakeSettings:
    return _milvus_settings(milvus_server, tmp_path)


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


def ingestor(store: Store, embedder: HashingEmbedder | None = None) -> Ingestor:
    return Ingestor(
        store, embedder or HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=1_000_000
    )


def _search(store: Store, query: str, k: int = 10, **kwargs: object) -> list[str]:
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries([query])[0]
    hits = collection.search(SearchRequest(query, k=k, **kwargs), vector)  # type: ignore[arg-type]
    return [h.chunk.chunk_id for h in hits]


# -- the same suite on every backend ---------------------------------------------------


def test_ingest_reingest_change_and_sync(make_settings: MakeSettings, tmp_path: Path) -> None:
    store = open_store(make_settings())
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    first = ingestor(store).run([data], "c", progress=False)
    assert sorted(first.added) == ["bond", "dose", "loan", "quote"]
    assert store.names() == ["c"] and store.exists("c")
    manifest = store.manifest("c")
    assert (manifest.documents, manifest.chunks) == (4, 4)
    again = ingestor(store).run([data], "c", progress=False)
    assert again.added == [] and sorted(again.unchanged) == ["bond", "dose", "loan", "quote"]
    assert store.manifest("c").generation == manifest.generation, "no change, no publish"

    before = {h.chunk.document_id: h.chunk.row_id for h in _hits(store, "rent tablets 图书 cat")}
    changed = [dict(r) for r in RECORDS[:3]]
    changed[1]["text"] = "Adults take one tablet every four hours."
    report = ingestor(store).run([write_jsonl(data, changed)], "c", progress=False, sync=True)
    assert report.updated == ["dose"] and report.removed == ["quote"]
    after = {h.chunk.document_id: h.chunk.row_id for h in _hits(store, "rent tablets 图书 cat")}
    assert after["bond"] == before["bond"] and after["dose"] != before["dose"]
    assert "quote" not in after
    assert (store.manifest("c").documents, store.manifest("c").chunks) == (3, 3)
    docs = store.open("c").docstore
    summaries = docs.document_summaries()
    assert [s["id"] for s in summaries] == ["bond", "dose", "loan"]
    assert summaries[1]["chunks"] == 1 and summaries[0]["metadata"]["year"] == 2024
    assert docs.document_text("dose") == "Adults take one tablet every four hours."
    assert docs.document_text("quote") is None


def _hits(store: Store, query: str) -> list:  # type: ignore[type-arg]
    collection = store.open("c")
    return collection.search(
        SearchRequest(query, k=50), HashingEmbedder().embed_queries([query])[0]
    )


def test_a_scan_s_hits_hold_their_own_lines_and_its_record_all(
    make_settings: MakeSettings,
) -> None:
    """A 100-page scan's line boxes (180 KB of JSON, past Milvus's 64 KB a JSON value) go
    into each chunk cut to its own lines; the document keeps them all."""
    lines, boxes, offset = [], {}, 0
    for page in range(1, 101):
        boxes[str(page)] = []
        for n in range(40):
            text = f"page {page} line {n} bond rent notice"
            boxes[str(page)].append([0.1, n / 50, 0.9, n / 50 + 0.01, offset, offset + len(text)])
            lines.append(text)
            offset += len(text) + 1
    metadata = {"kind": "lease", "ocr": {"engine": "rapidocr", "boxes": boxes}}
    assert len(json.dumps(metadata)) > 150_000
    scan = Document("scan.pdf", "\n".join(lines), metadata=metadata)
    store = open_store(make_settings())
    report = IngestReport("c")
    ingestor(store).run_documents([scan], "c", report, progress=False)
    assert report.added == ["scan.pdf"]
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries(["page 77 line 3 bond"])[0]
    request = SearchRequest("page 77 line 3 bond", k=5, filters={"kind": "lease"})
    hits = collection.search(request, vector)
    assert hits
    for hit in hits:
        chunk, shown = hit.chunk, hit.chunk.metadata
        assert shown["kind"] == "lease" and shown["ocr"]["engine"] == "rapidocr"
        own = shown["ocr"]["boxes"]
        assert 0 < len(own) <= 2 and all(
            box[4] < chunk.end and box[5] > chunk.start for page in own.values() for box in page
        ), (chunk.start, chunk.end, own)
    (stored,) = collection.docstore.documents()
    assert stored.metadata == metadata


def test_metadata_past_milvus_json_limit_is_refused_by_name_and_the_rest_ingested(
    make_settings: MakeSettings,
) -> None:
    """A record's metadata goes whole into each chunk row in Milvus, where one JSON value
    takes 64 KB: a larger one is reported by name before embedding, not a failed batch.
    FAISS keeps it."""
    settings = make_settings()
    big = Document("big", "The bond is four weeks of rent.", metadata={"notes": "x" * 70_000})
    small = Document("small", "Tablets every six hours.", metadata={"notes": "short"})
    store = open_store(settings)
    report = IngestReport("c")
    ingestor(store).run_documents([big, small], "c", report, progress=False)
    if settings.vector_backend == "milvus":
        assert report.added == ["small"]
        (error,) = report.errors
        assert error.startswith("big: its metadata takes 70") and "65536" in error, error
    else:
        assert report.added == ["big", "small"] and report.errors == []


def test_filters_apply_before_the_cut_and_are_escaped(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    store = open_store(make_settings())
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    query = "tablets rent cat"
    assert _docs(_search(store, query, 1, filters={"domain": "medical"})) == {"dose"}
    assert _docs(_search(store, query, 5, filters={"domain": ["legal", "medical"]})) == {
        "bond",
        "dose",
    }
    assert _docs(_search(store, query, 5, filters={"document": "bond", "year": 2024})) == {"bond"}
    assert _docs(_search(store, query, 5, filters={"domain": 'le"gal\\ or 1==1'})) == {"quote"}
    assert _search(store, query, 5, filters={"domain": 'legal" or "1" == "1'}) == []
    assert _search(store, query, 5, filters={"year": 1999}) == []
    with pytest.raises(InvalidInputError):
        _search(store, query, 5, filters={"bad key)": "x"})


def _docs(chunk_ids: list[str]) -> set[str]:
    return {c.split("#")[0] for c in chunk_ids}


def test_search_modes_and_chinese_bm25(make_settings: MakeSettings, tmp_path: Path) -> None:
    store = open_store(make_settings())
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    collection = store.open("c")
    sparse = collection.search(SearchRequest("借阅图书", k=3, mode="sparse"), None)
    assert sparse[0].chunk.document_id == "loan"
    assert sparse[0].dense_rank is None and sparse[0].sparse_rank == 1
    vector = HashingEmbedder().embed_queries(["bond rent"])[0]
    dense = collection.search(SearchRequest("bond rent", k=2, mode="dense"), vector)
    assert dense[0].chunk.document_id == "bond" and all(h.sparse_rank is None for h in dense)
    hybrid = collection.search(SearchRequest("bond rent", k=2), vector)
    assert hybrid[0].chunk.document_id == "bond" and hybrid[0].sparse_rank == 1
    assert hybrid[0].chunk.title == "Bonds" and hybrid[0].chunk.metadata["domain"] == "legal"


def test_another_embedder_is_refused(make_settings: MakeSettings, tmp_path: Path) -> None:
    store = open_store(make_settings())
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    other = HashingEmbedder("other-model", 64)
    changed = [dict(RECORDS[0], text="A new text about bonds.")]
    with pytest.raises(IndexMismatchError, match="rebuild"):
        ingestor(store, other).run([write_jsonl(tmp_path / "e.jsonl", changed)], "c")
    runtime = Runtime(make_settings())
    runtime.add_embedder(other)
    runtime._embedders["hashing"] = other  # a model under the recorded name, but not it
    with pytest.raises(IndexMismatchError):
        Retriever(runtime).search(SearchRequest("bond", "c"))


def test_delete_rebuild_and_remove_through_the_runtime(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    runtime = Runtime(make_settings())
    runtime.add_embedder(HashingEmbedder())
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    runtime.ingest([data], "c", embedder="hashing", progress=False)
    retriever = Retriever(runtime)
    found = retriever.search(SearchRequest("maximum bond rent", "c", k=3))
    assert found[0].chunk.document_id == "bond"
    assert runtime.delete_document("c", "bond") and not runtime.delete_document("c", "bond")
    for mode in ("hybrid", "dense", "sparse"):
        hits = retriever.search(SearchRequest("maximum bond rent", "c", k=4, mode=mode))  # type: ignore[arg-type]
        assert "bond" not in {h.chunk.document_id for h in hits}
    generation = runtime.store.manifest("c").generation
    report = rebuild(runtime, "c", progress=False)
    assert sorted(report.added) == ["dose", "loan", "quote"]
    assert runtime.store.manifest("c").generation > generation
    assert retriever.search(SearchRequest("tablets", "c", k=1))[0].chunk.document_id == "dose"
    runtime.remove_collection("c")
    assert not runtime.store.exists("c") and runtime.store.names() == []
    with pytest.raises(CollectionNotFoundError):
        runtime.collection("c")


# -- Milvus only -------------------------------------------------------------------------


def test_filter_expressions_quote_values() -> None:
    assert literal('a"b\\c') == '"a\\"b\\\\c"'
    assert literal(True) == "true" and literal(3) == "3" and literal(2.5) == "2.5"
    assert filter_expression({"document": "x", "tier": ["a", 1]}) == (
        '(document_id == "x") and (metadata["tier"] == "a" or metadata["tier"] == 1)'
    )
    with pytest.raises(InvalidInputError):
        filter_expression({'k"]': "x"})
    with pytest.raises(InvalidInputError):
        filter_expression({"k": []})
    assert lexical_text("Version 3.5 of the 借阅") == "version 3_5 借 阅 借阅"


def _corpus(n: int) -> list[dict[str, object]]:
    """Notes of seeded random words: varied lengths and counts, so few scores tie."""
    rng = random.Random(7)
    words = (
        "rent bond tenant lease tablet dose adult fever library loan book shelf river "
        "flood rain bridge court judge appeal nurse clinic vaccine harbour ship cargo"
    ).split()
    return [
        {
            "id": f"doc{i:03d}",
            "title": f"Note {i}",
            "text": " ".join(rng.choices(words, k=rng.randint(6, 30))) + f" item {i}.",
            "metadata": {"group": i % 3},
        }
        for i in range(n)
    ]


QUERIES = ["rent bond", "adult tablet dose", "library book loan", "flood", "item 7", "judge nurse"]


def test_bm25_in_milvus_ranks_as_our_bm25(server_settings: MakeSettings, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", _corpus(40))
    faiss_store = FaissStore(tmp_path / "faiss", Settings(index_dir=tmp_path / "faiss"))
    milvus_store = open_store(server_settings())
    for store in (faiss_store, milvus_store):
        ingestor(store).run([data], "c", progress=False)
    for query in QUERIES:
        ours = store_scores(faiss_store, query)
        theirs = store_scores(milvus_store, query)
        assert set(ours) == set(theirs) and ours, query
        # Milvus keeps BM25's (k1 + 1) factor, bm25s's Lucene variant drops it: a constant
        # that min-max normalised blending and rank fusion both ignore.
        for chunk, score in ours.items():
            assert theirs[chunk] == pytest.approx(2.5 * score, rel=1e-3), (query, chunk)


def store_scores(store: Store, query: str) -> dict[str, float]:
    """Every chunk BM25 matches (ties at a cut would make a top 10 arbitrary)."""
    hits = store.open("c").search(SearchRequest(query, k=100, mode="sparse", candidates=100), None)
    return {h.chunk.chunk_id: h.sparse_score or 0.0 for h in hits}


def _ranked(store: Store, query: str, mode: str) -> list[tuple[str, float]]:
    vector = HashingEmbedder().embed_queries([query])[0]
    request = SearchRequest(query, k=10, mode=mode)  # type: ignore[arg-type]
    hits = store.open("c").search(request, vector)
    return [(h.chunk.chunk_id, round(h.score, 4)) for h in hits]


def assert_same_top(a: Store, b: Store, query: str, mode: str = "hybrid") -> None:
    """The same top 10: equal scores rank for rank, and the same passages in every group
    of tied scores but the last (which of several tied passages the cut keeps is
    arbitrary: the hashing test embedder gives many texts the same similarity)."""
    first, second = _ranked(a, query, mode), _ranked(b, query, mode)
    assert [s for _, s in first] == [s for _, s in second], (query, mode)
    last = first[-1][1] if first else None
    groups: dict[float, tuple[set[str], set[str]]] = {}
    for (x, score), (y, _) in zip(first, second, strict=True):
        groups.setdefault(score, (set(), set()))[0].add(x)
        groups[score][1].add(y)
    for score, (xs, ys) in groups.items():
        assert score == last or xs == ys, (query, mode, score, xs, ys)


def test_export_from_faiss_import_into_milvus_keeps_the_top_10(
    server_settings: MakeSettings, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    data = write_jsonl(tmp_path / "d.jsonl", _corpus(60))
    faiss_settings = Settings(index_dir=tmp_path / "faiss")
    faiss_store = FaissStore(faiss_settings.index_dir, faiss_settings)
    ingestor(faiss_store).run([data], "c", progress=False)
    milvus = server_settings()
    env = {
        "QA_VECTOR_BACKEND": "milvus",
        "QA_MILVUS_URI": milvus.milvus_uri,
        "QA_MILVUS_NAMESPACE": milvus.milvus_namespace,
    }
    runner = CliRunner()
    out = tmp_path / "export"
    index_dir = str(faiss_settings.index_dir)
    exported = runner.invoke(
        app,
        ["index", "export", "--collection", "c", "--out", str(out), "--index-dir", index_dir],
        env={"QA_VECTOR_BACKEND": "faiss"},
    )
    assert exported.exit_code == 0, exported.output
    imported = runner.invoke(app, ["index", "import", str(out), "--collection", "c"], env=env)
    assert imported.exit_code == 0, imported.output
    milvus_store = open_store(milvus)
    assert milvus_store.manifest("c").embedder == faiss_store.manifest("c").embedder
    assert milvus_store.manifest("c").chunks == faiss_store.manifest("c").chunks
    for query in QUERIES:
        for mode in ("dense", "hybrid"):
            assert_same_top(faiss_store, milvus_store, query, mode=mode)
    # And back: Milvus -> FAISS, through the same files.
    back = tmp_path / "back"
    result = runner.invoke(app, ["index", "export", "-c", "c", "--out", str(back)], env=env)
    assert result.exit_code == 0, result.output
    faiss_again = Settings(index_dir=tmp_path / "faiss2")
    result = runner.invoke(
        app,
        [
            "index",
            "import",
            str(back),
            "-c",
            "c",
            "--backend",
            "faiss",
            "--index-dir",
            str(faiss_again.index_dir),
        ],
        env={"QA_VECTOR_BACKEND": "faiss"},
    )
    assert result.exit_code == 0, result.output
    again = FaissStore(faiss_again.index_dir, faiss_again)
    for query in QUERIES:
        assert_same_top(faiss_store, again, query)


def _qa(*args: str) -> list[str]:
    exe = shutil.which("qa", path=str(Path(sys.executable).parent))
    return [exe, *args] if exe else [sys.executable, "-m", "qa", *args]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return os.environ | {
        "HF_HUB_OFFLINE": "1",
        "QA_VECTOR_BACKEND": "milvus",
        "QA_MILVUS_URI": settings.milvus_uri,
        "QA_MILVUS_NAMESPACE": settings.milvus_namespace,
        **extra,
    }


# -- two stateless replicas in front of one Milvus ---------------------------------------

REPLICA_RECORDS = [
    {"id": "harbour", "title": "Harbour rules", "metadata": {"site": "port"},
     "text": "Ships longer than 200 metres must request a pilot 24 hours before arrival "
             "at the northern harbour."},
    {"id": "canteen", "title": "Canteen", "metadata": {"site": "office"},
     "text": "The staff canteen serves lunch from noon until half past two."},
]  # fmt: skip


@contextmanager
def _replicas(settings: Settings, tmp_path: Path, generator: str) -> Iterator[list[str]]:
    """Two `qa serve` processes on their own ports and index dirs, sharing the Milvus
    namespace and one catalogue file (jobs and collections created over HTTP)."""
    import httpx

    env = _env(
        settings,
        QA_CATALOGUE=str(tmp_path / "catalogue.sqlite"),
        QA_AUDIT="false",
        QA_EMBEDDER="minilm",
        QA_GENERATOR=generator,
        QA_THREADS="1",
    )
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = (tmp_path / f"replica-{name}.log").open("w")
            processes.append(
                subprocess.Popen(
                    [
                        *_qa("serve", "--host", "127.0.0.1", "--port", str(port)),
                        *("--index-dir", str(tmp_path / f"replica-{name}")),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, (tmp_path / "replica-a.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.3)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _upload_through(url: str, collection: str) -> None:
    import httpx

    created = httpx.post(
        f"{url}/v1/collections", json={"name": collection, "embedder": "minilm"}, timeout=30
    )
    assert created.status_code == 201, created.text
    posted = httpx.post(
        f"{url}/v1/collections/{collection}/documents",
        json={"records": REPLICA_RECORDS},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    job = posted.json()
    deadline = time.monotonic() + 300
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).json()
    assert job["status"] == "done", job


def test_a_document_uploaded_through_one_replica_is_found_through_the_other(
    server_settings: MakeSettings, tmp_path: Path
) -> None:
    """Loads MiniLM (the generator is left unloadable: search does not need it)."""
    import httpx

    settings = server_settings()
    with _replicas(settings, tmp_path, generator=str(tmp_path / "no-generator")) as (a, b):
        _upload_through(a, "shared")
        found = httpx.post(
            f"{b}/v1/search",
            json={"query": "When must a long ship ask for a pilot?", "collection": "shared"},
            timeout=120,
        )
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["document"] == "harbour"
        listed = httpx.get(f"{b}/v1/collections/shared/documents", timeout=30).json()
        assert [d["id"] for d in listed["documents"]] == ["canteen", "harbour"]
        assert httpx.delete(f"{b}/v1/collections/shared/documents/canteen").status_code == 204
        again = httpx.post(
            f"{a}/v1/search",
            json={"query": "staff canteen lunch", "collection": "shared", "k": 5},
            timeout=120,
        ).json()
        assert "canteen" not in {r["document"] for r in again["results"]}


@pytest.mark.slow
def test_an_answer_through_the_other_replica_cites_the_uploaded_document(
    server_settings: MakeSettings, tmp_path: Path
) -> None:
    import httpx

    settings = server_settings()
    with _replicas(settings, tmp_path, generator="fast") as (a, b):
        _upload_through(a, "shared")
        answer = httpx.post(
            f"{b}/v1/ask",
            json={"question": "How long before arrival must a pilot be requested?",
                  "collection": "shared"},
            timeout=600,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "harbour" in json.dumps(body), body
