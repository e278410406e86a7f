"""Find model files inside installed wheels without importing them.

The generator packages come from anonymous uploaders: importing one would run
its code. We only read file listings from the installed metadata and check the
bytes against a pinned sha256 before anything is loaded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata as metadata
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from qa.errors import ModelNotAvailableError

_CHUNK = 1 << 20


def distribution_files(distribution: str, pattern: str) -> list[Path]:
    """Absolute paths of a distribution's files matching a glob, in name order."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotAvailableError(
            f"model package {distribution!r} is not installed; run `make install` "
            "(it installs requirements/models.txt)"
        ) from exc
    matches = sorted(
        (
            Path(str(dist.locate_file(f)))
            for f in dist.files or ()
            if fnmatch.fnmatch(str(f), pattern)
        ),
        key=lambda p: p.name,
    )
    if not matches:
        raise ModelNotAvailableError(f"package {distribution!r} holds no file matching {pattern!r}")
    return matches


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def join_verified(parts: Iterable[Path], dest: Path, expected_sha256: str) -> Path:
    """Concatenate parts into dest, publishing it only if the bytes hash as pinned."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name, suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise ModelNotAvailableError(
                f"model file {dest.name} has sha256 {actual}, expected {expected_sha256}: "
                "the installed package differs from the pinned one; reinstall it"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
