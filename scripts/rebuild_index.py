"""Rebuild collections from their stored documents, then verify them: for cron.

    .venv/bin/python scripts/rebuild_index.py [--index-dir DIR] [--collection NAME ...]
        [--embedder SPEC] [--dense auto|flat|hnsw]

Each collection (default: every one in the index dir) is re-chunked and re-embedded
by the code behind `qa index rebuild`: the live generation keeps serving until the
new one is swapped in, a kill at any moment leaves it serving, and ingests queue
behind the rebuild. Each rebuilt collection is then checked as `qa index verify`
does. One log line per collection goes to stderr.

Exit status:
  0  every collection rebuilt and verified
  1  a rebuild failed (the others were still attempted)
  2  bad arguments
  3  a rebuilt collection failed verification
  4  no such collection, or none in the index dir

Example crontab line (Sundays at 03:00):
  0 3 * * 0  cd /srv/qa && .venv/bin/python scripts/rebuild_index.py >> rebuild.log 2>&1
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from qa.errors import QAError
from qa.rebuild import rebuild
from qa.runtime import Runtime
from qa.settings import Settings
from qa.store.faiss.store import FaissStore

OK, REBUILD_FAILED, VERIFY_FAILED, NOTHING_TO_REBUILD = 0, 1, 3, 4
log = logging.getLogger("rebuild_index")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="Where collections live [default: $QA_INDEX_DIR or indexes/].",
    )
    parser.add_argument(
        "--collection", action="append", help="Collection to rebuild; repeat [default: all]."
    )
    parser.add_argument(
        "--embedder", help="Re-embed with this embedder instead of the recorded one."
    )
    parser.add_argument(
        "--dense",
        choices=("auto", "flat", "hnsw"),
        help="Dense index type [default: $QA_DENSE_INDEX].",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {"index_dir": args.index_dir, "dense_index": args.dense}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    store = FaissStore(settings.index_dir, settings)
    names = args.collection or store.names()
    missing = [name for name in names if not store.exists(name)]
    if not names or missing:
        log.error("nothing to rebuild in %s: %s", settings.index_dir, missing or "no collections")
        return NOTHING_TO_REBUILD
    runtime = Runtime(settings)
    status = OK
    for name in names:
        try:
            report = rebuild(runtime, name, args.embedder, progress=False)
        except QAError as exc:
            log.error("%s: rebuild failed: %s", name, exc.detail)
            status = REBUILD_FAILED
            continue
        problems = runtime.store.verify(name)
        for problem in problems:
            log.error("%s: %s", name, problem)
        if problems:
            status = status or VERIFY_FAILED
            continue
        manifest = store.manifest(name)
        log.info(
            "%s: generation %d, %d documents, %d chunks, %s dense index, in %.1f s",
            name,
            manifest.generation,
            manifest.documents,
            manifest.chunks,
            manifest.dense["kind"],
            report.seconds,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
