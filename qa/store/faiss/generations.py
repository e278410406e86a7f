"""A collection's generations on disk, published atomically.

Layout of `INDEX_DIR/NAME/`: `CURRENT` names the live generation folder
(`g000042/`: manifest.json, docstore.sqlite, dense.faiss, sparse/). A writer copies
the live generation into a hidden temp folder, changes it, fsyncs it, renames it
into place and only then swaps `CURRENT` with os.replace. A reader holds a
generation it opened until it asks for a fresher one, so it never sees half of
a change; a crash at any moment leaves the last published generation intact,
and the next writer removes what the crashed one left. Old generations are
renamed out of the way before they are deleted, so a `gNNNNNN` folder is always
whole.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
GENERATION = re.compile(r"^g(\d{6,})$")


def folder_name(number: int) -> str:
    return f"g{number:06d}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def generation_numbers(root: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := GENERATION.match(p.name)))


def generation_folders(root: Path) -> list[Path]:
    """Generation folders on disk, oldest first (a crash before the swap can leave one
    newer than the live generation, until the next writer removes it)."""
    return [root / folder_name(number) for number in generation_numbers(root)]


def remove_debris(root: Path) -> None:
    """Left-overs of a writer that died: temp folders and unpublished generations."""
    for path in root.glob(".tmp-*"):
        log.info("removing debris of an interrupted write: %s", path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    live = (root / CURRENT).read_text().strip() if (root / CURRENT).is_file() else None
    live_number = int(live[1:]) if live and GENERATION.match(live) else -1
    for number in generation_numbers(root):
        if number > live_number:
            log.info("removing unpublished generation %s", folder_name(number))
            shutil.rmtree(root / folder_name(number), ignore_errors=True)


def collect_garbage(root: Path, live: Path, keep: int) -> None:
    """Keep the newest `keep` generations. Each older one is first renamed to debris
    (atomic), so a crash mid-delete leaves a `.tmp-` folder, never half a generation."""
    for number in generation_numbers(root)[:-keep]:
        folder = root / folder_name(number)
        if folder == live:
            continue
        doomed = root / f".tmp-gc-{folder.name}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def install(root: Path, work: Path, number: int, files: Iterable[str]) -> Path:
    """Make a finished work folder generation `number` and the live one: its files and
    folders are fsynced (the deepest first), it is renamed into place and the rename
    fsynced, and only then is `CURRENT` swapped."""
    paths = [work / file for file in files]
    for path in paths:
        fsync_file(path)
    for folder in sorted({p.parent for p in paths} | {work}, key=lambda f: -len(f.parts)):
        fsync_dir(folder)
    final = root / folder_name(number)
    os.rename(work, final)
    # The rename is durable before CURRENT names it: else a power cut could leave CURRENT
    # naming a folder the file system never recorded.
    fsync_dir(root)
    pointer = root / f".tmp-{CURRENT}"
    pointer.write_text(final.name + "\n")
    fsync_file(pointer)
    os.replace(pointer, root / CURRENT)
    fsync_dir(root)
    return final
