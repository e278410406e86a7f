"""RapidOCR: PP-OCRv4 detection and recognition (Chinese and English in one model) run by
onnxruntime; the models ship inside the pip wheel, so nothing is fetched at run time."""

from __future__ import annotations

import logging

import cv2
import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR

from qa.ingest.ocr.engine import TextLine

# RapidOCR logs every call's timings at INFO through a logger of its own.
logging.getLogger("RapidOCR").setLevel(logging.WARNING)

_MODEL_HEIGHT = 48
"""The recognition model's input height in pixels."""
_LINE_HEIGHT = 64
"""Lines shorter than the model's height are enlarged to this first (bicubic): left to
the model's own linear resize, the gaps between English words in a small, blurred or
JPEG-compressed line vanish ("TheHarbourStreetclinicopens"), and a search for any of the
words then misses."""
_MAX_ENLARGEMENT = 4.0
"""A box a few pixels high holds no readable line: not worth a huge copy."""


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self) -> None:
        self._ocr = RapidOCR()

    def read(self, image: Image.Image) -> list[TextLine]:
        # OpenCV's channel order: an array is taken as BGR as it is.
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        # Lines are found on the engine's reduced copy (at most 2000 pixels a side), but
        # read from the full picture: a 300 dpi page reduced to that loses the spaces too.
        # The angle classifier turned whole lines of an upright scan upside down (and they
        # then read as "Ss"); pages arrive upright, photos turned by their EXIF tag.
        boxes, _ = self._ocr(pixels, use_cls=False, use_rec=False)
        if not boxes:
            return []
        quads = [np.array(box, dtype=np.float32) for box in boxes]
        crops = [_enlarged(crop) for crop in self._ocr.get_crop_img_list(pixels, quads)]
        read, _ = self._ocr.text_rec(crops)
        lines: list[TextLine] = []
        for quad, (text, score) in zip(quads, read, strict=True):
            text = " ".join(str(text).split())
            if not text or score < self._ocr.text_score:
                continue
            xs, ys = quad[:, 0], quad[:, 1]
            lines.append(
                TextLine(text, (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())))
            )
        return lines


def _enlarged(crop: np.ndarray) -> np.ndarray:
    height = crop.shape[0]
    if height >= _MODEL_HEIGHT:
        return crop
    scale = min(_LINE_HEIGHT / max(height, 1), _MAX_ENLARGEMENT)
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
