"""API keys: who may use which collections, and how much they may change.

A key reads `qa_<id>_<secret>`: the id finds the row, only a hash of the whole key is
stored, and the secret's 256 random bits make a salt unnecessary."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qa.catalogue.tables import Tables, now
from qa.errors import InvalidInputError

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")
ALL_COLLECTIONS = "*"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    collections TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    collections: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def allows(self, collection: str) -> bool:
        return ALL_COLLECTIONS in self.collections or collection in self.collections

    def at_least(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "collections": list(self.collections),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        collections=tuple(json.loads(row["collections"])),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class KeyTable(Tables):
    def create_key(self, name: str, role: Role, collections: Sequence[str]) -> tuple[ApiKey, str]:
        if role not in ROLES:
            raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        scope = tuple(dict.fromkeys(c.strip() for c in collections if c.strip()))
        if not scope:
            raise InvalidInputError("a key needs at least one collection, or '*' for all")
        key_id = secrets.token_hex(6)
        token = f"qa_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name or key_id, role, scope, now())
        with self._db() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key.id, key.name, _hash(token), role, json.dumps(scope), key.created_at),
            )
        return key, token

    def revoke_key(self, key_id: str) -> bool:
        with self._db() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now(), key_id),
            )
            return cursor.rowcount > 0

    def keys(self) -> list[ApiKey]:
        with self._db() as db:
            return [_key(r) for r in db.execute("SELECT * FROM api_keys ORDER BY created_at")]

    def has_active_keys(self) -> bool:
        with self._db() as db:
            row = db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone()
            return row is not None

    def ever_had_keys(self) -> bool:
        """Revoked keys count: a service whose last key is revoked stays closed instead
        of silently falling back to open mode."""
        with self._db() as db:
            return db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def authenticate(self, token: str) -> ApiKey | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "qa":
            return None
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (parts[1],)
            ).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], _hash(token)):
            return None
        return _key(row)
