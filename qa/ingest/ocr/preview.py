"""The picture kept of an OCR'd page, so that the web page can show where on the page a
citation was read: the source file is not kept (an upload's is deleted once read), and
the page as rendered for OCR (8.7 million pixels for A4 at 300 dpi) is a hundred times
what a screen shows."""

from __future__ import annotations

import io

from PIL import Image

_QUALITY = 80
"""JPEG quality: the text of a reduced page stays readable, at 100-250 KB a page."""
_GREY = 3
"""How far from neutral a pixel's chroma may be on a page kept in grey (paper tint)."""


def preview(image: Image.Image, side: int) -> bytes:
    """The page reduced to at most `side` pixels on its longer side, as a JPEG; in grey
    where the page has no colour (most scans, though the loaders hand over RGB)."""
    picture = image.convert("RGB")
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    chroma = [v for band in picture.convert("YCbCr").getextrema()[1:] for v in _pair(band)]
    if all(abs(v - 128) <= _GREY for v in chroma):
        picture = picture.convert("L")
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue()


def _pair(band: object) -> tuple[float, ...]:
    """One band's (min, max), as Pillow's loosely typed `getextrema` gives it."""
    return tuple(band) if isinstance(band, tuple) else ()
