"""Streaming against real processes: `qa ask` on a terminal, and a client that hangs up.

Slow: a `qa serve` child with the `tiny` generator over the sample corpus.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import corpus_index_copy, qa_serve

pytestmark = pytest.mark.slow

# A question that makes the tiny model write at length, so a hang-up lands mid-answer.
LONG = (
    "Explain in detail every rule a landlord must follow about the bond, rent increases, "
    "repairs, entry and termination notices, with all the numbers."
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"QA_GENERATOR": "tiny", **extra})
    return env


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, corpus_index_template: Path) -> Path:
    return corpus_index_copy(corpus_index_template, tmp_path_factory.mktemp("stream") / "index")


@pytest.fixture(scope="module")
def server(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = _env(QA_MAX_NEW_TOKENS="1024")
    with qa_serve(index_dir, env, log_path, ready_within_s=300) as base:
        yield base, log_path


def test_a_client_that_hangs_up_stops_generation(server: tuple[str, Path]) -> None:
    base, log_path = server
    with (
        httpx.Client(timeout=300) as client,
        client.stream(
            "POST", f"{base}/v1/ask", json={"question": LONG, "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line == "event: token":
                break
        else:
            pytest.fail("no token event before the stream ended")
    # The connection is closed; the server notices on its next write and must stop.
    deadline = time.monotonic() + 120
    stopped = ""
    while time.monotonic() < deadline and not stopped:
        stopped = next(
            (ln for ln in log_path.read_text().splitlines() if "generation stopped after" in ln), ""
        )
        time.sleep(0.5)
    assert stopped, log_path.read_text()
    pieces = int(stopped.split("generation stopped after ")[1].split()[0])
    assert pieces < 1024

    # The generation slot is free again: a whole answer comes back.
    answer = httpx.post(f"{base}/v1/ask", json={"question": "How long is the loan period?"},
                        timeout=300)  # fmt: skip
    assert answer.status_code == 200 and "found" in answer.json()


def test_finished_stream_is_not_reported_as_stopped(server: tuple[str, Path]) -> None:
    base, log_path = server
    before = log_path.read_text().count("generation stopped after")
    with (
        httpx.Client(timeout=300) as client,
        client.stream(
            "POST",
            f"{base}/v1/ask",
            json={"question": "How long is the loan period?", "stream": True},
        ) as response,
    ):
        events = [ln for ln in response.iter_lines() if ln.startswith("event:")]
    assert events[-1] == "event: answer"
    assert log_path.read_text().count("generation stopped after") == before


def test_cli_streams_tokens_on_a_terminal(index_dir: Path) -> None:
    """On a terminal the raw tokens come first, while the process is still running;
    the grounded answer follows. Piped, only the grounded answer is written."""
    question = "How long is the loan period?"
    args = [sys.executable, "-m", "qa", "ask", question, "--index-dir", str(index_dir)]
    master, slave = pty.openpty()
    child = subprocess.Popen(args, stdout=slave, stderr=subprocess.DEVNULL, env=_env())
    os.close(slave)
    output = b""
    first_while_running = False
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            if not output and child.poll() is None:
                first_while_running = True
            output += data
        elif child.poll() is not None:
            break
    child.wait(timeout=60)
    os.close(master)
    assert child.returncode == 0
    assert first_while_running
    piped = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)
    assert piped.returncode == 0
    final = piped.stdout.strip()
    terminal = output.decode("utf-8", "replace").replace("\r\n", "\n")
    assert terminal.rstrip().endswith(final)
    assert len(terminal.strip()) > len(final)  # the streamed draft came first
