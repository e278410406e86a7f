"""Typed errors. Each carries the HTTP status it maps to, so the API turns any of
them into a problem-details response in one place and the CLI into one line."""

from __future__ import annotations


class QAError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInputError(QAError):
    status = 422
    title = "Invalid input"


class CollectionNotFoundError(QAError):
    status = 404
    title = "Collection not found"


class IndexMismatchError(QAError):
    """The index was built with another embedder or chunker than the one asked for."""

    status = 409
    title = "Index mismatch"


class IndexCorruptError(QAError):
    status = 500
    title = "Index corrupt"


class ModelNotAvailableError(QAError):
    """A model package is missing, or its bytes differ from the pinned sha256."""

    status = 503
    title = "Model not available"


class LoaderError(QAError):
    """A file could not be turned into text: empty, binary, malformed or unsupported."""

    status = 422
    title = "Unreadable document"
