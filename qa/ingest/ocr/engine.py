"""What an OCR engine does for the loaders: lines of text with their boxes.

Engines differ in what they return (RapidOCR: a quadrilateral per line; Tesseract: a
box per word with block and line numbers); each module turns its engine's output into
these lines, and everything after (reading order, running headers, page offsets) is
the engine's neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class TextLine:
    text: str
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in pixels from the image's top left."""

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def middle(self) -> float:
        return (self.box[1] + self.box[3]) / 2


class OcrEngine(Protocol):
    name: str

    def read(self, image: Image.Image) -> list[TextLine]:
        """The text lines found in the image, in no particular order."""
        ...
