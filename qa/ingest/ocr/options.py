"""What a loader needs to know to OCR a file: the engine and the limits per file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OcrOptions:
    engine: str
    dpi: int
    max_pages: int
    max_pixels: int
    max_seconds: float
    preview_side: int = 0
    """Longest side of the picture kept of each page read; 0 keeps none."""
