"""`qa index export|import`: move a collection between backends without re-embedding.

An export is a folder: `manifest.json` (the embedder and chunker the vectors were made
with), `documents.jsonl` (one document per line, as loaded), `chunks.jsonl` (one chunk
per line: document, ordinal, offsets, page, section, text) and `vectors.npy`
(float32, one row per line of chunks.jsonl). Importing puts the same documents,
chunks and vectors into a new generation of the target store: no model is loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InvalidInputError
from qa.models.protocols import EmbedderInfo
from qa.records import Chunk, Document
from qa.store.backend import Store

FORMAT = 1
_FILES = ("manifest.json", "documents.jsonl", "chunks.jsonl", "vectors.npy")


def export_collection(store: Store, name: str, out: Path) -> dict[str, Any]:
    """Write the collection's documents, chunks and vectors to the folder `out`."""
    collection = store.open(name)
    out.mkdir(parents=True, exist_ok=True)
    dimension = int(collection.manifest.embedder["dimension"])
    documents = chunks = 0
    blocks: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    with (
        (out / "documents.jsonl").open("w") as doc_file,
        (out / "chunks.jsonl").open("w") as chunk_file,
    ):
        for doc, stored, vectors in collection.export():
            doc_file.write(json.dumps(doc.to_record(), ensure_ascii=False) + "\n")
            for chunk in stored:
                record = asdict(chunk.chunk())
                chunk_file.write(json.dumps(record, ensure_ascii=False) + "\n")
            blocks.append(np.asarray(vectors, dtype=np.float32).reshape(-1, dimension))
            documents += 1
            chunks += len(stored)
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, dimension), np.float32)
    np.save(out / "vectors.npy", matrix)
    summary = {
        "format": FORMAT,
        "collection": name,
        "embedder": collection.manifest.embedder,
        "chunker": collection.manifest.chunker,
        "documents": documents,
        "chunks": chunks,
    }
    (out / "manifest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    collection.close()
    return summary


def import_collection(store: Store, folder: Path, name: str) -> dict[str, Any]:
    """Replace collection `name` in `store` with an export's contents, published whole."""
    missing = [f for f in _FILES if not (folder / f).is_file()]
    if missing:
        raise InvalidInputError(f"{folder} is not a `qa index export` folder: no {missing[0]}")
    summary = json.loads((folder / "manifest.json").read_text())
    if summary.get("format") != FORMAT:
        raise InvalidInputError(f"{folder}: export format {summary.get('format')} is not {FORMAT}")
    embedder: EmbedderInfo = summary["embedder"]
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    if vectors.shape[1:] != (int(embedder["dimension"]),):
        raise InvalidInputError(f"{folder}: vectors are {vectors.shape}, not {embedder}")
    by_document: dict[str, list[tuple[int, Chunk]]] = {}
    with (folder / "chunks.jsonl").open() as chunk_file:
        for line, text in enumerate(chunk_file):
            chunk = Chunk(**json.loads(text))
            by_document.setdefault(chunk.document_id, []).append((line, chunk))
    if sum(len(v) for v in by_document.values()) != len(vectors):
        raise InvalidInputError(f"{folder}: chunks.jsonl and vectors.npy differ in length")
    documents = chunks = 0
    with (
        store.writer(name, embedder, summary["chunker"], fresh=True) as writer,
        (folder / "documents.jsonl").open() as doc_file,
    ):
        for text in doc_file:
            doc = Document.from_record(json.loads(text))
            pairs = by_document.get(doc.id, [])
            if not pairs:
                continue
            rows = [line for line, _ in pairs]
            writer.put(doc, [c for _, c in pairs], np.asarray(vectors[rows], dtype=np.float32))
            documents += 1
            chunks += len(pairs)
    return {"collection": name, "documents": documents, "chunks": chunks, "from": os.fspath(folder)}
