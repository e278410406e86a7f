"""`qa index export|import`: move a collection between backends without re-embedding.

An export is a folder: `manifest.json` (the embedder and chunker the vectors were made
with), `documents.jsonl` (one document per line, as loaded), `chunks.jsonl` (one chunk
per line: document, ordinal, offsets, page, section, text), `vectors.npy`
(float32, one row per line of chunks.jsonl) and `page_images.jsonl` (the pictures of
OCR'd pages, base64, one page per line; an export without it imports without them).
Importing puts the same documents, chunks and vectors into a new generation of the
target store, and the pictures into the target's catalogue: no model is loaded.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from qa.catalogue.page_images import PageImages
from qa.errors import InvalidInputError
from qa.models.protocols import EmbedderInfo
from qa.records import Chunk, Document
from qa.store.backend import Store

FORMAT = 1
_FILES = ("manifest.json", "documents.jsonl", "chunks.jsonl", "vectors.npy")
_PICTURES = "page_images.jsonl"


def export_collection(
    store: Store, name: str, out: Path, pictures: PageImages | None = None
) -> dict[str, Any]:
    """Write the collection's documents, chunks and vectors (and the pictures of its
    OCR'd pages, from `pictures`) to the folder `out`."""
    collection = store.open(name)
    out.mkdir(parents=True, exist_ok=True)
    dimension = int(collection.manifest.embedder["dimension"])
    documents = chunks = 0
    blocks: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    with (
        (out / "documents.jsonl").open("w") as doc_file,
        (out / "chunks.jsonl").open("w") as chunk_file,
        (out / _PICTURES).open("w") as picture_file,
    ):
        for doc, stored, vectors in collection.export():
            doc_file.write(json.dumps(doc.to_record(), ensure_ascii=False) + "\n")
            if pictures is not None:
                digest = doc.content_hash
                for page, image in pictures.pictures(name, doc.id, digest).items():
                    line = {"document": doc.id, "content_hash": digest, "page": page}
                    line["jpeg"] = base64.b64encode(image).decode("ascii")
                    picture_file.write(json.dumps(line, ensure_ascii=False) + "\n")
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


def _picture_lines(folder: Path) -> dict[tuple[str, str], list[int]]:
    """Where each document version's pictures start in page_images.jsonl: they are read
    one document at a time, not held all at once (300 KB a page)."""
    offsets: dict[tuple[str, str], list[int]] = {}
    if not (folder / _PICTURES).is_file():
        return offsets
    with (folder / _PICTURES).open("rb") as file:
        while True:
            at = file.tell()
            line = file.readline()
            if not line:
                return offsets
            # The line's picture is dropped here, and decoded when its document is put.
            head = json.loads(line)
            offsets.setdefault((head["document"], head["content_hash"]), []).append(at)


def _pictures_at(folder: Path, offsets: list[int]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with (folder / _PICTURES).open("rb") as file:
        for at in offsets:
            file.seek(at)
            line = json.loads(file.readline())
            found[str(line["page"])] = base64.b64decode(line["jpeg"], validate=True)
    return found


def import_collection(
    store: Store, folder: Path, name: str, pictures: PageImages | None = None
) -> dict[str, Any]:
    """Replace collection `name` in `store` with an export's contents, published whole;
    the pictures of its OCR'd pages go to `pictures`."""
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
    picture_lines = _picture_lines(folder) if pictures is not None else {}
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
            held = picture_lines.get((doc.id, doc.content_hash))
            if pictures is not None and held:
                doc.page_images = _pictures_at(folder, held)
                pictures.put(name, doc)
            documents += 1
            chunks += len(pairs)
    return {"collection": name, "documents": documents, "chunks": chunks, "from": os.fspath(folder)}
