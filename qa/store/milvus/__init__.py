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
