"""`qa ingest` through the real command line, in a child process: re-ingesting an
unchanged folder must not pay for loading the embedder, the cost that dominated it
(torch and sentence-transformers alone take seconds to import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HEAVY = ("torch", "sentence_transformers", "transformers")

# The real `qa` entry point; on exit it reports which heavy libraries the command imported.
PROBE = f"""
import json, sys
sys.argv[0] = "qa"
from qa.cli import main
try:
    main()
finally:
    heavy = [name for name in {HEAVY!r} if name in sys.modules]
    sys.stderr.write("HEAVY " + json.dumps(heavy) + "\\n")
"""


def qa_ingest(folder: Path, index_dir: Path, *args: str) -> tuple[str, list[str]]:
    """(stdout, heavy modules imported) of `qa ingest FOLDER -c c --index-dir ... ARGS`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "ingest", str(folder), "-c", "c",
         "--index-dir", str(index_dir), *args],
        cwd=folder.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    marker = [line for line in done.stderr.splitlines() if line.startswith("HEAVY ")]
    return done.stdout, json.loads(marker[-1].removeprefix("HEAVY "))


def test_unchanged_reingest_loads_no_model(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"n{i}.txt").write_text(f"Notice {i}: the office opens at {8 + i} o'clock.")
    index_dir = tmp_path / "idx"

    first, heavy = qa_ingest(folder, index_dir, "--embedder", "minilm")
    assert first.startswith("c: 3 added"), first
    assert "sentence_transformers" in heavy and "torch" in heavy, "the probe sees a model load"

    again, heavy = qa_ingest(folder, index_dir)
    assert again.startswith("c: 0 added, 0 updated, 3 unchanged, 0 removed"), again
    assert again.rstrip().endswith("(nothing changed)"), again
    assert heavy == []

    as_json, heavy = qa_ingest(folder, index_dir, "--json")
    assert sorted(json.loads(as_json)["unchanged"]) == ["n0.txt", "n1.txt", "n2.txt"]
    assert heavy == []

    (folder / "n2.txt").unlink()
    removed, heavy = qa_ingest(folder, index_dir, "--sync")
    assert removed.startswith("c: 0 added, 0 updated, 2 unchanged, 1 removed"), removed
    assert heavy == [], "removing a document needs no embedding either"
