"""RapidOCR: PP-OCRv4 detection and recognition (Chinese and English in one model) run by
onnxruntime; the models ship inside the pip wheel, so nothing is fetched at run time."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR

from qa.ingest.ocr.engine import TextLine

# RapidOCR logs every call's timings at INFO through a logger of its own.
logging.getLogger("RapidOCR").setLevel(logging.WARNING)


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self) -> None:
        self._ocr = RapidOCR()

    def read(self, image: Image.Image) -> list[TextLine]:
        # OpenCV's channel order: an array is taken as BGR as it is.
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        # The angle classifier turned whole lines of an upright scan upside down (and they
        # then read as "Ss"); pages arrive upright, photos turned by their EXIF tag.
        found, _ = self._ocr(pixels, use_cls=False)
        lines: list[TextLine] = []
        for corners, text, _score in found or ():
            text = " ".join(str(text).split())
            if not text:
                continue
            xs = [float(x) for x, _ in corners]
            ys = [float(y) for _, y in corners]
            lines.append(TextLine(text, (min(xs), min(ys), max(xs), max(ys))))
        return lines
