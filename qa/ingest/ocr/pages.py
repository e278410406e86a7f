"""OCR of a file's pages, one at a time, within the file's limits, reporting progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from PIL import Image

from qa.errors import LoaderError
from qa.ingest.ocr import engine_named, progress
from qa.ingest.ocr.layout import OcrPage, PageText, drop_running, page_text
from qa.ingest.ocr.options import OcrOptions
from qa.ingest.ocr.preview import preview

log = logging.getLogger(__name__)

PageImage = Callable[[], Image.Image]
"""Renders or decodes one page when its turn comes, so one page's pixels are held at a time."""


def check_pages(document_id: str, count: int, options: OcrOptions) -> None:
    if count > options.max_pages:
        raise LoaderError(
            f"{document_id}: {count} pages need OCR, over the limit of {options.max_pages} "
            "(QA_OCR_MAX_PAGES)"
        )


def check_pixels(
    document_id: str, label: str, width: int, height: int, options: OcrOptions
) -> None:
    if width * height > options.max_pixels:
        raise LoaderError(
            f"{document_id}: page {label} is {width} x {height} pixels to OCR, over the limit "
            f"of {options.max_pixels} (QA_OCR_MAX_PIXELS)"
        )


def recognise(
    document_id: str, pages: Sequence[tuple[str, PageImage]], options: OcrOptions
) -> list[PageText]:
    """Each page's text in reading order with its boxes, running headers and footers
    dropped; a page where nothing was found has empty text (and a log line)."""
    check_pages(document_id, len(pages), options)
    engine = engine_named(options.engine)
    started = time.monotonic()
    progress.report(document_id, 0, len(pages))
    found: list[OcrPage] = []
    for done, (label, render) in enumerate(pages):
        spent = time.monotonic() - started
        if spent > options.max_seconds:
            raise LoaderError(
                f"{document_id}: OCR stopped at page {label} after {spent:.0f} s, over the "
                f"limit of {options.max_seconds:g} s a file (QA_OCR_MAX_SECONDS)"
            )
        image = render()
        check_pixels(document_id, label, image.width, image.height, options)
        lines = engine.read(image)
        picture = preview(image, options.preview_side) if options.preview_side and lines else None
        found.append(OcrPage(label, image.width, image.height, lines, picture))
        image.close()
        progress.report(document_id, done + 1, len(pages))
    drop_running(found)
    texts = [page_text(page) for page in found]
    for page in texts:
        if not page.text:
            log.info("%s: page %s: OCR found no text; skipped", document_id, page.label)
    return texts
