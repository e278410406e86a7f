"""OCR of scanned pages and images: one module per engine behind `engine_named`, the
reading order and page assembly shared by all (qa.ingest.ocr.layout), and the page
progress hook (qa.ingest.ocr.progress)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from qa.ingest.ocr.engine import OcrEngine


def _rapidocr() -> OcrEngine:
    from qa.ingest.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine()


def _tesseract() -> OcrEngine:
    from qa.ingest.ocr.tesseract import TesseractEngine

    return TesseractEngine()


# Imported when first used: onnxruntime and OpenCV take a second and 800 MB of address
# space, which a process reading only text files should not pay.
ENGINES: dict[str, Callable[[], OcrEngine]] = {"rapidocr": _rapidocr, "tesseract": _tesseract}


@cache
def engine_named(name: str) -> OcrEngine:
    """The engine, loaded once per process (RapidOCR's models take a second to load)."""
    return ENGINES[name]()
