"""Reading files ahead of the embedder: order, bounded memory, errors, shutdown, and the
same collection as reading everything first."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from qa.errors import InvalidInputError, LoaderError
from qa.ingest import loaders
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.pipeline import Ingestor
from qa.ingest.read_ahead import ReadAhead
from qa.models.protocols import Vectors
from qa.records import Document, SearchRequest
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import HashingEmbedder

FILES = [(Path(f"f{i}.txt"), f"f{i}.txt") for i in range(20)]


def test_results_come_in_order_and_the_reader_stays_within_depth() -> None:
    read: list[str] = []

    def reader(file: Path, document_id: str) -> str:
        read.append(document_id)
        return document_id

    seen = []
    with ReadAhead(FILES, reader, depth=3) as files:
        for name in files:
            seen.append(name)
            time.sleep(0.02)  # a slow consumer: the reader must wait for it
            # queued (depth) + one blocked in its put + those consumed
            assert len(read) <= len(seen) + 3 + 1
    assert seen == [d for _, d in FILES]


def test_an_error_in_the_reader_is_raised_in_the_iterating_thread() -> None:
    def reader(file: Path, document_id: str) -> str:
        if document_id == "f2.txt":
            raise RuntimeError("broken reader")
        return document_id

    seen: list[str] = []
    with pytest.raises(RuntimeError, match="broken reader"), ReadAhead(FILES, reader, depth=2) as f:
        seen.extend(f)
    assert seen == ["f0.txt", "f1.txt"]


def test_leaving_early_stops_the_reader() -> None:
    read: list[str] = []

    def reader(file: Path, document_id: str) -> str:
        read.append(document_id)
        return document_id

    ahead = ReadAhead(FILES, reader, depth=2)
    with ahead as files:
        next(iter(files))
    count = len(read)
    assert count < len(FILES)
    assert not ahead._thread.is_alive()
    time.sleep(0.1)
    assert len(read) == count, "nothing is read once the ingestion has ended"


def test_the_reader_sees_the_callers_context_variables() -> None:
    hook: contextvars.ContextVar[str] = contextvars.ContextVar("hook", default="none")
    hook.set("job 7")
    with ReadAhead(FILES[:2], lambda f, d: hook.get(), depth=1) as files:
        assert list(files) == ["job 7", "job 7"]


class SignallingEmbedder(HashingEmbedder):
    """Sets `embedded` on its first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = threading.Event()

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        vectors = super().embed_passages(texts)
        self.embedded.set()
        return vectors


def _write(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"doc{i:02}.txt").write_text(f"Document {i} says the fee is {i} dollars.\n")
    return folder


def test_a_batch_embeds_while_later_files_are_still_being_read(tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", 4)
    embedder = SignallingEmbedder()
    overlapped: list[bool] = []

    def slow_reader(path: Path, document_id: str, *, max_bytes: int) -> Iterable[Document]:
        if document_id != "doc00.txt":
            # Only a reader running beside the embedder sees the first batch embedded.
            overlapped.append(embedder.embedded.wait(timeout=3))
        return loaders.load(path, document_id, max_bytes=max_bytes)

    store = FaissStore(tmp_path / "idx")
    ingestor = Ingestor(
        store,
        embedder,
        ChunkerConfig(64, 8),
        max_file_bytes=10_000,
        batch_size=1,
        read_file=slow_reader,
        read_ahead=2,
    )
    report = ingestor.run([folder], "c", progress=False)
    assert report.added == [f"doc{i:02}.txt" for i in range(4)]
    assert overlapped == [True, True, True]


def test_reading_ahead_builds_the_same_collection_as_reading_first(tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", 12)
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    (folder / "empty.txt").write_text("   \n")
    reports, results = [], []
    for read_ahead in (0, 3):
        store = FaissStore(tmp_path / f"idx{read_ahead}")
        ingestor = Ingestor(
            store,
            HashingEmbedder(),
            ChunkerConfig(64, 8),
            max_file_bytes=10_000,
            batch_size=4,
            read_ahead=read_ahead,
        )
        (folder / "doc03.txt").write_text("Document 3 says the fee is 3 dollars.\n")
        first = ingestor.run([folder], "c", progress=False)
        (folder / "doc03.txt").write_text("Document 3 now says the fee is 30 dollars.\n")
        (folder / "doc05.txt").unlink()
        second = ingestor.run([folder], "c", progress=False, sync=True)
        (folder / "doc05.txt").write_text("Document 5 says the fee is 5 dollars.\n")
        reports.append([(r.added, r.updated, r.unchanged, r.removed, r.errors, r.skipped,
                         r.chunks) for r in (first, second)])  # fmt: skip
        hits = store.open("c").search(
            SearchRequest("fee dollars", k=20), HashingEmbedder().embed_queries(["fee dollars"])[0]
        )
        results.append(sorted((h.chunk.document_id, h.chunk.text) for h in hits))
        assert store.verify("c") == []
    assert reports[0] == reports[1]
    assert results[0] == results[1]
    assert reports[1][1][3] == ["doc05.txt"] and reports[1][1][1] == ["doc03.txt"]


def test_a_failed_embedding_leaves_the_last_generation_and_stops_the_reader(
    tmp_path: Path,
) -> None:
    folder = _write(tmp_path / "docs", 6)
    store = FaissStore(tmp_path / "idx")
    Ingestor(store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=10_000).run(
        [folder], "c", progress=False
    )
    generation = store.manifest("c").generation

    class Failing(HashingEmbedder):
        def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
            raise RuntimeError("embedder crashed")

    for i in range(6):
        (folder / f"doc{i:02}.txt").write_text(f"Changed document {i}.\n")
    before = {t.name for t in threading.enumerate()}
    failing = Ingestor(
        store, Failing(), ChunkerConfig(64, 8), max_file_bytes=10_000, batch_size=1, read_ahead=2
    )
    with pytest.raises(RuntimeError, match="embedder crashed"):
        failing.run([folder], "c", progress=False)
    assert store.manifest("c").generation == generation
    assert store.verify("c") == []
    assert "qa-read-ahead" not in {t.name for t in threading.enumerate()} - before


def test_a_missing_path_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    folder = _write(tmp_path / "docs", 2)
    read: list[str] = []

    def reader(path: Path, document_id: str, *, max_bytes: int) -> Iterable[Document]:
        read.append(document_id)
        raise LoaderError(f"{document_id}: unreadable")

    ingestor = Ingestor(
        FaissStore(tmp_path / "idx"),
        HashingEmbedder(),
        ChunkerConfig(64, 8),
        max_file_bytes=10_000,
        read_file=reader,
        read_ahead=2,
    )
    with pytest.raises(InvalidInputError, match="no such file"):
        ingestor.run([folder, tmp_path / "absent"], "c", progress=False)
    assert read == []


def test_the_runtime_reads_ahead_only_once_the_embedder_is_known(tmp_path: Path) -> None:
    runtime = Runtime(Settings(index_dir=tmp_path / "idx", embedder="auto", read_ahead_files=5))
    runtime.add_embedder(HashingEmbedder("minilm"))
    assert runtime._ingestor("c", None).read_ahead == 0, "auto: every document counts"
    assert runtime._ingestor("c", "minilm").read_ahead == 5
    runtime.ingest_documents([Document("a", "Some text about fees.")], "c", embedder="minilm")
    assert runtime._ingestor("c", None).read_ahead == 5, "an existing collection's embedder"
