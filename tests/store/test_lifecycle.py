"""Crash safety with real processes: `qa ingest` and `qa index rebuild` killed with SIGKILL
at distinct moments, a server answering searches through a rebuild, and interrupted
generator joins and conversions.

Kills during embedding are timed from outside: the test watches the child's progress
output and kills it as embedding starts. The publish steps (renaming the finished
generation into place, swapping `CURRENT`, collecting old generations) take microseconds,
too short for an outside observer to hit, so for those the child runs the real `qa` command
line with the one file-system call of that step wrapped to SIGKILL its own process first:
nothing is stubbed, the process just dies exactly there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.models.protocols import Embedder
from qa.records import SearchRequest
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.backend import open_store
from qa.store.faiss.generations import CURRENT
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TOPICS = [
    "library opening hours", "parking permits", "recycling collection", "swimming lessons",
    "council tax payments", "street lighting repairs", "school admissions", "noise complaints",
    "allotment plots", "bus pass renewals", "tree preservation orders", "market stall licences",
]  # fmt: skip
COLLECTION = "c"


def notice(i: int, kind: str = "notice") -> tuple[str, str, str]:
    """(file name, text, a query that should find it): one chunk of real-looking prose."""
    topic = TOPICS[i % len(TOPICS)]
    text = (
        f"{kind.title()} {i} about {topic}. The office in building {i} handles {topic} on "
        f"weekday mornings from {8 + i % 4} o'clock. Residents should quote reference "
        f"R{kind[0]}{i:04d} when they write to the council about this {kind}."
    )
    return f"{kind}-{i:03d}.txt", text, f"{kind} {i} {topic} reference R{kind[0]}{i:04d}"


BASE = [notice(i) for i in range(120)]


@dataclass
class Base:
    index_dir: Path
    corpus: Path
    embedder: Embedder


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """One committed generation of 120 documents, embedded with the real MiniLM."""
    root = tmp_path_factory.mktemp("base")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text, _ in BASE:
        (corpus / name).write_text(text)
    runtime = Runtime(Settings(index_dir=root / "idx"))
    report = runtime.ingest([corpus], COLLECTION, embedder="minilm", progress=False)
    assert len(report.added) == len(BASE)
    return Base(root / "idx", corpus, runtime.embedder("minilm"))


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill_when_embedding(self) -> None:
        """SIGKILL it as soon as its progress bar shows that embedding has begun."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if f"embedding {COLLECTION}" in self.log.read_text(errors="replace"):
                self.process.send_signal(signal.SIGKILL)
                assert self.process.wait(timeout=30) == -signal.SIGKILL
                return
            assert self.process.poll() is None, f"exited before embedding: {self.output()}"
            time.sleep(0.01)
        self.process.kill()
        pytest.fail(f"the child never started embedding: {self.output()}")

    def dies_by_sigkill(self) -> None:
        code = self.process.wait(timeout=180)
        assert code == -signal.SIGKILL, f"exit {code}: {self.output()}"

    def succeeds(self) -> None:
        code = self.process.wait(timeout=180)
        assert code == 0, f"exit {code}: {self.output()}"


@dataclass
class Workspace:
    index_dir: Path
    corpus: Path
    logs: Path
    embedder: Embedder

    @property
    def root(self) -> Path:
        return self.index_dir / COLLECTION

    def current(self) -> str:
        return (self.root / CURRENT).read_text().strip()

    def debris(self) -> list[str]:
        live = self.current()
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.name.startswith(".tmp-") or (p.name.startswith("g") and p.name > live)
        )

    def add(self, files: list[tuple[str, str, str]]) -> None:
        for name, text, _ in files:
            (self.corpus / name).write_text(text)

    def start(self, *args: str, crash_at: str | None = None, **env: str) -> Child:
        """`qa ARGS -c c --index-dir ...` in a child process, output to a log file."""
        command = ["-m", "qa"] if crash_at is None else ["-c", CRASH_DRIVER, crash_at]
        log = self.logs / f"{len(list(self.logs.iterdir()))}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, *command, *args, "-c", COLLECTION,
                 "--index-dir", str(self.index_dir)],
                cwd=self.logs, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
            )  # fmt: skip
        return Child(process, log)

    def verify(self) -> None:
        """`qa index verify` on the live generation, as an operator would run it."""
        done = subprocess.run(
            [sys.executable, "-m", "qa", "index", "verify", "-c", COLLECTION,
             "--index-dir", str(self.index_dir)],
            cwd=self.logs, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{COLLECTION}: ok"

    def assert_serves_exactly(self, files: list[tuple[str, str, str]]) -> None:
        """Every one of these documents is stored and found by a search for it; no other is."""
        runtime = Runtime(Settings(index_dir=self.index_dir))
        runtime.add_embedder(self.embedder)
        collection = runtime.collection(COLLECTION)
        assert set(collection.docstore.content_hashes()) == {name for name, _, _ in files}
        queries = [query for _, _, query in files]
        vectors = self.embedder.embed_queries(queries)
        missing = [
            name
            for (name, _, query), vector in zip(files, vectors, strict=True)
            if name
            not in {
                h.chunk.document_id for h in collection.search(SearchRequest(query, k=10), vector)
            }
        ]
        assert not missing, f"committed documents not found by search: {missing}"

    def next_run_cleans_up(self, files: list[tuple[str, str, str]]) -> None:
        """The next ingest removes the crashed writer's debris and publishes what is new."""
        runtime = Runtime(Settings(index_dir=self.index_dir))
        runtime.add_embedder(self.embedder)
        runtime.ingest([self.corpus], COLLECTION, progress=False)
        assert self.debris() == []
        self.assert_serves_exactly(files)


# Runs the real command line with one step of publishing made fatal.
CRASH_DRIVER = """
import os, shutil, signal, sys
from pathlib import Path

crash_at = sys.argv.pop(1)
rename, replace, rmtree = os.rename, os.replace, shutil.rmtree

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def fatal_rename(src, dst, *args, **kwargs):
    temp_to_generation = Path(src).name.startswith(".tmp-") and Path(dst).name[0] == "g"
    if crash_at == "before-rename" and temp_to_generation:
        die()  # the temp generation is complete and fsynced, not yet renamed into place
    return rename(src, dst, *args, **kwargs)

def fatal_replace(src, dst, *args, **kwargs):
    if crash_at == "before-swap" and Path(dst).name == "CURRENT":
        die()  # the new generation folder is in place, CURRENT still names the old one
    return replace(src, dst, *args, **kwargs)

def fatal_rmtree(path, *args, **kwargs):
    if crash_at == "during-gc" and Path(path).name.startswith(".tmp-gc-"):
        next(p for p in Path(path).rglob("*") if p.is_file()).unlink()
        die()  # CURRENT swapped, an old generation half deleted
    return rmtree(path, *args, **kwargs)

os.rename, os.replace, shutil.rmtree = fatal_rename, fatal_replace, fatal_rmtree
sys.argv[0] = "qa"
from qa.cli import main
main()
"""


@pytest.fixture
def work(base: Base, tmp_path: Path) -> Workspace:
    shutil.copytree(base.index_dir, tmp_path / "idx")
    shutil.copytree(base.corpus, tmp_path / "corpus")
    (tmp_path / "logs").mkdir()
    return Workspace(tmp_path / "idx", tmp_path / "corpus", tmp_path / "logs", base.embedder)


def interrupted_temp_generation(work: Workspace) -> Path:
    temps = [p for p in work.root.glob(".tmp-*") if p.is_dir()]
    assert len(temps) == 1, temps
    return temps[0]


def test_ingest_killed_while_embedding(work: Workspace) -> None:
    extra = [notice(i, "bulletin") for i in range(100)]
    work.add(extra)
    work.start("ingest", str(work.corpus)).kill_when_embedding()
    temp = interrupted_temp_generation(work)
    assert not (temp / "manifest.json").exists(), "killed before publishing began"
    assert work.current() == "g000001"
    described = open_store(Settings(index_dir=work.index_dir)).stats(COLLECTION)
    assert described["debris"] == [temp.name] and not described["writer_active"]
    work.verify()
    work.assert_serves_exactly(BASE)
    work.next_run_cleans_up(BASE + extra)
    assert work.current() == "g000002"


def test_ingest_killed_after_writing_the_generation_before_the_swap(work: Workspace) -> None:
    extra = [notice(i, "bulletin") for i in range(3)]
    work.add(extra)
    work.start("ingest", str(work.corpus), crash_at="before-swap").dies_by_sigkill()
    assert (work.root / "g000002" / "manifest.json").is_file()
    assert work.current() == "g000001" and work.debris() == [".tmp-CURRENT", "g000002"]
    work.verify()
    work.assert_serves_exactly(BASE)
    work.next_run_cleans_up(BASE + extra)
    assert work.current() == "g000002"


def test_ingest_killed_while_collecting_old_generations(work: Workspace) -> None:
    extra = [notice(i, "bulletin") for i in range(3)]
    work.add(extra)
    child = work.start("ingest", str(work.corpus), crash_at="during-gc", QA_KEEP_GENERATIONS="1")
    child.dies_by_sigkill()
    assert work.current() == "g000002", "the swap happened: the change is committed"
    assert work.debris() == [".tmp-gc-g000001"]
    work.verify()
    work.assert_serves_exactly(BASE + extra)
    work.next_run_cleans_up(BASE + extra)


def test_rebuild_killed_while_embedding(work: Workspace) -> None:
    work.start("index", "rebuild").kill_when_embedding()
    temp = interrupted_temp_generation(work)
    assert not (temp / "manifest.json").exists()
    assert work.current() == "g000001"
    work.verify()
    work.assert_serves_exactly(BASE)
    work.next_run_cleans_up(BASE)


def test_rebuild_killed_with_a_complete_generation_not_yet_in_place(work: Workspace) -> None:
    work.start("index", "rebuild", crash_at="before-rename").dies_by_sigkill()
    temp = interrupted_temp_generation(work)
    assert (temp / "manifest.json").is_file() and (temp / "dense.faiss").is_file()
    assert work.current() == "g000001"
    work.verify()
    work.assert_serves_exactly(BASE)
    work.next_run_cleans_up(BASE)


def test_server_answers_throughout_a_rebuild_and_switches(work: Workspace) -> None:
    """Searches in a loop while `qa index rebuild` re-chunks into smaller chunks and
    switches to HNSW, keeping a single generation (the one being read is deleted)."""
    app = create_app(Settings(index_dir=work.index_dir), warm=False)
    queries = [query for _, _, query in BASE]
    with TestClient(app) as client:
        runtime = app.state.qa.runtime
        runtime.add_embedder(work.embedder)

        def search(n: int) -> list[dict[str, object]]:
            response = client.post(
                "/v1/search", json={"query": queries[n % len(queries)], "collection": "c", "k": 5}
            )
            assert response.status_code == 200, response.text
            results: list[dict[str, object]] = response.json()["results"]
            assert results, f"empty result for {queries[n % len(queries)]!r}"
            return results

        assert {str(r["chunk_id"])[-2:] for r in search(0)} == {"#0"}
        child = work.start(
            "index", "rebuild", "--dense", "hnsw", QA_CHUNK_TOKENS="32", QA_KEEP_GENERATIONS="1"
        )
        during = 0
        while child.process.poll() is None:
            search(during)
            during += 1
        child.succeeds()
        assert during >= 10, "the loop should have overlapped the rebuild"
        after = {str(r["chunk_id"])[-2:] for n in range(len(queries)) for r in search(n)}
        assert after - {"#0"}, "the smaller chunks of the new generation are served"
        assert runtime.collection(COLLECTION).dense.kind == "hnsw"
    assert sorted(p.name for p in work.root.iterdir()) == [".lock", CURRENT, "g000002"]
    work.verify()


CONVERTER = """
import sys, tempfile, time
from pathlib import Path
from qa.models.conversion import COMPLETE_MARKER, conversion_lock

dest, action = Path(sys.argv[1]), sys.argv[2]
with conversion_lock(dest):
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    (tmp / "model.safetensors").write_bytes(b"partial weights")
    print(tmp, flush=True)
    sys.stdin.readline()
    if action == "finish":
        (tmp / COMPLETE_MARKER).write_text("sha\\n")
        tmp.replace(dest)
"""


def wait_until_someone_waits_for(lock: Path) -> None:
    """Until /proc/locks lists a process blocked on this file's lock ('->' entries)."""
    inode = f":{lock.stat().st_ino}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "->" in fields and any(f.endswith(inode) for f in fields):
                return
        time.sleep(0.01)
    pytest.fail(f"nobody blocked on {lock}")


@pytest.fixture
def conversions(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def converter(
    dest: Path, action: str, started: list[subprocess.Popen[str]]
) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", CONVERTER, str(dest), action],
        cwd=dest.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    started.append(process)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_conversion_debris_of_a_killed_process_is_removed_next_time(
    tmp_path: Path, conversions: list[subprocess.Popen[str]]
) -> None:
    from qa.models.conversion import conversion_lock, remove_stale

    dest = tmp_path / "generators" / "tiny-0123-f16"
    dest.parent.mkdir()
    process, temp = converter(dest, "hang", conversions)
    assert temp.is_dir()
    process.send_signal(signal.SIGKILL)
    process.wait()
    with conversion_lock(dest):
        assert remove_stale(dest) == [temp]
    assert not temp.exists()


def test_conversion_waits_for_a_live_converter_instead_of_deleting_its_work(
    tmp_path: Path, conversions: list[subprocess.Popen[str]]
) -> None:
    import torch

    from qa.models.conversion import convert_gguf, is_complete

    dest = tmp_path / "generators" / "tiny-0123-f16"
    dest.parent.mkdir()
    process, temp = converter(dest, "finish", conversions)
    result: list[Path] = []
    waiter = threading.Thread(
        target=lambda: result.append(
            convert_gguf(tmp_path / "absent.gguf", dest, dtype=torch.float16)
        )
    )
    waiter.start()
    wait_until_someone_waits_for(dest.parent / f".{dest.name}.lock")
    assert temp.is_dir(), "the waiting converter left the live one's folder alone"
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.wait(timeout=60) == 0, "its temp folder survived until it was renamed"
    waiter.join(timeout=60)
    assert result == [dest] and is_complete(dest)
    assert not temp.exists()


# The real `generator_folder` for the tiny preset, stopped once a join has written all of
# its `.part` file, before the fsync that precedes publishing it: "die" kills the process
# there, "pause" holds it there (with the lock) until it is killed.
JOINER = """
import os, signal, sys
from pathlib import Path
from qa.models.registry import generator_folder

cache, action = Path(sys.argv[1]), sys.argv[2]
fsync = os.fsync

def stop_after_join(fd):
    path = os.readlink(f"/proc/self/fd/{fd}")
    if path.endswith(".part"):
        print(path, flush=True)
        if action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()
    return fsync(fd)

os.fsync = stop_after_join
generator_folder("tiny", cache)
"""


def joiner(cache: Path, action: str, started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", JOINER, str(cache), action],
        cwd=cache.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    started.append(process)
    return process


def joined_part(process: subprocess.Popen[str]) -> Path:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, f"the join never reached its end (exit {process.poll()})"
    return Path(line)


def test_join_debris_of_a_killed_process_is_removed_next_time_never_a_live_one(
    tmp_path: Path, conversions: list[subprocess.Popen[str]]
) -> None:
    from qa.models.registry import GENERATOR_PRESETS

    cache = tmp_path / "cache"
    gguf = cache / "gguf" / f"{GENERATOR_PRESETS['tiny'].sha256[:16]}.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"joined, then the conversion from it was killed")
    killed = joiner(cache, "die", conversions)
    killed_part = joined_part(killed)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    assert killed_part.stat().st_size > 0

    live = joiner(cache, "pause", conversions)
    live_part = joined_part(live)
    assert not killed_part.exists() and not gguf.exists(), "the next run removed both"
    assert live_part.is_file() and live_part != killed_part

    waiting = joiner(cache, "pause", conversions)
    wait_until_someone_waits_for(gguf.parent / f".{gguf.name}.lock")
    assert live_part.is_file(), "a run waiting for the lock leaves the live join alone"
    live.kill()
    live.wait()
    waiting_part = joined_part(waiting)
    assert not live_part.exists(), "once its writer is dead, its file is debris"
    assert sorted(p.name for p in gguf.parent.iterdir()) == [
        f".{gguf.name}.lock",
        waiting_part.name,
    ]


def test_cron_rebuild_script_rebuilds_verifies_and_reports_by_exit_status(
    work: Workspace,
) -> None:
    def rebuild_index(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "rebuild_index.py"),
             "--index-dir", str(work.index_dir), *args],
            cwd=work.logs, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    absent = rebuild_index("--collection", "absent")
    assert absent.returncode == 4 and "absent" in absent.stderr
    done = rebuild_index()
    assert done.returncode == 0, done.stderr
    assert f"{COLLECTION}: generation 2, 120 documents, 120 chunks, flat dense index" in done.stderr
    work.assert_serves_exactly(BASE)
