"""Collections in Milvus: the backend for more than one machine (docs/SCALING.md).

Everything a replica needs lives in Milvus, so `qa serve` replicas hold no state:

- `{ns}__collections`: one row per qa collection, its manifest (embedder, chunker,
  generation, counts, and the names of the two Milvus collections holding its data);
- `{ns}_{name}_gNNNNNN_chunks`: one row per chunk: an int64 primary key (the row id),
  chunk id, document id, ordinal, offsets, page, section, title, text, metadata
  (JSON, for filters), content hash, the dense vector, and `lexical` (our own BM25
  tokens, space-separated) from which Milvus's BM25 function derives a sparse vector
  for full-text search;
- `{ns}_{name}_gNNNNNN_docs`: the documents themselves (for listing, `GET` and
  rebuilds), serialised and cut into parts under Milvus's VARCHAR limit.

Hybrid retrieval runs the dense and the BM25 search in Milvus and fuses the two lists
here, with the same fusion as the FAISS backend; the BM25 parameters (k1=1.5, b=0.75)
and the tokens are those of our bm25s index, so the two backends rank alike.

Changes are applied in place, document by document: new chunks are upserted before the
document's old ones are deleted, so a search during a write sees a document's old or
new chunks (deduplication keeps one of near-identical passages), never none. A rebuild
(fresh=True) fills new Milvus collections and publishes them by swapping the manifest,
as a FAISS generation is. Searches and reads run at Strong consistency: a deleted
document is gone from the next search, whichever replica serves it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from qa.errors import CollectionNotFoundError, IndexCorruptError, InvalidInputError, QAError
from qa.models.protocols import EmbedderInfo, Vectors
from qa.records import (
    Chunk,
    Document,
    FilterValue,
    SearchHit,
    SearchRequest,
    Span,
    StoredChunk,
    check_name,
)
from qa.settings import Settings
from qa.store.fusion import ranked_hits
from qa.store.manifest import Manifest
from qa.text import lexical_tokens

log = logging.getLogger(__name__)

STRONG = "Strong"
_VARCHAR = 65_535
_PART_CHARS = 16_000  # 4 UTF-8 bytes at most per character: under the VARCHAR limit
_FLUSH_CHUNKS = 512
_MAX_TOPK = 16_384
_PAGE = 1_000
_CHUNK_FIELDS = [
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
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _encode(name: str) -> str:
    """A qa collection name as Milvus letters: '.', '-' and '_' become '_' + hex."""
    return "".join(ch if ch.isascii() and ch.isalnum() else f"_{ord(ch):02x}" for ch in name)


def _clip(text: str, limit: int = _VARCHAR) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


def lexical_text(text: str) -> str:
    """Our BM25 tokens as Milvus's analyzer will split them again: one word per token.
    A '.' inside a number would be a break for the standard tokenizer: it becomes '_'."""
    return " ".join(t.replace(".", "_") for t in lexical_tokens(text))


def row_id(document_id: str, ordinal: int, content_hash: str) -> int:
    """A chunk's primary key from what it is, not from a counter: replicas writing at
    once need no coordination, and a changed document gets new keys."""
    digest = hashlib.blake2b(
        f"{document_id}\0{ordinal}\0{content_hash}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def literal(value: str | int | float | bool) -> str:
    """A value in a Milvus boolean expression: strings quoted with every quote,
    backslash and control character escaped, numbers as numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError("filter values must be finite numbers")
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def filter_expression(filters: Mapping[str, FilterValue] | None) -> str:
    """Our metadata filters (equality, or any of a list) as a Milvus expression."""
    clauses: list[str] = []
    for key, value in (filters or {}).items():
        if key in ("document", "document_id"):
            field = "document_id"
        elif key == "title":
            field = "title"
        elif _KEY.match(key):
            field = f"metadata[{json.dumps(key)}]"
        else:
            raise InvalidInputError(f"filter key {key!r} must be letters, digits, '_' or '-'")
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values:
            raise InvalidInputError(f"filter {key!r} has an empty list of values")
        checked: list[str | int | float | bool] = []
        for v in values:
            if not isinstance(v, str | int | float | bool):
                raise InvalidInputError(f"filter {key!r} values must be strings or numbers")
            checked.append(v)
        clauses.append("(" + " or ".join(f"{field} == {literal(v)}" for v in checked) + ")")
    return " and ".join(clauses)


def _in(field: str, values: Iterable[str | int]) -> str:
    return f"{field} in [{', '.join(literal(v) for v in values)}]"


def connect(settings: Settings) -> Any:
    from pymilvus import MilvusClient

    try:
        return MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token)
    except Exception as exc:
        raise IndexCorruptError(f"cannot reach Milvus at {settings.milvus_uri}: {exc}") from exc


class MilvusDocs:
    """The documents of one Milvus-held collection (what the FAISS backend's DocStore
    answers for listing and reading documents)."""

    def __init__(self, client: Any, docs: str, chunks: str) -> None:
        self._client, self._docs, self._chunks = client, docs, chunks

    def _query(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        iterator = self._client.query_iterator(
            collection, batch_size=_PAGE, filter=expr, output_fields=fields
        )
        try:
            while batch := iterator.next():
                rows.extend(batch)
        finally:
            iterator.close()
        return rows

    def content_hashes(self) -> dict[str, str]:
        rows = self._query(self._docs, "part == 0", ["document_id", "content_hash"])
        return {r["document_id"]: r["content_hash"] for r in rows}

    def counts(self) -> tuple[int, int]:
        docs = self._client.query(
            self._docs, filter="part == 0", output_fields=["count(*)"], consistency_level=STRONG
        )
        chunks = self._client.query(
            self._chunks, filter="", output_fields=["count(*)"], consistency_level=STRONG
        )
        return int(docs[0]["count(*)"]), int(chunks[0]["count(*)"])

    def _records(self, document_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Whole document records, reassembled from their parts."""
        if not document_ids:
            return {}
        parts: dict[str, list[tuple[int, str]]] = {}
        for start in range(0, len(document_ids), _PAGE):
            expr = _in("document_id", document_ids[start : start + _PAGE])
            for row in self._query(self._docs, expr, ["document_id", "part", "payload"]):
                parts.setdefault(row["document_id"], []).append((row["part"], row["payload"]))
        return {
            doc: json.loads("".join(payload for _, payload in sorted(pieces)))
            for doc, pieces in parts.items()
        }

    def document_ids(self) -> list[str]:
        return sorted(
            r["document_id"] for r in self._query(self._docs, "part == 0", ["document_id"])
        )

    def document_summaries(
        self, offset: int = 0, limit: int | None = None, document_id: str | None = None
    ) -> list[dict[str, Any]]:
        ids = self.document_ids() if document_id is None else [document_id]
        page = ids[offset : None if limit is None else offset + limit]
        records = self._records(page)
        counts: dict[str, int] = dict.fromkeys(records, 0)
        if records:
            for row in self._query(self._chunks, _in("document_id", records), ["document_id"]):
                counts[row["document_id"]] += 1
        return [
            {
                "id": doc,
                "title": records[doc]["title"],
                "metadata": records[doc]["metadata"],
                "source": records[doc]["source"],
                "ingested_at": records[doc]["ingested_at"],
                "content_hash": records[doc]["content_hash"],
                "characters": len(records[doc]["text"]),
                "chunks": counts[doc],
            }
            for doc in page
            if doc in records
        ]

    def document_text(self, document_id: str) -> str | None:
        record = self._records([document_id]).get(document_id)
        return None if record is None else str(record["text"])

    def documents(self) -> Iterator[Document]:
        ids = self.document_ids()
        for start in range(0, len(ids), 100):
            records = self._records(ids[start : start + 100])
            for doc in ids[start : start + 100]:
                if doc in records:
                    yield _document(records[doc])


def _record(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "text": doc.text,
        "metadata": doc.metadata,
        "pages": [[p.start, p.end, p.label] for p in doc.pages],
        "sections": [[s.start, s.end, s.label] for s in doc.sections],
        "source": doc.source,
        "content_hash": doc.content_hash,
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _document(record: dict[str, Any]) -> Document:
    return Document(
        id=record["id"],
        title=record["title"],
        text=record["text"],
        metadata=record["metadata"],
        pages=[Span(*p) for p in record["pages"]],
        sections=[Span(*s) for s in record["sections"]],
        source=record["source"],
    )


def _stored(row: dict[str, Any]) -> StoredChunk:
    entity = row.get("entity", row)
    return StoredChunk(
        row_id=int(row.get("pk", row.get("id", entity.get("pk")))),
        document_id=entity["document_id"],
        ordinal=int(entity["ordinal"]),
        start=int(entity["start_offset"]),
        end=int(entity["end_offset"]),
        page=entity.get("page"),
        section=entity.get("section"),
        text=entity["text"],
        title=entity["title"],
        metadata=dict(entity.get("metadata") or {}),
    )


class MilvusCollection:
    """One collection as a reader sees it: its manifest when opened, and searches
    answered by Milvus. Holds no data of its own."""

    def __init__(self, store: MilvusStore, manifest: Manifest) -> None:
        self.manifest = manifest
        self._store = store
        self._client = store.client
        self._chunks = manifest.dense["chunks"]
        self._docs = MilvusDocs(self._client, manifest.dense["docs"], self._chunks)
        # Chunk ids hash their content, so a cached token set never goes stale.
        self._tokens: dict[int, set[str]] = {}
        store.ensure_loaded(self._chunks, manifest.dense["docs"])

    @property
    def name(self) -> str:
        return self.manifest.collection

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def docstore(self) -> MilvusDocs:
        return self._docs

    def close(self) -> None:
        pass

    def _dense(self, vector: Vectors, depth: int, expr: str) -> list[dict[str, Any]]:
        ef = max(self._store.settings.hnsw_ef_search, depth)
        result = self._client.search(
            self._chunks,
            data=[np.asarray(vector, dtype=np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=depth,
            filter=expr,
            output_fields=_CHUNK_FIELDS,
            search_params={"metric_type": "IP", "params": {"ef": ef}},
            consistency_level=STRONG,
        )
        return list(result[0])

    def _sparse(self, query: str, depth: int, expr: str) -> list[dict[str, Any]]:
        text = lexical_text(query)
        if not text:
            return []
        result = self._client.search(
            self._chunks,
            data=[text],
            anns_field="sparse",
            limit=depth,
            filter=expr,
            output_fields=_CHUNK_FIELDS,
            search_params={"metric_type": "BM25"},
            consistency_level=STRONG,
        )
        return list(result[0])

    def search(self, request: SearchRequest, vector: Vectors | None) -> list[SearchHit]:
        """Dense and BM25 candidates from Milvus, filtered there, fused here."""
        expr = filter_expression(request.filters)
        mode = request.mode
        depth = min(max(request.candidates, 3 * request.k), _MAX_TOPK)
        if vector is None and mode != "sparse":
            raise ValueError(f"{mode} search needs a query vector")
        chunks: dict[int, StoredChunk] = {}
        dense: list[tuple[int, float]] = []
        sparse: list[tuple[int, float]] = []
        if mode != "sparse" and vector is not None and self.manifest.chunks:
            for row in self._dense(vector, depth, expr):
                chunk = _stored(row)
                chunks[chunk.row_id] = chunk
                dense.append((chunk.row_id, float(row["distance"])))
        if mode != "dense" and self.manifest.chunks:
            for row in self._sparse(request.query, depth, expr):
                chunk = _stored(row)
                chunks[chunk.row_id] = chunk
                # Milvus Lite reports BM25 as a negated distance; a server, as the score.
                score = abs(float(row["distance"]))
                if score > 0:
                    sparse.append((chunk.row_id, score))
        return ranked_hits(
            dense,
            sparse,
            lambda _rows: chunks,
            request.k,
            depth=depth,
            fusion=request.fusion,
            alpha=request.alpha,
            tokens=self._tokens,
        )

    def export(self) -> Iterator[tuple[Document, list[StoredChunk], Vectors]]:
        dimension = int(self.manifest.embedder["dimension"])
        for doc in self._docs.documents():
            rows = self._docs._query(
                self._chunks, _in("document_id", [doc.id]), [*_CHUNK_FIELDS, "vector"]
            )
            rows.sort(key=lambda r: int(r["ordinal"]))
            vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)
            yield doc, [_stored(r) for r in rows], vectors.reshape(len(rows), dimension)


class MilvusStore:
    """All collections of one namespace in one Milvus."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else connect(settings)
        self.namespace = settings.milvus_namespace
        self.meta = f"{self.namespace}__collections"
        self._loaded: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._ensure_meta()

    # -- the catalogue of collections --------------------------------------------------

    def _ensure_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        if not self.client.has_collection(self.meta):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("name", DataType.VARCHAR, is_primary=True, max_length=256)
            schema.add_field("manifest", DataType.VARCHAR, max_length=_VARCHAR)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
            try:
                self.client.create_collection(
                    self.meta, schema=schema, index_params=index, consistency_level=STRONG
                )
            except Exception:
                # Replicas starting at once on an empty namespace race to create it: the
                # loser waits for the winner's collection to appear and be loaded.
                for _ in range(100):
                    time.sleep(0.1)
                    if self.client.has_collection(self.meta):
                        break
                else:
                    raise
        for attempt in range(100):
            try:
                self.ensure_loaded(self.meta)
                break
            except Exception:
                if attempt == 99:
                    raise
                time.sleep(0.1)

    def ensure_loaded(self, *collections: str) -> None:
        for collection in collections:
            if collection in self._loaded:
                continue
            state = self.client.get_load_state(collection)
            if "NotLoad" in str(state.get("state", "")):
                self.client.load_collection(collection)
            self._loaded.add(collection)

    def _manifest_or_none(self, name: str) -> Manifest | None:
        rows = self.client.query(
            self.meta,
            filter=f"name == {literal(check_name(name))}",
            output_fields=["manifest"],
            consistency_level=STRONG,
        )
        if not rows:
            return None
        try:
            return Manifest(**json.loads(rows[0]["manifest"]))
        except (ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read the manifest of {name!r}: {exc}") from exc

    def _write_manifest(self, manifest: Manifest) -> None:
        self.client.upsert(
            self.meta,
            [
                {
                    "name": manifest.collection,
                    "manifest": json.dumps(asdict(manifest), ensure_ascii=False),
                    "placeholder": [0.0, 0.0],
                }
            ],
        )

    def names(self) -> list[str]:
        rows = self.client.query(
            self.meta, filter="", output_fields=["name"], limit=_MAX_TOPK, consistency_level=STRONG
        )
        return sorted(r["name"] for r in rows)

    def exists(self, name: str) -> bool:
        return self._manifest_or_none(name) is not None

    def manifest(self, name: str) -> Manifest:
        manifest = self._manifest_or_none(name)
        if manifest is None:
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist in Milvus namespace {self.namespace!r}; "
                f"create it with `qa ingest PATH --collection {name}`"
            )
        return manifest

    def version(self, name: str) -> object:
        manifest = self.manifest(name)
        return (manifest.generation, manifest.dense.get("chunks"), manifest.built_at)

    def open(self, name: str) -> MilvusCollection:
        return MilvusCollection(self, self.manifest(name))

    def stats(self, name: str) -> dict[str, Any]:
        """The manifest's figures and the Milvus they live in."""
        manifest = self.manifest(name)
        return {
            "collection": name,
            "generation": manifest.generation,
            "documents": manifest.documents,
            "chunks": manifest.chunks,
            "dense": manifest.dense,
            "embedder": manifest.embedder,
            "chunker": manifest.chunker,
            "built_at": manifest.built_at,
            "milvus_uri": self.settings.milvus_uri,
        }

    def verify(self, name: str) -> list[str]:
        """Whether Milvus holds as many documents and chunks as the manifest says."""
        try:
            collection = self.open(name)
        except QAError as exc:
            return [exc.detail]
        manifest = collection.manifest
        documents, chunks = collection.docstore.counts()
        problems = []
        if (documents, chunks) != (manifest.documents, manifest.chunks):
            problems.append(
                f"Milvus holds {documents} documents and {chunks} chunks, the manifest says "
                f"{manifest.documents} and {manifest.chunks}"
            )
        return problems

    def lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def remove(self, name: str) -> None:
        manifest = self.manifest(name)
        with self.lock(name):
            self.client.delete(self.meta, filter=f"name == {literal(name)}")
            for physical in (manifest.dense.get("chunks"), manifest.dense.get("docs")):
                if physical and self.client.has_collection(physical):
                    self.client.drop_collection(physical)
                    self._loaded.discard(physical)
        log.info("removed collection %s from Milvus", name)

    # -- physical collections -----------------------------------------------------------

    def physical(self, name: str, generation: int) -> tuple[str, str]:
        base = f"{self.namespace}_{_encode(name)}_g{generation:06d}"
        return f"{base}_chunks", f"{base}_docs"

    def dense_index(self) -> tuple[str, dict[str, Any]]:
        if self.settings.dense_index == "flat":
            return "FLAT", {}
        return "HNSW", {
            "M": self.settings.hnsw_m,
            "efConstruction": self.settings.hnsw_ef_construction,
        }

    def create_physical(self, chunks: str, docs: str, dimension: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        for stale in (chunks, docs):
            if self.client.has_collection(stale):  # left by a rebuild that died
                self.client.drop_collection(stale)
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
        schema.add_field("text", DataType.VARCHAR, max_length=_VARCHAR)
        schema.add_field(
            "lexical",
            DataType.VARCHAR,
            max_length=_VARCHAR,
            enable_analyzer=True,
            analyzer_params={"tokenizer": self.settings.milvus_analyzer},
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
        kind, params = self.dense_index()
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
        index.add_index(
            field_name="sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.5, "bm25_b": 0.75},  # those of bm25s, our FAISS-side BM25
        )
        index.add_index(field_name="document_id", index_type="INVERTED")
        self.client.create_collection(
            chunks, schema=schema, index_params=index, consistency_level=STRONG
        )

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=1100)
        schema.add_field("document_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("part", DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
        schema.add_field("payload", DataType.VARCHAR, max_length=_VARCHAR)
        schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
        self.client.create_collection(
            docs, schema=schema, index_params=index, consistency_level=STRONG
        )
        self._loaded.update((chunks, docs))

    @contextmanager
    def writer(
        self, name: str, embedder: EmbedderInfo, chunker: dict[str, object], *, fresh: bool = False
    ) -> Iterator[MilvusWriter]:
        """A change to a collection, published on clean exit. Incremental changes land
        document by document; a fresh one (a rebuild) fills new Milvus collections and
        publishes them whole, or drops them on error."""
        check_name(name)
        with self.lock(name):
            writer = MilvusWriter(self, name, embedder, chunker, fresh=fresh)
            try:
                yield writer
                if writer.changed or writer.live is None or fresh:
                    writer.publish()
            except BaseException:
                writer.abandon()
                raise


class MilvusWriter:
    def __init__(
        self,
        store: MilvusStore,
        name: str,
        embedder: EmbedderInfo,
        chunker: dict[str, object],
        *,
        fresh: bool = False,
    ) -> None:
        self.store, self.name, self.embedder, self.chunker = store, name, embedder, chunker
        self.client = store.client
        self.live = store._manifest_or_none(name)
        self.fresh = fresh or self.live is None
        self.changed = False
        self._pending: list[tuple[Document, Sequence[Chunk], Vectors]] = []
        self._pending_chunks = 0
        if self.live is not None and not fresh:
            self.live.check_embedder(embedder)
            self.chunks, self.docs = self.live.dense["chunks"], self.live.dense["docs"]
            store.ensure_loaded(self.chunks, self.docs)
            self.next_generation = self.live.generation + 1
        else:
            self.next_generation = (self.live.generation + 1) if self.live else 1
            self.chunks, self.docs = store.physical(name, self.next_generation)
            store.create_physical(self.chunks, self.docs, int(embedder["dimension"]))
        self._created = self.live is None or self.chunks != self.live.dense["chunks"]
        self._view = MilvusDocs(self.client, self.docs, self.chunks)

    def content_hashes(self) -> dict[str, str]:
        self.flush()
        return self._view.content_hashes()

    def stored_documents(self) -> list[Document]:
        """The live collection's documents (a rebuild starts from them)."""
        if self.live is None:
            return []
        live = MilvusDocs(self.client, self.live.dense["docs"], self.live.dense["chunks"])
        return list(live.documents())

    def documents(self) -> Iterator[Document]:
        self.flush()
        return self._view.documents()

    def delete(self, document_id: str) -> bool:
        self.flush()
        expr = f"document_id == {literal(document_id)}"
        present = self.client.query(
            self.docs, filter=expr, output_fields=["key"], limit=1, consistency_level=STRONG
        )
        if not present:
            return False
        self.client.delete(self.chunks, filter=expr)
        self.client.delete(self.docs, filter=expr)
        self.changed = True
        return True

    def put(self, doc: Document, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace a document with its chunks and their vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        self._pending.append((doc, chunks, np.asarray(vectors, dtype=np.float32)))
        self._pending_chunks += len(chunks)
        self.changed = True
        if self._pending_chunks >= _FLUSH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        """Write the pending documents: new rows first, then their old ones go."""
        if not self._pending:
            return
        pending, self._pending, self._pending_chunks = self._pending, [], 0
        doc_rows: list[dict[str, Any]] = []
        chunk_rows: list[dict[str, Any]] = []
        keep_parts: dict[str, int] = {}
        keys: list[int] = []
        for doc, chunks, vectors in pending:
            record = json.dumps(_record(doc), ensure_ascii=False)
            parts = [record[i : i + _PART_CHARS] for i in range(0, len(record), _PART_CHARS)]
            keep_parts[doc.id] = len(parts)
            digest = doc.content_hash
            for number, payload in enumerate(parts):
                doc_rows.append(
                    {
                        "key": f"{doc.id}\x1f{number}",
                        "document_id": doc.id,
                        "part": number,
                        "content_hash": digest,
                        "payload": payload,
                        "placeholder": [0.0, 0.0],
                    }
                )
            for chunk, vector in zip(chunks, vectors, strict=True):
                key = row_id(doc.id, chunk.ordinal, digest)
                keys.append(key)
                header = "\n".join(p for p in (doc.title, chunk.section, chunk.text) if p)
                chunk_rows.append(
                    {
                        "pk": key,
                        "chunk_id": chunk.chunk_id,
                        "document_id": doc.id,
                        "ordinal": chunk.ordinal,
                        "start_offset": chunk.start,
                        "end_offset": chunk.end,
                        "page": chunk.page,
                        "section": None if chunk.section is None else _clip(chunk.section, 4096),
                        "title": _clip(doc.title, 4096),
                        "text": _clip(chunk.text),
                        "lexical": _clip(lexical_text(header)),
                        "metadata": doc.metadata,
                        "content_hash": digest,
                        "vector": vector.tolist(),
                    }
                )
        for start in range(0, len(chunk_rows), _FLUSH_CHUNKS):
            self.client.upsert(self.chunks, chunk_rows[start : start + _FLUSH_CHUNKS])
        for start in range(0, len(doc_rows), 64):
            self.client.upsert(self.docs, doc_rows[start : start + 64])
        ids = list(keep_parts)
        if not self._created:  # a collection made by this writer has no old rows
            stale = f"{_in('document_id', ids)} and not ({_in('pk', keys)})"
            self.client.delete(self.chunks, filter=stale)
            for doc_id, count in keep_parts.items():
                self.client.delete(
                    self.docs, filter=f"document_id == {literal(doc_id)} and part >= {count}"
                )

    def publish(self) -> None:
        self.flush()
        documents, chunks = self._view.counts()
        kind, params = self.store.dense_index()
        manifest = Manifest(
            collection=self.name,
            generation=self.next_generation,
            embedder=self.embedder,
            chunker=self.chunker,
            documents=documents,
            chunks=chunks,
            dense={
                "kind": "milvus",
                "index": kind,
                **{key.lower(): value for key, value in params.items()},
                "chunks": self.chunks,
                "docs": self.docs,
                "vectors": chunks,
            },
        )
        self.store._write_manifest(manifest)
        if self.live is not None and self.live.dense.get("chunks") != self.chunks:
            for old in (self.live.dense.get("chunks"), self.live.dense.get("docs")):
                if old and self.client.has_collection(old):
                    self.client.drop_collection(old)
        log.info(
            "published %s generation %d in Milvus: %d documents, %d chunks",
            self.name,
            self.next_generation,
            documents,
            chunks,
        )

    def abandon(self) -> None:
        """On error: a fresh write's new collections go; an incremental one keeps the
        documents it already wrote (each whole) and publishes their counts."""
        self._pending = []
        if self.live is None or self.chunks != self.live.dense.get("chunks"):
            for physical in (self.chunks, self.docs):
                if self.client.has_collection(physical):
                    self.client.drop_collection(physical)
        elif self.changed:
            try:
                self.publish()
            except Exception:
                log.exception("could not record the partial write to %s", self.name)
