"""One-off conversion of a GGUF causal LM into a plain Hugging Face folder.

transformers can read GGUF directly, but it dequantises every tensor on each load (20-70 s on
two cores). Converting once to a safetensors folder makes later loads take seconds and keeps
the `gguf` package out of the serving path.
"""

from __future__ import annotations

import copy
import gc
import logging
import shutil
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from qa.models.packages import sha256_file

logger = logging.getLogger(__name__)

#: Written last, so a folder holding it was fully written; it records the source's sha256.
COMPLETE_MARKER = ".complete"


def is_complete(folder: Path) -> bool:
    """Trust a folder only once the marker exists: an interrupted build never carries it."""
    return (folder / COMPLETE_MARKER).is_file()


def convert_gguf(
    gguf_path: Path,
    dest: Path,
    *,
    dtype: torch.dtype = torch.bfloat16,
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
    if dest.exists():
        raise FileExistsError(f"{dest} exists but is not a complete conversion; remove it first")

    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    logger.info("Converting %s to %s (%s); this runs once", gguf_path.name, dest, dtype)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        _build(gguf_path, tmp, dtype)
        digest = source_sha256 or sha256_file(gguf_path)
        (tmp / COMPLETE_MARKER).write_text(digest + "\n", encoding="utf-8")
        try:
            tmp.replace(dest)
        except OSError:
            # Another process finished the same conversion first; its folder is as good as ours.
            if not is_complete(dest):
                raise
            logger.info("%s was completed concurrently; keeping that copy", dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Converted %s in %.1f s", gguf_path.name, time.perf_counter() - started)
    return dest


def _build(gguf_path: Path, out: Path, dtype: torch.dtype) -> None:
    """Rebuild the model without its GGUF quantisation config and save it.

    Saving the GGUF-loaded model directly would write ``quantization_config`` into config.json,
    and every later load would then insist on the GGUF quantiser again.
    """
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
