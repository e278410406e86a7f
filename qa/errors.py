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


class UnauthorizedError(QAError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    title = "Unauthorized"


class ForbiddenError(QAError):
    """A valid key asking for a collection or an action outside its scope."""

    status = 403
    title = "Forbidden"


class NotFoundError(QAError):
    status = 404
    title = "Not found"


class ConflictError(QAError):
    status = 409
    title = "Conflict"


class PayloadTooLargeError(QAError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaTypeError(QAError):
    status = 415
    title = "Unsupported media type"


class BusyError(QAError):
    """The generation queue is full: the client should come back later (Retry-After)."""

    status = 503
    title = "Busy"


class CollectionBusyError(BusyError):
    """A collection's writer lock stayed held (an ingestion holds it for its whole run)
    for longer than a DELETE may wait in the request thread pool."""

    title = "Collection busy"


class RequestTimeoutError(QAError):
    status = 504
    title = "Timed out"


class CatalogueUnavailableError(QAError):
    """The shared catalogue database (PostgreSQL) cannot be reached."""

    status = 503
    title = "Catalogue unavailable"


class UpstreamError(QAError):
    """A remote engine (generator or embedder server) answered with something unusable:
    an error status, a malformed reply, a stream cut short. The detail names the engine
    by host, never by key."""

    status = 502
    title = "Bad gateway"


class UpstreamUnavailableError(UpstreamError):
    """A remote engine refused the connection or said it is overloaded, through every
    retry: the client may come back later (Retry-After)."""

    status = 503
    title = "Engine unavailable"


class UpstreamTimeoutError(UpstreamError):
    """A remote engine stayed silent past the read timeout."""

    status = 504
    title = "Engine timed out"
