"""What the Milvus collections behind a qa collection look like: fields, indexes and
the consistency every read asks for (see the package docstring for the layout)."""

from __future__ import annotations

from typing import Any

from qa.settings import Settings

STRONG = "Strong"
VARCHAR = 65_535
MAX_TOPK = 16_384
CHUNK_FIELDS = [
    "pk",
    "document_id",
    "ordinal",
    "start_offset",
    "end_offset",
    "page",
    "section",
    "title",
    "text",
    "metadata",
]
"""What a search or a chunk query returns of each chunk row."""


def dense_index(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The Milvus index type and build parameters for the dense vectors."""
    if settings.dense_index == "flat":
        return "FLAT", {}
    return "HNSW", {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}


def create_manifest_table(client: Any, meta: str) -> None:
    """The namespace's table of collections: one row per qa collection, its manifest."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("name", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("manifest", DataType.VARCHAR, max_length=VARCHAR)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
    client.create_collection(meta, schema=schema, index_params=index, consistency_level=STRONG)


def create_chunks_and_docs(
    client: Any, settings: Settings, chunks: str, docs: str, dimension: int
) -> None:
    """The two Milvus collections of one generation, replacing any left by a rebuild
    that died."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    for stale in (chunks, docs):
        if client.has_collection(stale):
            client.drop_collection(stale)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=2048)
    schema.add_field("document_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("ordinal", DataType.INT64)
    schema.add_field("start_offset", DataType.INT64)
    schema.add_field("end_offset", DataType.INT64)
    schema.add_field("page", DataType.INT64, nullable=True)
    schema.add_field("section", DataType.VARCHAR, max_length=4096, nullable=True)
    schema.add_field("title", DataType.VARCHAR, max_length=4096)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR)
    schema.add_field(
        "lexical",
        DataType.VARCHAR,
        max_length=VARCHAR,
        enable_analyzer=True,
        analyzer_params={"tokenizer": settings.milvus_analyzer},
    )
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["lexical"],
            output_field_names=["sparse"],
        )
    )
    kind, params = dense_index(settings)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
    index.add_index(
        field_name="sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": 1.5, "bm25_b": 0.75},  # those of bm25s, our FAISS-side BM25
    )
    index.add_index(field_name="document_id", index_type="INVERTED")
    client.create_collection(chunks, schema=schema, index_params=index, consistency_level=STRONG)

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=1100)
    schema.add_field("document_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("part", DataType.INT64)
    schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
    schema.add_field("payload", DataType.VARCHAR, max_length=VARCHAR)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
    client.create_collection(docs, schema=schema, index_params=index, consistency_level=STRONG)
