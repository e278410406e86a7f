"""One-off conversion of a GGUF causal LM into a plain Hugging Face folder.

transformers can read GGUF directly, but it dequantises every tensor on each load (20-70 s on
two cores). Converting once to a safetensors folder makes later loads take seconds and keeps
the `gguf` package out of the serving path.

A conversion runs under a file lock beside its destination. Whoever holds the lock knows that
every temp folder of that destination was left by a process that died (a live one would hold
the lock), so a `kill -9` mid-conversion leaves debris only until the next conversion starts.
"""

from __future__ import annotations

import copy
import fcntl
import gc
import glob
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from qa.models.packages import sha256_file

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Written last, so a folder holding it was fully written; it records the source's sha256.
COMPLETE_MARKER = ".complete"


def is_complete(folder: Path) -> bool:
    """Trust a folder only once the marker exists: an interrupted build never carries it."""
    return (folder / COMPLETE_MARKER).is_file()


@contextmanager
def conversion_lock(dest: Path) -> Iterator[None]:
    """Hold the lock of conversions into ``dest``, waiting for another process's to end."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (dest.parent / f".{dest.name}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process converting into %s", dest)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _temp_folders(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"))


def remove_stale(dest: Path) -> list[Path]:
    """Remove temp folders of interrupted conversions into ``dest``; call only while holding
    its `conversion_lock`, which is what makes them stale."""
    stale = _temp_folders(dest)
    for path in stale:
        logger.info("removing %s, left by an interrupted conversion", path)
        shutil.rmtree(path, ignore_errors=True)
    return stale


def build_once(dest: Path, build: Callable[[Path], None], *, marker: str, what: str) -> Path:
    """Run ``build`` into a temp folder beside ``dest`` and rename it into place, once:
    the conversion pattern of this module for any cached model folder. ``marker`` (the
    source's identity) is written last, so only a finished folder is ever trusted."""
    if is_complete(dest):
        return dest
    with conversion_lock(dest):
        remove_stale(dest)
        if is_complete(dest):
            return dest
        if dest.exists():
            raise FileExistsError(f"{dest} exists but is not a complete conversion; remove it")
        started = time.perf_counter()
        logger.info("converting %s into %s; this runs once", what, dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        try:
            build(tmp)
            (tmp / COMPLETE_MARKER).write_text(marker + "\n", encoding="utf-8")
            tmp.replace(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s in %.1f s", what, time.perf_counter() - started)
    return dest


def convert_gguf(
    gguf_path: Path,
    dest: Path,
    *,
    dtype: torch.dtype,
    source_sha256: str | None = None,
) -> Path:
    """Convert a GGUF causal LM into a normal Hugging Face folder at ``dest`` and return ``dest``.

    The folder holds config, safetensors weights in ``dtype``, the tokenizer with its chat
    template and the generation config. It is built in a sibling temp dir and renamed into place,
    so readers never see a partial folder. An existing complete ``dest`` is returned untouched
    without reading the source: callers key ``dest`` by the source's sha256 (written into the
    marker), which is what makes that shortcut safe.

    Raises FileExistsError if ``dest`` exists but is not a finished conversion, rather than
    deleting something this function did not write.
    """
    gguf_path = Path(gguf_path)
    dest = Path(dest)
    if is_complete(dest):
        return dest
    with conversion_lock(dest):
        remove_stale(dest)
        if is_complete(dest):
            logger.info("%s was completed by another process meanwhile", dest)
            return dest
        if dest.exists():
            raise FileExistsError(
                f"{dest} exists but is not a complete conversion; remove it first"
            )
        started = time.perf_counter()
        logger.info("Converting %s to %s (%s); this runs once", gguf_path.name, dest, dtype)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        try:
            _build(gguf_path, tmp, dtype)
            digest = source_sha256 or sha256_file(gguf_path)
            (tmp / COMPLETE_MARKER).write_text(digest + "\n", encoding="utf-8")
            tmp.replace(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Converted %s in %.1f s", gguf_path.name, time.perf_counter() - started)
    return dest


def _build(gguf_path: Path, out: Path, dtype: torch.dtype) -> None:
    """Rebuild the model without its GGUF quantisation config and save it.

    Saving the GGUF-loaded model directly would write ``quantization_config`` into config.json,
    and every later load would then insist on the GGUF quantiser again. transformers is
    imported here, not at the top, so the lock and clean-up helpers stay light to import.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    source = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)

    config = copy.deepcopy(source.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    # strict=True: any tensor the GGUF lacked would otherwise stay randomly initialised.
    model.load_state_dict(source.state_dict(), strict=True)
    model.generation_config = copy.deepcopy(source.generation_config)
    del source
    gc.collect()

    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
