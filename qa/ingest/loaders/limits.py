"""How much work one file may ask of a loader.

A file under the upload size limit can still describe far more: a DOCX (a zip) that
inflates a thousandfold, a PDF of a million pages or of pages a mile wide, HTML nested
100,000 elements deep. The loaders check these before doing the work and refuse the
file with a LoaderError naming it, the limit and the setting that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.ingest.ocr.options import OcrOptions
from qa.settings import Settings
from qa.settings.service import ServiceSettings

_DEFAULTS = ServiceSettings.model_fields


@dataclass(frozen=True)
class LoaderLimits:
    unzipped_bytes: int
    zip_ratio: float
    pdf_pages: int
    pdf_page_points: float
    html_depth: int
    ocr: OcrOptions | None = None
    """None: pages and images without text are reported, not OCR'd (QA_OCR_ENGINE=none)."""
    # Defaulted, so limits written out in full before these existed still hold.
    sheet_cells: int = _DEFAULTS["max_sheet_cells"].default
    attachments: int = _DEFAULTS["max_attachments"].default
    mail_depth: int = _DEFAULTS["max_mail_depth"].default
    """Mails that may still be opened inside this one; each attached mail is read with one less."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LoaderLimits:
        return cls(
            unzipped_bytes=settings.max_unzipped_bytes,
            zip_ratio=settings.max_zip_ratio,
            pdf_pages=settings.max_pdf_pages,
            pdf_page_points=settings.max_pdf_page_points,
            html_depth=settings.max_html_depth,
            ocr=None
            if settings.ocr_engine == "none"
            else OcrOptions(
                engine=settings.ocr_engine,
                dpi=settings.ocr_dpi,
                max_pages=settings.ocr_max_pages,
                max_pixels=settings.ocr_max_pixels,
                max_seconds=settings.ocr_max_seconds,
                preview_side=settings.ocr_page_image_side,
            ),
            sheet_cells=settings.max_sheet_cells,
            attachments=settings.max_attachments,
            mail_depth=settings.max_mail_depth,
        )
