"""Collections as files under the index dir: the embedded, one-machine backend.

`store` (FaissStore) finds and opens collections and hands out writers; a `reader`
(FaissReader) searches one published generation, a `writer` (FaissWriter) builds the
next; `generations` publishes them atomically. Each generation holds the SQLite
`docstore`, the `dense` FAISS index and the `sparse` BM25 index.
"""
