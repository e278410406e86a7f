"""Finding the passages a query is about: a query opened once (`context`), then dense
and BM25 search, fusion and filters in the store, and an optional rerank (`search`)."""
