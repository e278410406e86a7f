"""A short run of the bounded load test (scripts/load_test.py): askers and an upload loop
against a `qa serve` the script starts, with the `tiny` generator and a 10 s answer
deadline, so that the queue fills, some answers time out and the run stays short.

Slow: a real server loading the tiny generator and the e5 embedder. The full run (16
askers, two minutes, the `fast` generator) is the script's default:
`.venv/bin/python scripts/load_test.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.slow

ASKERS = 4


def test_short_load_run_meets_every_bound(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    # e5's quantised engine loads in a fraction of a second, MiniLM in several.
    env.update(
        QA_GENERATOR="tiny",
        QA_EMBEDDER="e5-multilingual",
        QA_REQUEST_TIMEOUT_S="10",
        QA_MAX_NEW_TOKENS="32",
    )
    report_path = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "load_test.py"), "--seconds", "15",
         "--askers", str(ASKERS), "--corpus", str(CORPUS / "medicine" / "clinic-opening-hours.txt"),
         "--report", str(report_path)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    report = json.loads(report_path.read_text())
    assert report["violations"] == []
    requests = report["requests"]
    # Every asker asked, and the upload loop went round at least once: upload, job, delete.
    assert requests["ask"]["requests"] >= ASKERS
    assert requests["upload"]["statuses"].get("202", 0) >= 2  # the corpus, then the loop
    assert requests["delete"]["statuses"].get("204", 0) >= 1
    # The memory and audit checks ran (not skipped for want of their input) and held.
    assert report["memory"]["peak_mb"] >= report["memory"]["baseline_mb"] > 0
    sent = sum(kind["requests"] for kind in requests.values())
    assert report["audit"] == {"path": report["audit"]["path"], "requests_sent": sent, "missing": 0}
