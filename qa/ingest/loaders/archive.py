"""Zip containers (DOCX, PPTX, XLSX, EPUB, ODT) checked from their central directory
before a library inflates them.

Each of these libraries inflates whole parts in memory, and a part of repeated XML
compresses a thousandfold: the zip's directory says how large each part is once
inflated (zipfile never inflates past that size), so a decompression bomb is refused
before any parsing starts.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits

# A part smaller than this cannot bomb, whatever its ratio (a short run of repeated XML
# compresses a hundredfold too).
_RATIO_FLOOR = 1 << 20


def check_zip(path: Path, document_id: str, limits: LoaderLimits, kind: str) -> None:
    """Refuse a zip that inflates past the limits; `kind` names the format in the error."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise LoaderError(f"{document_id}: not a readable {kind} file ({exc})") from exc
    if not parts:
        raise LoaderError(f"{document_id}: {kind} file holds nothing")
    total = sum(part.file_size for part in parts)
    if total > limits.unzipped_bytes:
        raise LoaderError(
            f"{document_id}: {kind} unpacks to {total} bytes, over the limit of "
            f"{limits.unzipped_bytes} (QA_MAX_UNZIPPED_BYTES)"
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > _RATIO_FLOOR and ratio > limits.zip_ratio:
            raise LoaderError(
                f"{document_id}: {kind} part {part.filename!r} inflates {ratio:.0f} times, "
                f"over the limit of {limits.zip_ratio:g} (QA_MAX_ZIP_RATIO)"
            )
