"""The picture kept of an OCR'd page, so that the web page can show where on the page a
citation was read: the source file is not kept (an upload's is deleted once read), and
the page as rendered for OCR (8.7 million pixels for A4 at 300 dpi) is a hundred times
what a screen shows."""

from __future__ import annotations

import io

from PIL import Image

_QUALITY = 70
"""JPEG quality: the text of a reduced page stays readable; an A4 page of 60 lines at 300
dpi, reduced to 1600 px, takes 300 KB."""
_GREY = 3
"""How far from neutral a pixel's chroma may be on a page kept in grey (paper tint)."""


def preview(image: Image.Image, side: int) -> bytes:
    """The page reduced to at most `side` pixels on its longer side, as a JPEG; in grey
    where the page has no colour (most scans, though the loaders hand over RGB). Colour is
    judged on an eighth-size copy and a grey page is reduced in one band: 50 ms for an A4
    page at 300 dpi instead of 150."""
    picture = image if image.mode in ("L", "RGB") else image.convert("RGB")
    if picture.mode == "RGB" and _grey(picture.reduce(8)):
        picture = picture.convert("L")
    elif picture is image:
        picture = image.copy()
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue()


def _grey(sample: Image.Image) -> bool:
    chroma = [v for band in sample.convert("YCbCr").getextrema()[1:] for v in _pair(band)]
    return all(abs(v - 128) <= _GREY for v in chroma)


def _pair(band: object) -> tuple[float, ...]:
    """One band's (min, max), as Pillow's loosely typed `getextrema` gives it."""
    return tuple(band) if isinstance(band, tuple) else ()
