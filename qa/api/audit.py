"""An append-only JSON-lines record of who asked what of which collection, and which
documents the answer drew on: what a regulated (legal, medical) deployment must keep."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from qa.catalogue import ApiKey, now


class AuditLog:
    def __init__(self, path: Path | None, questions: Literal["hash", "text"]) -> None:
        """path None: auditing is off."""
        self.path = path
        self.questions = questions
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(
        self,
        *,
        key: ApiKey | None,
        route: str,
        collection: str | None,
        question: str | None = None,
        documents: Sequence[str] = (),
        status: int = 200,
    ) -> None:
        if self.path is None:
            return
        entry: dict[str, object] = {
            "time": now(),
            "key_id": key.id if key else None,
            "route": route,
            "collection": collection,
            "status": status,
            "documents": list(dict.fromkeys(documents)),
        }
        if question is not None:
            if self.questions == "text":
                entry["question"] = question
            else:
                entry["question_sha256"] = hashlib.sha256(question.encode()).hexdigest()
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
