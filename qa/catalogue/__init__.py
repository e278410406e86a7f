"""The service's own state beside the indexes: API keys, ingestion jobs, collections
created over HTTP that hold no document yet, and conversations kept for clients.

One machine: a SQLite file (`catalogue.sqlite` in the index dir), a connection per
thread, with WAL and a busy timeout, so the server's threads, its ingestion worker and a
`qa keys` command in another process can use it at once. Several API replicas:
one PostgreSQL database for all of them (`QA_CATALOGUE_URL=postgresql://...`), so
a key created or revoked anywhere holds everywhere and any replica can report any
job. The SQL is shared, one module per table (`keys`, `jobs`, `collections`,
`conversations`, `page_images`); each backend module only opens connections.
"""

from __future__ import annotations

import socket
from pathlib import Path

from qa.catalogue import collections, conversations, jobs, keys
from qa.catalogue.backend import open_backend
from qa.catalogue.collections import CollectionTable
from qa.catalogue.conversations import Conversation, ConversationTable, Message, MessageRole
from qa.catalogue.jobs import Job, JobQueue, JobStatus
from qa.catalogue.keys import ALL_COLLECTIONS, ROLES, ApiKey, KeyTable, Role
from qa.catalogue.page_images import PageImages
from qa.catalogue.tables import now

__all__ = [
    "ALL_COLLECTIONS",
    "ROLES",
    "ApiKey",
    "Catalogue",
    "Conversation",
    "Job",
    "JobStatus",
    "Message",
    "MessageRole",
    "PageImages",
    "Role",
    "now",
]


class Catalogue(KeyTable, JobQueue, CollectionTable, ConversationTable):
    """The catalogue's tables behind one object, on the database `location` names."""

    def __init__(self, location: Path | str, *, owner: str | None = None) -> None:
        """location: a SQLite file, or a postgresql:// URL. owner names this process's
        ingestion worker: jobs are spooled on its disk, so only it may claim them."""
        self.backend = open_backend(location)
        self.location = location
        self.owner = owner or socket.gethostname()
        self.backend.create(
            "\n".join((keys.SCHEMA, jobs.SCHEMA, collections.SCHEMA, conversations.SCHEMA))
        )
        self.backend.add_columns("jobs", jobs.ADDED_COLUMNS)
