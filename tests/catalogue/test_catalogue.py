"""The catalogue's contract on both of its databases: SQLite (one machine) and a real
PostgreSQL server started by the tests (several replicas sharing one catalogue)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from qa.catalogue import Catalogue
from qa.errors import CatalogueUnavailableError, InvalidInputError


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    if request.param == "sqlite":
        yield tmp_path / "catalogue.sqlite"
        return
    import psycopg

    base: str = request.getfixturevalue("postgres_url")
    name = f"qa_{abs(hash(tmp_path)) % 10**9}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_keys_are_hashed_scoped_and_revocable(location: str | Path) -> None:
    catalogue = Catalogue(location)
    key, token = catalogue.create_key("clerk", "reader", ["legal", "legal", " medical "])
    assert key.collections == ("legal", "medical") and key.role == "reader"
    # Another process (a second replica) sees the same key at once.
    other = Catalogue(location)
    assert other.authenticate(token) == key
    assert other.authenticate(token[:-1] + "x") is None
    assert other.authenticate("qa_nothere_secret") is None and other.authenticate("Bearer") is None
    assert key.allows("legal") and not key.allows("finance") and not key.at_least("writer")
    assert other.has_active_keys()
    assert catalogue.revoke_key(key.id) and not catalogue.revoke_key(key.id)
    assert other.authenticate(token) is None and not other.has_active_keys()
    with pytest.raises(InvalidInputError, match="role"):
        catalogue.create_key("x", "boss", ["*"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at least one collection"):
        catalogue.create_key("x", "reader", [" "])


def test_collections_created_over_http(location: str | Path) -> None:
    catalogue = Catalogue(location)
    assert catalogue.add_collection("legal", "minilm")
    assert not catalogue.add_collection("legal", "e5-multilingual")
    assert catalogue.collection_embedder("legal") == (True, "minilm")
    assert catalogue.collection_embedder("other") == (False, None)
    catalogue.remove_collection("legal")
    assert catalogue.collection_names() == []


def test_jobs_are_claimed_once_in_order_by_their_owner(
    location: str | Path, tmp_path: Path
) -> None:
    mine, theirs = Catalogue(location, owner="a"), Catalogue(location, owner="b")
    first = mine.create_job("legal", tmp_path, ["1.txt"], None)
    second = mine.create_job("legal", tmp_path, ["2.txt"], "key1")
    foreign = theirs.create_job("legal", tmp_path, ["3.txt"], None)
    assert mine.queued_jobs() == 3
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := mine.claim_next_job()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted([first.id, second.id])  # each once, none of b's
    assert theirs.claim_next_job() == theirs.job(foreign.id)
    mine.job_progress(first.id, 3, 10, "reading", "scan.pdf")
    mine.finish_job(second.id, "done", ["bad.pdf: not a readable PDF"], {"added": ["2.txt"]})
    view = theirs.job(second.id)
    assert view is not None and view.status == "done" and view.key_id == "key1"
    assert view.errors == ["bad.pdf: not a readable PDF"] and view.result == {"added": ["2.txt"]}
    progress = theirs.job(first.id)
    assert progress is not None and (progress.done, progress.total) == (3, 10)
    assert progress.to_dict()["progress"] == {
        "done": 3,
        "total": 10,
        "fraction": 0.3,
        "phase": "reading",
        "unit": "pages",
        "file": "scan.pdf",
    }
    # A restart of owner a fails a's running job, not b's.
    assert mine.fail_interrupted_jobs() == [str(tmp_path)]
    failed = mine.job(first.id)
    assert failed is not None and failed.status == "failed"
    still = mine.job(foreign.id)
    assert still is not None and still.status == "running"


def test_an_unreachable_database_is_a_clear_503() -> None:
    with pytest.raises(CatalogueUnavailableError, match=r"cannot reach .*postgresql://qa:\*\*\*@"):
        Catalogue("postgresql://qa:secret@127.0.0.1:1/qa")


def test_page_pictures_are_kept_per_document_version_and_pruned(location: str | Path) -> None:
    from qa.catalogue import PageImages
    from qa.records import Document

    pictures = PageImages(location)
    first = Document("scan.pdf", "v1", page_images={"1": b"\xff\xd8one", "2": b"\xff\xd8two"})
    second = Document("scan.pdf", "v2", page_images={"1": b"\xff\xd8new"})
    other = Document("fax.tif", "fax", page_images={"1": b"\xff\xd8fax"})
    for doc in (first, second, other):
        pictures.put("legal", doc)
    pictures.put("medical", first)
    pictures.put("legal", first)  # an unchanged re-ingest writes nothing twice
    assert pictures.get("legal", "scan.pdf", first.content_hash, "2") == b"\xff\xd8two"
    assert pictures.get("legal", "scan.pdf", second.content_hash, "1") == b"\xff\xd8new"
    assert pictures.get("legal", "scan.pdf", second.content_hash, "2") is None
    assert pictures.get("other", "scan.pdf", first.content_hash, "1") is None
    # Another replica sees them; pruning keeps only the versions named, in one collection.
    keep = {("scan.pdf", second.content_hash), ("fax.tif", other.content_hash)}
    assert PageImages(location).prune("legal", keep) == 1
    assert pictures.get("legal", "scan.pdf", first.content_hash, "1") is None
    assert pictures.get("legal", "scan.pdf", second.content_hash, "1") == b"\xff\xd8new"
    assert pictures.get("medical", "scan.pdf", first.content_hash, "1") == b"\xff\xd8one"
    assert pictures.prune("legal", keep) == 0
    pictures.remove("legal")
    assert pictures.get("legal", "fax.tif", other.content_hash, "1") is None
    assert pictures.get("medical", "scan.pdf", first.content_hash, "2") == b"\xff\xd8two"


def test_a_jobs_table_made_before_ocr_gains_its_progress_columns(location: str | Path) -> None:
    """A catalogue an earlier version created keeps its jobs and gains `phase` and `file`,
    on the first start of this version, however many processes start at once."""
    from qa.catalogue import jobs
    from qa.catalogue.backend import open_backend

    backend = open_backend(location)
    backend.create(jobs.SCHEMA)  # the table as the earlier version made it
    with backend.connect() as db:
        columns = db.execute("SELECT * FROM jobs WHERE 1 = 0")
        assert "phase" not in [c[0] for c in columns.description]
        db.execute(
            "INSERT INTO jobs (id, collection, status, spool, files, owner, seq, created_at) "
            "VALUES ('old', 'docs', 'done', '/tmp/x', '[\"a.txt\"]', 'a', 1, '2026-01-01')"
        )
    failures: list[BaseException] = []

    def start() -> None:
        try:
            Catalogue(location)
        except BaseException as exc:  # the test's assertion reports it
            failures.append(exc)

    started = [threading.Thread(target=start) for _ in range(4)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert failures == []
    catalogue = Catalogue(location)
    old = catalogue.job("old")
    assert old is not None and old.files == ["a.txt"] and old.phase is None
    new = catalogue.create_job("docs", Path("/tmp/y"), ["b.pdf"], None)
    catalogue.job_progress(new.id, 0, 4, "reading", "b.pdf")
    assert catalogue.job(new.id).to_dict()["progress"]["unit"] == "pages"  # type: ignore[union-attr]
