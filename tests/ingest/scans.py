"""Pages as a scanner or a phone camera gives them, drawn by the tests themselves: the
OCR tests and the end-to-end checks of scanned documents read the same pictures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
NOTO_CJK_SC = 2
"""The Simplified Chinese face in the Noto CJK collection."""


def page_picture(lines: list[str], font: str, *, size: int = 36, index: int = 0) -> Image.Image:
    """Text as a scanner would see it: black on white, at about 200 dpi."""
    face = ImageFont.truetype(font, size, index=index)
    image = Image.new("L", (1400, 120 + 70 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((60, 60 + 70 * n), line, font=face, fill=0)
    return image


def photo_of(page: Image.Image, seed: int = 7) -> Image.Image:
    """The page as a phone photographs it: on a grey desk, turned a little, unevenly lit
    and slightly out of focus, in colour; the sensor's grain drawn from ``seed``."""
    desk = Image.new("L", (page.width + 160, page.height + 160), 120)
    desk.paste(page, (80, 80))
    turned = desk.rotate(1.5, resample=Image.Resampling.BICUBIC, fillcolor=120)
    shade = Image.linear_gradient("L").resize(turned.size).point(lambda v: 215 + v * 40 // 255)
    lit = Image.composite(turned, shade, Image.new("L", turned.size, 200))
    noise = np.random.default_rng(seed).normal(0.0, 12.0, (turned.height, turned.width))
    grain = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
    grainy = Image.blend(lit, grain, 0.06)
    return grainy.filter(ImageFilter.GaussianBlur(0.6)).convert("RGB")


def scanned_pdf(path: Path, pictures: list[Image.Image], text_page: str | None = None) -> Path:
    """A PDF of page images (no text layer), after an optional born-digital page."""
    pdf = FPDF()
    if text_page is not None:
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(text=text_page)
    for picture in pictures:
        pdf.add_page()
        pdf.image(picture, x=10, y=10, w=190)
    pdf.output(str(path))
    return path


@dataclass(frozen=True)
class ScannedCase:
    """A scanned or photographed page of our own, a question only it answers, a word the
    answer must hold, and the page a citation must name."""

    file: str
    question: str
    answer_holds: tuple[str, ...]
    page: int


SCANNED_CASES = (
    ScannedCase("lease-scan.pdf", "How many weeks of rent may a landlord ask for as a bond?",
                ("four", "4"), 2),
    ScannedCase("clinic-photo.jpg", "When does the Harbour Street clinic close on weekdays?",
                ("6",), 1),
    ScannedCase("exam-rules-scan.pdf", "补考申请须在成绩公布后多长时间内提出？", ("十", "10"), 2),
    ScannedCase("library-photo.jpg", "每位读者最多可以借阅几本图书？", ("六", "6"), 1),
)  # fmt: skip


def write_scanned_cases(folder: Path) -> list[Path]:
    """The four files of SCANNED_CASES: a scanned PDF (after a born-digital cover page)
    and a phone photo of a page, in English and in Chinese."""
    en, zh = (DEJAVU, 0), (NOTO_CJK, NOTO_CJK_SC)
    pages = {
        "lease-scan.pdf": (en, ["Section 4. Bond",
                                "A landlord must not ask for more than four weeks of rent",
                                "as a bond for a residential tenancy."]),
        "clinic-photo.jpg": (en, ["Clinic opening hours",
                                  "The Harbour Street clinic opens at 8 am and closes",
                                  "at 6 pm on weekdays; it is closed on public holidays."]),
        "exam-rules-scan.pdf": (zh, ["第三条 补考", "补考申请须在成绩公布后十个工作日内提出。"]),
        "library-photo.jpg": (zh, ["第五条 借阅期限",
                                   "每位读者最多可借阅六本图书，借期为三十天。"]),
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, ((font, index), lines) in pages.items():
        picture = page_picture(lines, font, index=index)
        path = folder / name
        if name.endswith(".pdf"):
            scanned_pdf(path, [picture], text_page="Cover page")
        else:
            photo_of(picture).save(path, quality=85)
        paths.append(path)
    return paths
