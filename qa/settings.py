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


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa"


class Settings(BaseSettings):
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
    generator_backend: Literal["transformers", "llama-cpp"] = Field(
        default="transformers",
        description="What runs the generator. 'llama-cpp' runs the GGUF presets (or a "
        ".gguf file) natively: 4.5x faster decoding, but a slower first token on 2 cores "
        "(scripts/bench_generate.py, docs/PERFORMANCE.md); needs llama-cpp-python.",
    )
    generator_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32",
        description="Compute type of the transformers backend; float32 measured fastest on "
        "CPUs here.",
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
    embed_int8: bool = Field(
        default=True,
        description="int8 dynamic quantisation of the sentence-transformers embedder's linear "
        "layers: 1.4-2x faster ingestion for at most 0.7 points of nDCG@10 "
        "(docs/PERFORMANCE.md); False for float32. Either searches the same index.",
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
    confidence_threshold: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Refuse answers whose confidence is below this. 0 (the default) never "
        "refuses; the threshold fitted with qa/answer/confidence_weights.json is 0.61, which "
        "refused 4 of 27 right answers on the sample corpus (docs/EVALUATION.md).",
    )

    catalogue: Path | None = Field(
        default=None,
        description="SQLite file of API keys, ingestion jobs and collections created over "
        "HTTP [default: catalogue.sqlite in the index dir].",
    )
    catalogue_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host/db: one catalogue shared by several "
        "API replicas (keys, jobs, collections created over HTTP); overrides `catalogue`.",
    )
    instance: str | None = Field(
        default=None,
        description="This server's name among replicas sharing a catalogue: uploads are "
        "spooled on its disk, so only it ingests them [default: host name and index dir].",
    )
    audit_log: Path | None = Field(
        default=None,
        description="JSON-lines audit log of every /v1 request (time, key, route, collection, "
        "question, returned documents) [default: audit.jsonl in the index dir].",
    )
    audit: bool = Field(default=True, description="Write the audit log.")
    audit_questions: Literal["hash", "text"] = Field(
        default="hash",
        description="Record each question as its SHA-256 (default: the log then holds no "
        "patient or client text) or as the text itself.",
    )
    max_upload_bytes: int = Field(
        default=200_000_000, ge=1024, description="Largest document upload request."
    )
    max_upload_files: int = Field(default=200, ge=1, description="Files in one upload.")
    generation_queue: int = Field(
        default=8,
        ge=0,
        description="Questions that may wait for the generator; one more gets 503 with "
        "Retry-After instead of piling up.",
    )
    request_timeout_s: float = Field(
        default=180.0, gt=0, description="An answer not finished by then is stopped: 504."
    )
    max_question_chars: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_file_bytes: int = Field(default=50_000_000, ge=1)
    # What one document may ask of a loader: the why of each is in qa/ingest/loaders.
    max_unzipped_bytes: int = Field(default=200_000_000, ge=1, description="DOCX unzipped.")
    max_zip_ratio: float = Field(default=100.0, ge=1, description="DOCX part (>1 MB) inflation.")
    max_pdf_pages: int = Field(default=10_000, ge=1)
    max_pdf_page_points: float = Field(default=14_400.0, gt=0, description="PDF page side.")
    max_html_depth: int = Field(default=256, ge=8, le=512, description="HTML element nesting.")
    generation_concurrency: int = Field(default=1, ge=1)
    keep_generations: int = Field(
        default=3,
        ge=1,
        description="Published generations kept per collection (the live one included); "
        "older ones are removed after each publish.",
    )
    dense_index: Literal["auto", "flat", "hnsw"] = Field(
        default="auto",
        description="Dense index type: exact inner product ('flat'), approximate HNSW, or "
        "'auto' (flat up to `hnsw_threshold` vectors, HNSW above). Applied at each publish.",
    )
    hnsw_threshold: int = Field(
        default=100_000,
        ge=1,
        description="With dense_index='auto', collections above this many chunks get HNSW; "
        "one that shrinks below half of it goes back to exact search. Measured: exact search "
        "over 100,000 vectors costs less than embedding the query, over 200,000 more.",
    )
    hnsw_m: int = Field(default=32, ge=4, le=128, description="HNSW links per node.")
    hnsw_ef_construction: int = Field(
        default=64, ge=8, le=1024, description="HNSW candidate list while building."
    )
    hnsw_ef_search: int = Field(
        default=512,
        ge=1,
        le=4096,
        description="HNSW candidate list per query. Recall against exact search keeps rising "
        "up to 512 on 200,000 vectors, at under 1 ms a query (docs/INDEX_LIFECYCLE.md).",
    )
    hnsw_max_deleted: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="FAISS cannot take vectors out of an HNSW graph: deleted ones stay as "
        "hidden tombstones until they exceed this fraction, then the graph is rebuilt.",
    )

    vector_backend: Literal["faiss", "milvus"] = Field(
        default="faiss",
        description="Where collections live: 'faiss' (generations of files in the index dir, "
        "one machine) or 'milvus' (a Milvus server shared by any number of replicas; see "
        "docs/SCALING.md).",
    )
    milvus_uri: str = Field(
        default="http://127.0.0.1:19530",
        description="With vector_backend='milvus': the server (http://host:19530) or a local "
        "Milvus Lite data path ending in .db (embedded, one process).",
    )
    milvus_token: str = Field(
        default="", description="Milvus credentials ('user:password' or an API key), if any."
    )
    milvus_namespace: str = Field(
        default="qa",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
        description="Prefix of every Milvus collection this deployment owns, so that several "
        "deployments (or test runs) can share one Milvus.",
    )
    milvus_analyzer: Literal["standard", "whitespace"] = Field(
        default="standard",
        description="Milvus tokenizer for full-text BM25 over our pre-tokenised text: "
        "'whitespace' on a Milvus server (2.5+), 'standard' on Milvus Lite (it has no "
        "whitespace tokenizer; on space-separated tokens both split alike).",
    )

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names, besides 127.0.0.1, localhost, [::1] and the address "
        "served on, that requests to a service running open (no API key) may name, e.g. "
        "a name of this machine in /etc/hosts. Any other Host is refused with 403: a web "
        "page could otherwise point its own name at 127.0.0.1 (DNS rebinding) and read "
        "everything. JSON in the environment: QA_ALLOWED_HOSTS='[\"qa.local\"]'.",
    )

    delete_wait_s: float = Field(default=3.0, gt=0)
    """Seconds a DELETE waits for the collection's writer lock, then 503 with Retry-After."""
    spool_max_bytes: int = Field(default=2_000_000_000, ge=1)
    """Bytes queued uploads may hold in INDEX_DIR/.spool; an upload past it gets 413."""
    parse_cpu_s: int = Field(default=120, ge=1)
    """CPU seconds an uploaded file may take to parse (RLIMIT_CPU of the parsing child)."""
    parse_wall_s: float = Field(default=300.0, gt=0)
    """Seconds an uploaded file may take to parse, CPU spent or not."""
    parse_memory_mb: int = Field(default=2048, ge=128)
    """Address space of the child parsing uploads (RLIMIT_AS, MiB; its libraries take 90)."""

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
