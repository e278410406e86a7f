"""Images (.png .jpg .jpeg .tif .tiff): a photo or scan of a page, read by OCR; each frame
of a multi-page TIFF is a page.

The size in the header is checked before any pixel is decoded: a small PNG can declare
a picture of billions of pixels. A photo is turned upright by its EXIF orientation
first, as a phone camera leaves it lying on its side.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.ocr.layout import assemble, ocr_metadata
from qa.ingest.ocr.pages import PageImage, check_pages, check_pixels, recognise
from qa.ingest.structure import sections
from qa.records import Document


def _frame(image: Image.Image, index: int) -> PageImage:
    def decode() -> Image.Image:
        image.seek(index)
        return ImageOps.exif_transpose(image.convert("RGB"))

    return decode


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    options = limits.ocr
    if options is None:
        raise LoaderError(f"{document_id}: images are read by OCR, which is off (QA_OCR_ENGINE)")
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as exc:
        # Pillow refuses past twice its MAX_IMAGE_PIXELS, above any QA_OCR_MAX_PIXELS allowed.
        raise LoaderError(
            f"{document_id}: the image has more pixels than Pillow opens "
            f"({2 * (Image.MAX_IMAGE_PIXELS or 0)}), over the limit of {options.max_pixels} "
            "(QA_OCR_MAX_PIXELS)"
        ) from exc
    except Image.UnidentifiedImageError as exc:
        raise LoaderError(f"{document_id}: not a readable image ({exc})") from exc
    with image:
        frames = getattr(image, "n_frames", 1)
        check_pages(document_id, frames, options)
        for index in range(frames):
            image.seek(index)
            check_pixels(document_id, str(index + 1), image.width, image.height, options)
        pages = recognise(
            document_id,
            [(str(index + 1), _frame(image, index)) for index in range(frames)],
            options,
        )
    paged = assemble(pages)
    if not paged.text:
        raise LoaderError(f"{document_id}: the image holds no text OCR could read")
    yield Document(
        id=document_id,
        text=paged.text,
        title=paged.text.splitlines()[0].strip()[:200],
        metadata={"ocr": ocr_metadata(options, paged)},
        pages=paged.pages,
        sections=sections(paged.text),
        source=str(path),
        page_images=paged.previews,
    )
