"""One loader module per file format, chosen by suffix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from qa.errors import LoaderError
from qa.ingest.loaders import (
    docx,
    epub,
    html,
    jsonl,
    mail,
    markdown,
    odt,
    pdf,
    pptx,
    rtf,
    spreadsheet,
    text,
)
from qa.ingest.loaders.image import load as load_image
from qa.ingest.loaders.limits import LoaderLimits
from qa.records import Document
from qa.settings import get_settings

# Every loader is given the limits; the text formats have none to apply, their work
# being linear in the file's size, which `load` bounds.
Loader = Callable[[Path, str, LoaderLimits], Iterator[Document]]

LOADERS: dict[str, Loader] = {
    ".txt": text.load,
    ".md": markdown.load,
    ".markdown": markdown.load,
    ".html": html.load,
    ".htm": html.load,
    ".pdf": pdf.load,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
    ".docx": docx.load,
    ".jsonl": jsonl.load,
    ".pptx": pptx.load,
    ".xlsx": spreadsheet.load_xlsx,
    ".csv": spreadsheet.load_csv,
    ".epub": epub.load,
    ".odt": odt.load,
    ".rtf": rtf.load,
    ".eml": mail.load_eml,
    ".mbox": mail.load_mbox,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load(
    path: Path, document_id: str, *, max_bytes: int, limits: LoaderLimits | None = None
) -> Iterator[Document]:
    """Documents held in one file. Raises LoaderError naming the file on any problem.

    `limits` default to the settings' (QA_MAX_UNZIPPED_BYTES and the others).
    """
    limits = limits or LoaderLimits.from_settings(get_settings())
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError(
            f"{document_id}: unsupported file type {path.suffix!r} "
            f"(supported: {', '.join(sorted(LOADERS))})"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoaderError(f"{document_id}: cannot read file: {exc.strerror}") from exc
    if size == 0:
        raise LoaderError(f"{document_id}: file is empty")
    if size > max_bytes:
        raise LoaderError(f"{document_id}: file is {size} bytes, over the limit of {max_bytes}")
    try:
        yield from loader(path, document_id, limits)
    except LoaderError:
        raise
    except RecursionError as exc:
        raise LoaderError(f"{document_id}: nested too deeply to read") from exc
    except MemoryError as exc:
        raise LoaderError(f"{document_id}: needs more memory to read than there is") from exc
    except OSError as exc:
        raise LoaderError(f"{document_id}: cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise LoaderError(f"{document_id}: not a readable {path.suffix} file ({exc})") from exc
