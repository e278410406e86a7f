"""OCR accuracy, speed and retrieval on documents rendered here (docs/EVALUATION.md,
Documents).

Three one-page documents a language (a statute with sections, a medicine leaflet with a
table, a two-column page), laid out once and drawn both as born-digital PDF text (fpdf2)
and as pictures (Pillow) at 150 and 300 dpi, clean or with mild noise and a 0.6 degree
skew. Each engine reads every picture through qa's reading order (qa.ingest.ocr.layout);
character accuracy is 1 - CER against the laid-out text, whitespace and cell bars aside
(Chinese has no spaces to keep, and a table's bars are layout). Retrieval: the pages
wrapped as one born-digital PDF and as one scanned (image-only) PDF a language, ingested
through qa's loaders with the collection's embedder (MiniLM English, e5 Chinese), and
questions asked about each page: is the page the question is about the first hit?

    .venv/bin/python scripts/eval_ocr.py [--engines rapidocr tesseract] [--dpi 150 300]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from qa.ingest.ocr import engine_named
from qa.ingest.ocr.layout import OcrPage, page_text
from qa.records import SearchRequest
from qa.retrieval.search import Retriever
from qa.runtime import Runtime
from qa.settings import Settings

FONTS = {
    "en": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
    "zh": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # SC
}
PAGE_MM = (210.0, 297.0)
MARGIN_MM = 20.0
SIZE_PT = 11.0


@dataclass
class Item:
    """One line of a page: where it starts (mm from the top left) and its text."""

    x: float
    y: float
    text: str


STATUTE = {
    "en": [
        "Residential Tenancies Act 2024",
        "Part 2 - Bonds",
        "Section 12. Maximum bond",
        "(1) A landlord must not require or accept a bond that is more than four weeks'",
        "rent under the agreement.",
        "(2) A landlord who accepts more commits an offence; penalty: 50 penalty units.",
        "Section 13. Lodging the bond",
        "(1) The landlord must lodge the bond with the Bond Authority within ten business",
        "days after receiving it.",
        "Section 14. Receipts",
        "A receipt must be given for every payment of rent made in cash, stating the date,",
        "the amount, the premises and the period for which the rent is paid.",
    ],
    "zh": [
        "住房租赁条例",
        "第二章 押金",
        "第十二条 出租人收取的押金不得超过四周的租金。",
        "出租人收取超过上述数额押金的，处以五十个罚款单位的罚款。",
        "第十三条 出租人应当在收到押金之日起十个工作日内，",
        "将押金交存押金管理机构。",
        "第十四条 承租人以现金支付租金的，出租人应当出具收据，",
        "载明日期、金额、房屋地址以及租金所属期间。",
        "第十五条 租赁期满，承租人返还房屋的，出租人应当在",
        "十四日内退还押金，但依法扣除的部分除外。",
    ],
}
LEAFLET = {
    "en": (
        [
            "Paracetamol 500 mg tablets - package leaflet",
            "What this medicine is used for: mild to moderate pain and fever.",
            "Do not take more than the dose in the table below.",
            "How much to take",
        ],
        [
            ["Age", "Dose", "How often"],
            ["Adults and 16 and over", "1 to 2 tablets", "every 4 to 6 hours"],
            ["12 to 15 years", "1 tablet", "every 4 to 6 hours"],
            ["Under 12 years", "do not use", "ask a doctor"],
        ],
        [
            "Do not take more than 8 tablets in 24 hours.",
            "Store below 25 degrees and keep out of the sight and reach of children.",
        ],
    ),
    "zh": (
        [
            "对乙酰氨基酚片 说明书",
            "适应症：用于缓解轻至中度疼痛及发热。",
            "用法用量：请勿超过下表所列剂量。",
        ],
        [
            ["年龄", "每次用量", "间隔"],
            ["成人及十六岁以上", "一至二片", "四至六小时"],
            ["十二至十五岁", "一片", "四至六小时"],
            ["十二岁以下", "不宜使用", "请咨询医生"],
        ],
        [
            "二十四小时内不得超过八片。",
            "贮藏：二十五度以下保存，放在儿童不能接触的地方。",
        ],
    ),
}
COLUMNS = {
    "en": (
        "Judgment of the Court of Appeal",
        [
            "The appellant leased the premises",
            "in March 2021 for a term of two",
            "years. The landlord required a bond",
            "of six weeks' rent, which the",
            "tenant paid in cash without a",
            "receipt being given at the time.",
        ],
        [
            "We hold that the excess bond must",
            "be repaid with interest at the",
            "statutory rate, and we order the",
            "landlord to pay the costs of the",
            "appeal within twenty eight days",
            "of the date of this judgment.",
        ],
    ),
    "zh": (
        "上诉法院判决书",
        [
            "上诉人于二〇二一年三月承租",
            "涉案房屋，租期两年。出租人",
            "要求支付相当于六周租金的押",
            "金，承租人以现金支付，出租",
            "人当时未出具收据。",
        ],
        [
            "本院认为，超出部分的押金应",
            "当按照法定利率连同利息一并",
            "返还，出租人应当自本判决书",
            "送达之日起二十八日内负担本",
            "案上诉费用。",
        ],
    ),
}
# Questions about each page (1 statute, 2 leaflet, 3 two-column judgment).
QUESTIONS = {
    "en": [
        (1, "What is the maximum bond a landlord may require?"),
        (1, "Within how many days must the landlord lodge the bond?"),
        (1, "What must a receipt for rent paid in cash state?"),
        (2, "How many paracetamol tablets may adults take?"),
        (2, "Can children under 12 use the tablets?"),
        (2, "At what temperature should the tablets be stored?"),
        (3, "What did the Court of Appeal order about the excess bond?"),
        (3, "When did the appellant lease the premises?"),
        (3, "Within how many days must the landlord pay the costs of the appeal?"),
    ],
    "zh": [
        (1, "出租人收取的押金最多是多少？"),
        (1, "押金应当在几个工作日内交存？"),
        (1, "租赁期满后押金多久退还？"),
        (2, "成人每次服用几片？"),
        (2, "十二岁以下儿童可以使用吗？"),
        (2, "药品应当如何贮藏？"),
        (3, "上诉法院对超出部分的押金如何判决？"),
        (3, "上诉人何时承租涉案房屋？"),
        (3, "上诉费用应当在多少日内负担？"),
    ],
}


def _layouts(language: str) -> list[tuple[list[Item], str]]:
    """Each page's lines and its reference text (in reading order, table rows as lines)."""
    step = SIZE_PT * 0.3528 * 1.6
    pages: list[tuple[list[Item], str]] = []
    items = [Item(MARGIN_MM, MARGIN_MM + n * step, t) for n, t in enumerate(STATUTE[language])]
    pages.append((items, "\n".join(STATUTE[language])))
    before, table, after = LEAFLET[language]
    items, y = [], MARGIN_MM
    for line in before:
        items.append(Item(MARGIN_MM, y, line))
        y += step
    y += step / 2
    cells = (MARGIN_MM, MARGIN_MM + 60, MARGIN_MM + 110)
    for row in table:
        items += [Item(x, y, cell) for x, cell in zip(cells, row, strict=True)]
        y += step
    y += step / 2
    for line in after:
        items.append(Item(MARGIN_MM, y, line))
        y += step
    reference = [*before, *(" | ".join(row) for row in table), *after]
    pages.append((items, "\n".join(reference)))
    title, left, right = COLUMNS[language]
    items = [Item(MARGIN_MM, MARGIN_MM, title)]
    half = (PAGE_MM[0] - 2 * MARGIN_MM) / 2 + MARGIN_MM + 5
    for n, line in enumerate(left):
        items.append(Item(MARGIN_MM, MARGIN_MM + (n + 2) * step, line))
    for n, line in enumerate(right):
        items.append(Item(half, MARGIN_MM + (n + 2) * step, line))
    pages.append((items, "\n".join([title, *left, *right])))
    return pages


def _picture(
    items: list[Item], language: str, dpi: int, noisy: bool, jpeg: bool = False
) -> Image.Image:
    px = dpi / 25.4
    font_file, index = FONTS[language]
    font = ImageFont.truetype(font_file, round(SIZE_PT / 72 * dpi), index=index)
    image = Image.new("L", (round(PAGE_MM[0] * px), round(PAGE_MM[1] * px)), 255)
    draw = ImageDraw.Draw(image)
    for item in items:
        draw.text((item.x * px, item.y * px), item.text, font=font, fill=0)
    if noisy:
        image = image.filter(ImageFilter.GaussianBlur(0.6 * dpi / 300))
        image = image.rotate(0.6, resample=Image.Resampling.BILINEAR, fillcolor=255)
        rng = random.Random(dpi)
        noise = Image.effect_noise(image.size, 40)
        image = Image.blend(image, noise, 0.12)
        pixels = image.load()
        for _ in range(image.width * image.height // 2000):  # specks
            pixels[rng.randrange(image.width), rng.randrange(image.height)] = 0
    if jpeg:
        # A phone's or a fax server's JPEG: its 8x8 blocks blur the gaps between words.
        saved = io.BytesIO()
        image.save(saved, format="JPEG", quality=80)
        image = Image.open(saved)
        image.load()
    return image


def _born_digital(pages: list[tuple[list[Item], str]], language: str, path: Path) -> None:
    pdf = FPDF(unit="mm", format="A4")
    font_file, index = FONTS[language]
    pdf.add_font("body", fname=font_file, collection_font_number=index)
    pdf.set_font("body", size=SIZE_PT)
    for items, _ in pages:
        pdf.add_page()
        for item in items:
            pdf.text(item.x, item.y + SIZE_PT * 0.3528, item.text)
    pdf.output(str(path))


def _scanned(pictures: list[Image.Image], path: Path) -> None:
    pdf = FPDF(unit="mm", format="A4")
    for picture in pictures:
        pdf.add_page()
        pdf.image(picture, x=0, y=0, w=PAGE_MM[0], h=PAGE_MM[1])
    pdf.output(str(path))


def _normal(text: str) -> str:
    """Whitespace and table bars aside, and full-width forms folded (OCR writes either)."""
    return "".join(unicodedata.normalize("NFKC", text).replace("|", "").split())


def _distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[-1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFKC", text).replace("|", " ").split()


def word_accuracy(found: str, reference: str) -> float:
    """1 - WER over whitespace-separated words: what the character measure leaves out, two
    words read as one (a search for either then misses)."""
    ref = _words(reference)
    return max(0.0, 1 - _distance(_words(found), ref) / len(ref))


def accuracy(found: str, reference: str) -> float:
    ref = _normal(reference)
    return max(0.0, 1 - _distance(_normal(found), ref) / len(ref))


def _retrieval(
    language: str, pages: list[tuple[list[Item], str]], engine: str, work: Path
) -> dict[str, float]:
    """Hit@1 by page for the questions, born digital against scanned at 300 dpi."""
    pictures = [_picture(items, language, 300, noisy=False) for items, _ in pages]
    folders = {"born_digital": work / f"{language}-digital", "scanned": work / f"{language}-scan"}
    for folder in folders.values():
        folder.mkdir()
    _born_digital(pages, language, folders["born_digital"] / "pages.pdf")
    _scanned(pictures, folders["scanned"] / "pages.pdf")
    runtime = Runtime(Settings(index_dir=work / "idx", ocr_engine=engine, ocr_dpi=300))
    retriever = Retriever(runtime)
    result: dict[str, float] = {}
    for kind, folder in folders.items():
        name = f"{language}_{kind}"
        report = runtime.ingest([folder], name, progress=False)
        assert report.added, report.errors
        hits = [
            retriever.search(SearchRequest(question, collection=name, k=1))[0].chunk.page == page
            for page, question in QUESTIONS[language]
        ]
        result[kind] = sum(hits) / len(hits)
    return result


CONDITIONS = ((False, False), (True, False), (True, True))
"""(noisy, jpeg): clean; mild noise, blur and skew; the same saved as a JPEG."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["rapidocr", "tesseract"])
    parser.add_argument("--dpi", nargs="+", type=int, default=[150, 300])
    parser.add_argument("--retrieval-engine", default="rapidocr")
    parser.add_argument("--out", type=Path, default=Path("reports/eval_ocr.json"))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    engines = {name: engine_named(name) for name in args.engines}
    for language in ("en", "zh"):
        pages = _layouts(language)
        for dpi in args.dpi:
            for noisy, jpeg in CONDITIONS:
                for number, (items, reference) in enumerate(pages, start=1):
                    picture = _picture(items, language, dpi, noisy, jpeg)
                    # Engines in turn on the same picture, so the machine's load falls on both.
                    for name, engine in engines.items():
                        started = time.perf_counter()
                        page = OcrPage("1", picture.width, picture.height, engine.read(picture))
                        seconds = time.perf_counter() - started
                        rows.append(
                            {
                                "engine": name,
                                "language": language,
                                "dpi": dpi,
                                "noisy": noisy,
                                "jpeg": jpeg,
                                "page": number,
                                "accuracy": round(accuracy(page_text(page).text, reference), 4),
                                "words": round(word_accuracy(page_text(page).text, reference), 4),
                                "seconds": round(seconds, 3),
                            }
                        )
                        print(json.dumps(rows[-1]), flush=True)
    summary: list[dict[str, object]] = []
    for name in args.engines:
        for language in ("en", "zh"):
            for dpi in args.dpi:
                for noisy, jpeg in CONDITIONS:
                    group = [
                        r
                        for r in rows
                        if (r["engine"], r["language"], r["dpi"], r["noisy"], r["jpeg"])
                        == (name, language, dpi, noisy, jpeg)
                    ]
                    seconds = sum(float(r["seconds"]) for r in group)
                    summary.append(
                        {
                            "engine": name,
                            "language": language,
                            "dpi": dpi,
                            "noisy": noisy,
                            "jpeg": jpeg,
                            "words": round(
                                sum(float(r["words"]) for r in group) / len(group),
                                4,
                            ),
                            "accuracy": round(
                                sum(float(r["accuracy"]) for r in group) / len(group),
                                4,
                            ),
                            "min_accuracy": min(float(r["accuracy"]) for r in group),
                            "pages_per_s": round(len(group) / seconds, 3),
                        }
                    )
    retrieval: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for language in ("en", "zh"):
            retrieval[language] = _retrieval(
                language, _layouts(language), args.retrieval_engine, Path(work)
            )
    print("engine     lang dpi  noisy jpeg  accuracy  min    words  pages/s")
    for s in summary:
        print(
            f"{s['engine']:10} {s['language']:4} {s['dpi']:<4} {s['noisy']!s:5} {s['jpeg']!s:5} "
            f"{s['accuracy']:<9} {s['min_accuracy']:<6} {s['words']:<6} {s['pages_per_s']}"
        )
    for language, hit in retrieval.items():
        print(f"retrieval {language} ({args.retrieval_engine}): hit@1 page {hit}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"pages": rows, "summary": summary, "retrieval": retrieval}, indent=1)
    )


if __name__ == "__main__":
    main()
