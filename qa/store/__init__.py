"""A collection on disk: docstore, dense index and manifest, changed atomically."""
