"""What a generation was built with, so a reader can refuse to mix models."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.errors import IndexCorruptError, IndexMismatchError
from qa.models.protocols import EmbedderInfo

FORMAT = 1
MANIFEST = "manifest.json"


@dataclass
class Manifest:
    collection: str
    generation: int
    embedder: EmbedderInfo
    chunker: dict[str, Any]
    documents: int = 0
    chunks: int = 0
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each data file of the generation, checked by `qa index verify`."""
    dense: dict[str, Any] = field(default_factory=lambda: {"kind": "flat"})
    """The dense index type and its build parameters; manifests older than HNSW
    support have none, and their indexes are all flat."""
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format: int = FORMAT

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False))

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text())
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}") from exc
        if manifest.format != FORMAT:
            raise IndexMismatchError(
                f"{path} has format {manifest.format}, this qa reads format {FORMAT}; "
                f"run `qa index rebuild --collection {manifest.collection}`"
            )
        return manifest

    def check_embedder(self, actual: EmbedderInfo) -> None:
        """Vectors from two different models are not comparable: refuse loudly."""
        expected = self.embedder
        if (expected["name"], expected["dimension"], expected["sha256"]) != (
            actual["name"],
            actual["dimension"],
            actual["sha256"],
        ):
            raise IndexMismatchError(
                f"collection {self.collection!r} was built with embedder {expected['name']!r} "
                f"({expected['dimension']}-d, sha256 {expected['sha256'][:12]}…) but embedder "
                f"{actual['name']!r} ({actual['dimension']}-d, sha256 {actual['sha256'][:12]}…) "
                f"was given; run `qa index rebuild --collection {self.collection} "
                f"--embedder {actual['name']}` to re-embed it, or use the original embedder"
            )
