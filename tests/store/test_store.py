"""Collections on disk: incremental ingest, atomic generations, filters, verify, mismatch."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from qa.errors import CollectionNotFoundError, IndexMismatchError, InvalidInputError
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor, IngestReport
from qa.models.protocols import Embedder
from qa.rebuild import rebuild
from qa.records import Document, SearchHit, SearchRequest, StoredChunk, check_name
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.faiss.dense import DensePolicy, FaissIndex
from qa.store.faiss.store import FaissStore
from qa.store.fusion import blend, deduplicate, fuse, ranked_hits
from tests.conftest import HashingEmbedder


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


RECORDS: list[dict[str, object]] = [
    {"id": "bond", "title": "Bonds", "text": "The maximum bond is four weeks of rent.",
     "metadata": {"domain": "legal", "year": 2024}},
    {"id": "dose", "title": "Dosage", "text": "Adults take one or two tablets every six hours.",
     "metadata": {"domain": "medical"}},
    {"id": "loan", "title": "借阅", "text": "每证最多可同时借阅图书10册。借期为30天。",
     "metadata": {"domain": "library"}},
]  # fmt: skip


def ingestor(store: FaissStore, embedder: HashingEmbedder | None = None) -> Ingestor:
    return Ingestor(
        store, embedder or HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=1_000_000
    )


@pytest.fixture
def store(tmp_path: Path) -> FaissStore:
    return FaissStore(tmp_path / "idx")


def test_ingest_then_reingest_is_a_no_op(store: FaissStore, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    first = ingestor(store).run([data], "c", progress=False)
    assert sorted(first.added) == ["bond", "dose", "loan"]
    generation = store.manifest("c").generation
    second = ingestor(store).run([data], "c", progress=False)
    assert second.added == [] and second.updated == []
    assert sorted(second.unchanged) == ["bond", "dose", "loan"]
    assert store.manifest("c").generation == generation, "no change must publish nothing"


def test_changed_record_replaces_only_its_chunks(store: FaissStore, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    ingestor(store).run([data], "c", progress=False)
    before = {h.chunk.document_id: h.chunk.row_id for h in _all_hits(store)}
    changed = [dict(r) for r in RECORDS]
    changed[1]["text"] = "Adults take one tablet every four hours."
    report = ingestor(store).run([write_jsonl(data, changed)], "c", progress=False)
    assert report.updated == ["dose"] and sorted(report.unchanged) == ["bond", "loan"]
    after = {h.chunk.document_id: h.chunk.row_id for h in _all_hits(store)}
    assert after["bond"] == before["bond"] and after["loan"] == before["loan"]
    assert after["dose"] != before["dose"]
    assert store.verify("c") == []


def _all_hits(store: FaissStore) -> list:  # type: ignore[type-arg]
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries(["rent tablets 图书"])[0]
    return collection.search(SearchRequest("rent tablets 图书", k=50), vector)


def test_sync_removes_documents_whose_files_are_gone(store: FaissStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha document about bonds.")
    (folder / "b.txt").write_text("Beta document about tablets.")
    ingestor(store).run([folder], "c", progress=False)
    (folder / "b.txt").unlink()
    report = ingestor(store).run([folder], "c", sync=True, progress=False)
    assert report.removed == ["b.txt"]
    assert {h.chunk.document_id for h in _all_hits(store)} == {"a.txt"}


def test_bad_files_are_reported_and_the_rest_ingested(store: FaissStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text("# Title\n\nSome real content here.")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (folder / "notes.xyz").write_text("unsupported")
    report = ingestor(store).run([folder], "c", progress=False)
    assert report.added == ["good.md"]
    assert report.skipped == ["notes.xyz"]
    joined = "\n".join(report.errors)
    for name in ("empty.txt", "binary.txt", "broken.pdf"):
        assert name in joined
    assert sorted(report.failed) == ["binary.txt", "broken.pdf", "empty.txt"]


def test_filters_restrict_results_before_the_cut(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries(["bond rent"])[0]
    only_medical = collection.search(
        SearchRequest("bond rent", k=5, filters={"domain": "medical"}), vector
    )
    assert [h.chunk.document_id for h in only_medical] == ["dose"]
    either = collection.search(
        SearchRequest("bond rent", k=5, filters={"domain": ["legal", "library"]}), vector
    )
    assert {h.chunk.document_id for h in either} == {"bond", "loan"}
    by_id = collection.search(SearchRequest("bond rent", k=5, filters={"document": "loan"}), vector)
    assert [h.chunk.document_id for h in by_id] == ["loan"]
    numeric = collection.search(SearchRequest("bond", k=5, filters={"year": 2024}), vector)
    assert [h.chunk.document_id for h in numeric] == ["bond"]
    with pytest.raises(InvalidInputError, match="filter key"):
        collection.search(SearchRequest("bond", k=5, filters={"bad key'": "x"}), vector)


def test_opening_with_another_embedder_fails_naming_rebuild(
    store: FaissStore, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    ingestor(store).run([data], "c", progress=False)
    other = HashingEmbedder(name="other-model", dimension=64)
    with pytest.raises(IndexMismatchError) as caught:
        ingestor(store, other).run([data], "c", progress=False)
    message = caught.value.detail
    assert "qa index rebuild" in message and "hashing" in message and "other-model" in message
    manifest = store.manifest("c")
    with pytest.raises(IndexMismatchError, match="qa index rebuild"):
        manifest.check_embedder(other.info)


def test_failed_write_leaves_last_generation_serving(store: FaissStore, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    ingestor(store).run([data], "c", progress=False)
    live = store.current_folder("c")
    embedder = HashingEmbedder()
    chunker = {"max_tokens": 64, "overlap_tokens": 8}
    with pytest.raises(RuntimeError, match="boom"), store.writer("c", embedder.info, chunker) as w:
        w.delete("bond")
        raise RuntimeError("boom")
    assert store.current_folder("c") == live
    assert not list((store.index_dir / "c").glob(".tmp-*"))
    assert {h.chunk.document_id for h in _all_hits(store)} == {"bond", "dose", "loan"}


def test_verify_detects_a_tampered_file(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    assert store.verify("c") == []
    dense = store.current_folder("c") / "dense.faiss"
    dense.write_bytes(dense.read_bytes()[:-8])
    problems = store.verify("c")
    assert problems == ["dense.faiss does not match its checksum in the manifest"]


def test_unknown_collection_and_bad_names(store: FaissStore) -> None:
    with pytest.raises(CollectionNotFoundError, match="qa ingest"):
        store.open("missing")
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(InvalidInputError):
            check_name(bad)


def test_reciprocal_rank_fusion_by_hand() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    sparse = [(3, 7.0), (1, 5.0)]
    fused = fuse(dense, sparse, k=3, rrf_k=60)
    scores = {row: score for row, score, _ in fused}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [row for row, _, _ in fused] == [1, 3, 2]
    assert fused[0][2] == {
        "dense_rank": 1,
        "dense_score": 0.9,
        "sparse_rank": 2,
        "sparse_score": 5.0,
    }


def test_chinese_bm25_finds_the_passage(store: FaissStore, tmp_path: Path) -> None:
    """A whitespace tokenizer scores all Chinese 0; character n-grams must not."""
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    collection = store.open("c")
    hits = collection.sparse.search("借期是多少天", 3)
    assert hits and hits[0][1] > 0
    top = collection.docstore.chunks_by_row_ids([hits[0][0]])[hits[0][0]]
    assert top.document_id == "loan"


def _hit(row: int, doc: str, start: int, end: int, text: str, score: float) -> SearchHit:
    chunk = StoredChunk(row, doc, row, start, end, None, None, text, doc, {})
    return SearchHit(chunk, score)


def test_deduplicate_drops_overlapping_and_repeated_passages() -> None:
    hits = [
        _hit(1, "a", 0, 100, "alpha beta gamma delta", 0.9),
        _hit(2, "a", 40, 140, "gamma delta epsilon zeta", 0.8),  # overlaps 60% of #1
        _hit(3, "b", 0, 100, "alpha beta gamma delta", 0.7),  # same text, other document
        _hit(4, "a", 120, 220, "eta theta iota kappa", 0.6),  # same document, no real overlap
        _hit(5, "c", 0, 50, "lambda mu", 0.5),
    ]
    assert [h.chunk.row_id for h in deduplicate(hits, 5)] == [1, 4, 5]
    assert [h.chunk.row_id for h in deduplicate(hits, 2)] == [1, 4]


def test_ranked_hits_fetch_the_best_first_and_the_rest_only_when_needed() -> None:
    """A search reads 2k of its fused candidates, not all of them, unless near-duplicates
    leave fewer than k; either way the hits are those fetching every candidate gives."""
    dense = [(row, 1.0 - row / 100) for row in range(1, 31)]

    def search(texts: dict[int, str]) -> tuple[list[int], list[list[int]]]:
        fetched: list[list[int]] = []

        def fetch(rows: Iterable[int]) -> dict[int, StoredChunk]:
            asked = list(rows)
            fetched.append(asked)
            return {row: _hit(row, f"d{row}", 0, 10, texts[row], 0.0).chunk for row in asked}

        hits = ranked_hits(dense, [], fetch, 10, depth=30, fusion="rrf", alpha=0.5)
        every = [_hit(row, f"d{row}", 0, 10, texts[row], 0.0) for row, _ in dense]
        assert [h.chunk.row_id for h in hits] == [h.chunk.row_id for h in deduplicate(every, 10)]
        return [h.chunk.row_id for h in hits], fetched

    distinct = {row: f"passage {row} about topic{row}" for row in range(1, 31)}
    rows, fetched = search(distinct)
    assert rows == list(range(1, 11)) and fetched == [list(range(1, 21))]
    repeated = {row: "the same words" if row <= 15 else distinct[row] for row in range(1, 31)}
    rows, fetched = search(repeated)
    assert rows == [1, *range(16, 25)]
    assert fetched == [list(range(1, 21)), list(range(21, 31))]


def test_search_modes_use_one_retriever_each(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries(["bond rent"])[0]
    dense = collection.search(SearchRequest("bond rent", k=3, mode="dense"), vector)
    sparse = collection.search(SearchRequest("bond rent", k=3, mode="sparse"), vector)
    hybrid = collection.search(SearchRequest("bond rent", k=3), vector)
    assert all(h.sparse_rank is None and h.dense_rank is not None for h in dense)
    assert all(h.dense_rank is None and h.sparse_rank is not None for h in sparse)
    assert [h.chunk.document_id for h in sparse] == ["bond"], "BM25 matches only the bond text"
    assert hybrid[0].chunk.document_id == "bond"
    assert hybrid[0].dense_rank == 1 and hybrid[0].sparse_rank == 1


def test_rebuild_reembeds_with_another_embedder_and_keeps_documents(
    store: FaissStore, tmp_path: Path
) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    settings = Settings(index_dir=store.index_dir)
    runtime = Runtime(settings)
    runtime.add_embedder(HashingEmbedder())
    runtime.add_embedder(HashingEmbedder(name="other-model", dimension=32))
    before = store.manifest("c")
    report = rebuild(runtime, "c", "other-model")
    after = store.manifest("c")
    assert sorted(report.added) == ["bond", "dose", "loan"]
    assert after.generation == before.generation + 1
    assert after.embedder["name"] == "other-model" and after.embedder["dimension"] == 32
    assert (after.documents, after.chunks) == (before.documents, before.chunks)
    assert runtime.store.verify("c") == []


def test_auto_embedder_is_multilingual_only_for_cjk_text(store: FaissStore, tmp_path: Path) -> None:
    runtime = Runtime(Settings(index_dir=store.index_dir, embedder="auto"))
    english = [Document(id="a", text="Plain English text.")]
    mixed = [*english, Document(id="b", text="每证最多可同时借阅图书10册。")]
    assert runtime.embedder_spec("new", None, english) == "minilm"
    assert runtime.embedder_spec("new", None, mixed) == "e5-multilingual"
    assert runtime.embedder_spec("new", "minilm", mixed) == "minilm"
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    assert runtime.embedder_spec("c", None, mixed) == "hashing", "recorded embedder wins"
    with pytest.raises(IndexMismatchError, match="qa index rebuild --collection c"):
        runtime.embedder_spec("c", "minilm", english)


def test_score_blend_by_hand() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # normalised: 1.0, 0.5, 0.0
    sparse = [(3, 8.0), (4, 4.0)]  # normalised: 1.0, 0.0
    fused = {row: score for row, score, _ in blend(dense, sparse, k=4, alpha=0.5)}
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0})
    assert [row for row, _, _ in blend(dense, sparse, k=2, alpha=0.8)] == [1, 2]


def _store(tmp_path: Path, **settings: object) -> FaissStore:
    index_dir = tmp_path / "idx"
    return FaissStore(index_dir, Settings(index_dir=index_dir, **settings))  # type: ignore[arg-type]


def _documents(n: int) -> list[Document]:
    return [
        Document(id=f"d{i:03d}", title=f"Note {i}", text=f"Record {i} mentions token{i} and ink.")
        for i in range(n)
    ]


def _ids(hits: list[SearchHit]) -> set[str]:
    return {h.chunk.document_id for h in hits}


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_deleted_document_is_gone_from_dense_and_sparse_results(tmp_path: Path, kind: str) -> None:
    store = _store(tmp_path, dense_index=kind)
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    query = "maximum bond four weeks of rent"
    vector = HashingEmbedder().embed_queries([query])[0]
    before = store.open("c")
    assert before.dense.kind == kind
    assert "bond" in _ids(before.search(SearchRequest(query, k=3, mode="dense"), vector))
    assert "bond" in _ids(before.search(SearchRequest(query, k=3, mode="sparse"), vector))
    report = ingestor(store).run(
        [write_jsonl(tmp_path / "d.jsonl", RECORDS[1:])], "c", sync=True, progress=False
    )
    assert report.removed == ["bond"]
    after = store.open("c")
    assert _ids(after.search(SearchRequest(query, k=3, mode="dense"), vector)) == {"dose", "loan"}
    assert "bond" not in _ids(after.search(SearchRequest(query, k=3, mode="sparse"), vector))
    assert "bond" not in _ids(
        after.search(SearchRequest(query, k=3, filters={"document": ["bond", "dose"]}), vector)
    )
    assert store.verify("c") == []


def test_hnsw_deletes_are_tombstones_until_the_graph_is_rebuilt(tmp_path: Path) -> None:
    store = _store(tmp_path, dense_index="hnsw", hnsw_max_deleted=0.25)
    docs = _documents(20)
    ingestor(store).run_documents(docs, "c", IngestReport("c"), progress=False)
    manifest = store.manifest("c")
    assert manifest.dense["kind"] == "hnsw" and manifest.dense["deleted"] == 0
    ingestor(store).run_documents(docs[3:], "c", IngestReport("c"), sync=True, progress=False)
    manifest = store.manifest("c")
    assert manifest.dense == {
        "kind": "hnsw", "vectors": 17, "m": 32, "ef_construction": 64, "deleted": 3
    }  # fmt: skip
    collection = store.open("c")
    assert collection.dense.ids().tolist() == collection.docstore.chunk_row_ids()
    vector = HashingEmbedder().embed_queries(["Record 1 mentions token1"])[0]
    assert "d001" not in _ids(
        collection.search(SearchRequest("token1", k=20, mode="dense"), vector)
    )
    assert len(collection.search(SearchRequest("ink", k=20, mode="dense"), vector)) == 17
    assert store.verify("c") == []
    # 3 + 3 deleted of 20 vectors passes 25%: the graph is rebuilt from the live ones.
    ingestor(store).run_documents(docs[6:], "c", IngestReport("c"), sync=True, progress=False)
    manifest = store.manifest("c")
    assert manifest.dense["deleted"] == 0 and manifest.dense["vectors"] == 14
    assert store.open("c").dense.size == 14


def test_auto_index_type_follows_collection_size(tmp_path: Path) -> None:
    store = _store(tmp_path, dense_index="auto", hnsw_threshold=10)
    docs = _documents(14)
    ingestor(store).run_documents(docs[:10], "c", IngestReport("c"), progress=False)
    assert store.manifest("c").dense["kind"] == "flat", "at the threshold, exact search"
    ingestor(store).run_documents(docs, "c", IngestReport("c"), progress=False)
    assert store.manifest("c").dense["kind"] == "hnsw", "above it, HNSW"
    ingestor(store).run_documents(docs[:6], "c", IngestReport("c"), sync=True, progress=False)
    assert store.manifest("c").dense["kind"] == "hnsw", "stays HNSW above half the threshold"
    ingestor(store).run_documents(docs[:5], "c", IngestReport("c"), sync=True, progress=False)
    assert store.manifest("c").dense == {"kind": "flat", "vectors": 5}
    assert store.verify("c") == []


def test_filtered_hnsw_search_matches_exact_search(tmp_path: Path) -> None:
    store = _store(tmp_path, dense_index="hnsw", hnsw_threshold=5)
    ingestor(store).run_documents(_documents(12), "c", IngestReport("c"), progress=False)
    collection = store.open("c")
    vector = HashingEmbedder().embed_queries(["token7 ink"])[0]
    rows = collection.docstore.row_ids_matching({"document": ["d002", "d007", "d009"]})
    small = collection.dense.search(vector, 2, rows)
    exact = FaissIndex.empty(64, DensePolicy.from_settings(Settings(dense_index="flat")))
    ids, vectors = collection.dense.live()
    exact.add(ids.tolist(), vectors)
    expected = exact.search(vector, 2, rows)
    assert [r for r, _ in small] == [r for r, _ in expected]
    assert [s for _, s in small] == pytest.approx([s for _, s in expected])
    # A subset above the threshold goes through the HNSW graph with a selector.
    everything = collection.docstore.row_ids_matching({"title": [f"Note {i}" for i in range(12)]})
    through_graph = collection.dense.search(vector, 3, everything)
    assert through_graph[0][0] == expected[0][0], "token7's record first"
    assert [s for _, s in through_graph] == pytest.approx([s for _, s in exact.search(vector, 3)])


def test_readers_map_the_index_read_only(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    dense = store.open("c").dense
    with pytest.raises(RuntimeError, match="read-only"):
        dense.remove([1])
    assert dense.size == 3


def test_old_generations_are_collected_keeping_n(tmp_path: Path) -> None:
    store = _store(tmp_path, keep_generations=2)
    docs = _documents(4)
    for n in range(1, 5):
        ingestor(store).run_documents(docs[:n], "c", IngestReport("c"), progress=False)
    root = store.path("c")
    assert sorted(p.name for p in root.iterdir()) == [".lock", "CURRENT", "g000003", "g000004"]
    assert store.current_folder("c").name == "g000004"


def test_rebuild_can_switch_the_dense_index_type(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    assert store.manifest("c").dense["kind"] == "flat"
    settings = Settings(index_dir=store.index_dir, dense_index="hnsw")
    runtime = Runtime(settings)
    runtime.add_embedder(HashingEmbedder())
    rebuild(runtime, "c", progress=False)
    assert store.manifest("c").dense["kind"] == "hnsw"
    assert runtime.store.verify("c") == []


def test_cli_verify_exits_non_zero_saying_what_is_wrong(store: FaissStore, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    command = ["index", "verify", "-c", "c", "--index-dir", str(store.index_dir)]
    assert CliRunner().invoke(app, command).exit_code == 0
    sparse = store.current_folder("c") / "sparse" / "row_ids.npy"
    sparse.write_bytes(sparse.read_bytes()[:-8])
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1
    assert "problem: sparse/row_ids.npy does not match its checksum" in result.stderr


def test_stats_tell_a_running_write_from_debris(store: FaissStore, tmp_path: Path) -> None:
    ingestor(store).run([write_jsonl(tmp_path / "d.jsonl", RECORDS)], "c", progress=False)
    idle = store.stats("c")
    assert (idle["documents"], idle["chunks"], idle["generations"]) == (3, 3, ["g000001"])
    assert idle["dense"] == {"kind": "flat", "vectors": 3} and not idle["writer_active"]
    embedder = HashingEmbedder()
    with store.writer("c", embedder.info, {"max_tokens": 64, "overlap_tokens": 8}):
        busy = store.stats("c")
        assert busy["writer_active"] and busy["debris"] == []


def test_embedder_is_loaded_only_when_a_document_needs_embedding(
    store: FaissStore, tmp_path: Path
) -> None:
    chosen: list[int] = []

    def choose(documents: Sequence[Document]) -> Embedder:
        chosen.append(len(documents))
        return HashingEmbedder()

    lazy = Ingestor(store, choose, ChunkerConfig(48, 8), max_file_bytes=1_000_000)
    lazy.run_documents(_documents(2), "new", IngestReport("new"), progress=False)
    assert chosen == [2], "a new collection needs the embedder's dimension at once"

    docs = _documents(4)
    ingestor(store).run_documents(docs, "c", IngestReport("c"), progress=False)
    chosen.clear()
    again = IngestReport("c")
    lazy.run_documents(docs, "c", again, progress=False)
    removal = IngestReport("c")
    lazy.run_documents(docs[:3], "c", removal, sync=True, progress=False)
    assert chosen == [], "neither an unchanged re-ingest nor a removal loads the embedder"
    assert len(again.unchanged) == 4 and removal.removed == ["d003"]
    assert store.manifest("c").chunker == {"max_tokens": 64, "overlap_tokens": 8}

    changed = [*docs[:2], Document(id="d002", title="Note 2", text="Record 2 is now about quills.")]
    report = IngestReport("c")
    lazy.run_documents(changed, "c", report, progress=False)
    assert chosen == [3] and report.updated == ["d002"] and report.chunks == 1
    assert store.manifest("c").chunker == {"max_tokens": 48, "overlap_tokens": 8}
    assert store.verify("c") == []


def test_a_late_chosen_embedder_must_match_the_recorded_one(
    store: FaissStore, tmp_path: Path
) -> None:
    docs = _documents(3)
    ingestor(store).run_documents(docs, "c", IngestReport("c"), progress=False)
    live = store.current_folder("c")
    other = Ingestor(
        store,
        lambda _docs: HashingEmbedder(name="other-model"),
        ChunkerConfig(64, 8),
        max_file_bytes=1_000_000,
    )
    other.run_documents(docs, "c", IngestReport("c"), progress=False)
    changed = [Document(id="d000", text="Record 0 now mentions chalk.")]
    with pytest.raises(IndexMismatchError, match="other-model"):
        other.run_documents(changed, "c", IngestReport("c"), progress=False)
    assert store.current_folder("c") == live


def test_runtime_refuses_another_embedder_even_when_nothing_changed(
    store: FaissStore, tmp_path: Path
) -> None:
    runtime = Runtime(Settings(index_dir=store.index_dir))
    runtime.add_embedder(HashingEmbedder())
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    runtime.ingest([data], "c", embedder="hashing", progress=False)
    another = tmp_path / "another-embedder"
    another.mkdir()
    with pytest.raises(IndexMismatchError, match="qa index rebuild --collection c"):
        runtime.ingest([data], "c", embedder=str(another), progress=False)


def test_runtime_settings_reach_its_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_KEEP_GENERATIONS", "3")
    monkeypatch.setenv("QA_DENSE_INDEX", "flat")
    runtime = Runtime(Settings(index_dir=tmp_path / "idx", keep_generations=1, dense_index="hnsw"))
    runtime.add_embedder(HashingEmbedder())
    docs = _documents(3)
    for n in (2, 3):
        runtime.ingest_documents(docs[:n], "c", embedder="hashing", progress=False)
    store = runtime.store
    assert store.manifest("c").dense["kind"] == "hnsw"
    assert sorted(p.name for p in store.path("c").iterdir()) == [".lock", "CURRENT", "g000002"]


def test_auto_embedder_goes_multilingual_only_for_a_real_share_of_cjk(tmp_path: Path) -> None:
    runtime = Runtime(Settings(index_dir=tmp_path))
    english = Document(
        "en", "The festival was founded by 宮崎 in Tokyo. " + "Words and more words. " * 200
    )
    chinese = Document("zh", "图书的借期为三十天，可续借一次。" * 5)
    assert runtime.embedder_spec("c", None, [english]) == "minilm"
    assert runtime.embedder_spec("c", None, [english, chinese]) == "e5-multilingual"
    assert runtime.embedder_spec("c", "minilm", [english, chinese]) == "minilm"


def test_every_thread_that_searches_or_adds_uses_one_openmp_thread() -> None:
    """OpenMP keeps its thread count per thread: the API's search threads and the
    ingestion worker must set it themselves, or each search spins a machine-wide pool."""
    import threading

    import faiss
    import numpy as np

    index = FaissIndex.empty(8, DensePolicy.from_settings(Settings(dense_index="flat")))
    seen: dict[str, int] = {}

    def work() -> None:
        seen["before"] = faiss.omp_get_max_threads()
        index.add([1, 2], np.eye(2, 8, dtype=np.float32))
        seen["after add"] = faiss.omp_get_max_threads()
        assert index.search(np.eye(1, 8, dtype=np.float32)[0], 1)[0][0] == 1
        seen["after search"] = faiss.omp_get_max_threads()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["after add"] == seen["after search"] == 1


def test_a_docstore_written_before_chunk_metadata_is_read_and_extended(tmp_path: Path) -> None:
    """A generation written before chunks kept their own metadata (no such column) is
    read as it was, showing the document's; a writer copying it adds the column."""
    import sqlite3

    from qa.store.faiss.docstore import DocStore

    boxes = {"1": [[0.1, 0.1, 0.9, 0.2, 0, 10], [0.1, 0.3, 0.9, 0.4, 11, 21]]}
    metadata = {"ocr": {"engine": "rapidocr", "boxes": boxes}}
    path = tmp_path / "docstore.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL,"
        " metadata TEXT NOT NULL, pages TEXT NOT NULL, sections TEXT NOT NULL, source TEXT,"
        " content_hash TEXT NOT NULL, ingested_at TEXT NOT NULL);"
        "CREATE TABLE chunks (id INTEGER PRIMARY KEY, document_id TEXT NOT NULL, ordinal"
        ' INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, page INTEGER,'
        " section TEXT, text TEXT NOT NULL, UNIQUE (document_id, ordinal));"
    )
    old.execute(
        "INSERT INTO documents VALUES ('scan', '', 'first line second one', ?, '[]', '[]',"
        " NULL, 'h', '2026-01-01')",
        (json.dumps(metadata),),
    )
    old.execute("INSERT INTO chunks VALUES (1, 'scan', 0, 11, 21, 1, NULL, 'second one')")
    old.commit()
    old.close()
    reader = DocStore(path, readonly=True)
    assert reader.chunks_by_row_ids([1])[1].metadata == metadata
    reader.close()
    writer = DocStore(path)
    doc = Document("new", "first line second one", metadata=metadata)
    chunk = writer.chunks_by_row_ids([1])[1].chunk()
    rows = writer.add_document(doc, [replace(chunk, document_id="new")], writer.next_row_id())
    writer.commit()
    shown = writer.chunks_by_row_ids([1, *rows])
    assert shown[1].metadata == metadata  # the old row: the document's, as before
    assert shown[rows[0]].metadata["ocr"]["boxes"] == {"1": [boxes["1"][1]]}
    writer.close()
