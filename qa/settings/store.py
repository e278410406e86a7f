"""Settings of where and how collections are stored: FAISS generations and their
dense index, or a Milvus server; and how scanned pages and images are read into them
(OCR). Part of the one `Settings` object."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class StoreSettings(BaseSettings):
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

    ocr_engine: Literal["rapidocr", "tesseract", "none"] = Field(
        default="rapidocr",
        description="What reads images and PDF pages without a (usable) text layer: "
        "'rapidocr' (PP-OCRv4 in the pip wheel), 'tesseract' (Debian's tesseract-ocr with "
        "eng and chi_sim, run as a program) or 'none' (such pages are reported, not read). "
        "Measured side by side in docs/EVALUATION.md, Documents.",
    )
    ocr_dpi: int = Field(
        default=300,
        ge=72,
        le=600,
        description="Resolution PDF pages are rendered at for OCR.",
    )
    ocr_max_pages: int = Field(
        default=500, ge=1, description="Pages (or image frames) one file may have OCR'd."
    )
    ocr_max_pixels: int = Field(
        default=25_000_000,
        ge=10_000,
        le=150_000_000,  # Pillow refuses images past 179 million pixels as it opens them
        description="Pixels of one page or image to OCR (an A4 page at 300 dpi has 8.7 "
        "million); a larger one is refused before it is decoded.",
    )
    ocr_max_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Seconds the OCR of one file may take; an upload's parsing process gets "
        "this much more wall and CPU time once OCR starts.",
    )
    ocr_page_image_side: int = Field(
        default=1600,
        ge=0,
        le=4000,
        description="Longest side, in pixels, of the picture kept of each OCR'd page (a JPEG "
        "in the catalogue), on which the web page marks where a citation was read; 0 keeps "
        "none.",
    )
