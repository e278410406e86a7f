"""OCR: scanned PDF pages and images read in English and Chinese, reading order, running
headers, the limits per file, progress, and the folder report naming every file not read.

Fixtures are rendered here with Pillow and fpdf2 (DejaVu for English, Noto CJK, which
`make browser` installs, for Chinese). The layout tests feed lines without an engine.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from typer.testing import CliRunner

from qa import cli
from qa.errors import LoaderError
from qa.ingest import loaders, ocr
from qa.ingest.chunking import ChunkerConfig
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.ocr import progress
from qa.ingest.ocr.engine import TextLine
from qa.ingest.ocr.layout import OcrPage, drop_running, page_text
from qa.ingest.ocr.options import OcrOptions
from qa.ingest.ocr.preview import preview
from qa.ingest.pipeline import Ingestor
from qa.ingest.sandbox import IsolatedReader, ParseLimits
from qa.records import Document, SearchRequest
from qa.settings import Settings
from qa.store.faiss.store import FaissStore
from tests.conftest import HashingEmbedder
from tests.ingest.scans import DEJAVU, NOTO_CJK, NOTO_CJK_SC, page_picture, photo_of, scanned_pdf

MAX_BYTES = 10_000_000
EN = ["Section 4. Bond", "A landlord must not ask for more than four weeks of rent."]
ZH = ["第四条 押金", "房东收取的押金不得超过四周的租金。"]


def _load(path: Path, document_id: str, limits: LoaderLimits | None = None) -> Document:
    (doc,) = loaders.load(path, document_id, max_bytes=MAX_BYTES, limits=limits)
    return doc


def _flat(text: str) -> str:
    return "".join(text.split())


@pytest.mark.slow
def test_a_png_in_english_is_read_with_its_page_boxes_and_progress(tmp_path: Path) -> None:
    path = tmp_path / "notice.png"
    page_picture(EN, DEJAVU).save(path)
    reports: list[tuple[str, int, int]] = []
    with progress.reporting(lambda d, done, total: reports.append((d, done, total))):
        doc = _load(path, "notice.png")
    # Whitespace aside: a space between a numeral and a word comes and goes at this size.
    assert _flat(doc.text) == _flat("".join(EN)) and doc.text.count("\n") == 1
    assert [(p.start, p.end, p.label) for p in doc.pages] == [(0, len(doc.text), "1")]
    assert _flat(doc.title) == _flat(EN[0])
    boxes = doc.metadata["ocr"]["boxes"]["1"]
    assert [_flat(doc.text[b[4] : b[5]]) for b in boxes] == [_flat(line) for line in EN]
    x0, y0, x1, y1 = boxes[1][:4]
    assert 0 < x0 < x1 < 1 and 0 < y0 < y1 < 1 and y0 > boxes[0][3]
    assert reports == [("notice.png", 0, 1), ("notice.png", 1, 1)]


@pytest.mark.slow
def test_a_jpeg_photo_of_english_keeps_the_spaces_between_words(tmp_path: Path) -> None:
    # Left to the recogniser's own resize, these small JPEG lines read as
    # "TheHarbourStreetclinicopens at 8amandcloses": no search for "clinic" finds them.
    lines = ["The Harbour Street clinic opens at 8 am and closes",
             "at 6 pm on weekdays; it is closed on public holidays."]  # fmt: skip
    path = tmp_path / "clinic.jpg"
    photo_of(page_picture(lines, DEJAVU)).save(path, quality=80)
    assert _load(path, "clinic.jpg").text.split() == " ".join(lines).split()


@pytest.mark.slow
def test_a_scanned_pdf_in_chinese_is_read_page_by_page(tmp_path: Path) -> None:
    picture = page_picture(ZH, NOTO_CJK, index=NOTO_CJK_SC)
    path = scanned_pdf(tmp_path / "scan.pdf", [picture], text_page="Cover page")
    doc = _load(path, "scan.pdf")
    assert [p.label for p in doc.pages] == ["1", "2"]
    page_2 = doc.pages[1]
    assert _flat(doc.text[page_2.start : page_2.end]) == _flat("".join(ZH))
    assert list(doc.metadata["ocr"]["boxes"]) == ["2"]


@pytest.mark.slow
def test_an_image_without_text_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (800, 600), 255).save(path)
    with pytest.raises(LoaderError) as info:
        _load(path, "blank.png")
    assert info.value.detail == "blank.png: the image holds no text OCR could read"


@pytest.mark.slow
def test_a_scanned_pdf_is_searchable_and_the_hit_names_its_page(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    scanned_pdf(folder / "lease.pdf", [page_picture(EN, DEJAVU)], text_page="Contents of the lease")
    store = FaissStore(tmp_path / "idx")
    ingestor = Ingestor(store, HashingEmbedder(), ChunkerConfig(64, 8), max_file_bytes=MAX_BYTES)
    report = ingestor.run([folder], "c", progress=False)
    assert report.added == ["lease.pdf"] and not report.not_read
    query = "four weeks of rent"
    hits = store.open("c").search(
        SearchRequest(query, k=1), HashingEmbedder().embed_queries([query])[0]
    )
    assert hits[0].chunk.page == 2
    assert "four weeks of rent" in hits[0].chunk.text


@pytest.mark.slow
def test_an_upload_is_read_by_ocr_in_the_sandbox_with_its_progress(tmp_path: Path) -> None:
    path = tmp_path / "notice.png"
    page_picture(EN, DEJAVU).save(path)
    reader = IsolatedReader(ParseLimits.from_settings(Settings()))
    reports: list[tuple[int, int]] = []
    try:
        with progress.reporting(lambda _d, done, total: reports.append((done, total))):
            (doc,) = reader(path, "notice.png", max_bytes=MAX_BYTES)
    finally:
        reader.close()
    assert _flat(doc.text) == _flat("".join(EN))
    assert reports == [(0, 1), (1, 1)]


class _Fake:
    """An engine that reads a line per page and counts its calls."""

    name = "fake"

    def __init__(self) -> None:
        self.pages = 0

    def read(self, image: Image.Image) -> list[TextLine]:
        self.pages += 1
        return [TextLine(f"page text {self.pages}", (10, 40, 200, 60))]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Fake]:
    engine = _Fake()
    monkeypatch.setitem(ocr.ENGINES, "fake", lambda: engine)
    ocr.engine_named.cache_clear()
    yield engine
    ocr.engine_named.cache_clear()


def _limits(**given: float) -> LoaderLimits:
    options = {"engine": "fake", "dpi": 72, "max_pages": 10, "max_pixels": 10**6}
    options |= {"max_seconds": 60.0} | given
    return LoaderLimits(10**8, 100.0, 100, 14_400.0, 256, ocr=OcrOptions(**options))  # type: ignore[arg-type]


def _tiff(path: Path, frames: int, size: tuple[int, int] = (300, 100)) -> Path:
    images = [Image.new("L", size, 255) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:])
    return path


def test_a_multi_page_tiff_is_a_page_a_frame(tmp_path: Path, fake: _Fake) -> None:
    doc = _load(_tiff(tmp_path / "fax.tif", 3), "fax", _limits())
    assert [doc.text[p.start : p.end] for p in doc.pages] == [
        "page text 1",
        "page text 2",
        "page text 3",
    ]
    assert [p.label for p in doc.pages] == ["1", "2", "3"]


def test_each_page_read_keeps_a_reduced_picture_unless_none_is_asked(
    tmp_path: Path, fake: _Fake
) -> None:
    doc = _load(_tiff(tmp_path / "fax.tif", 3, (600, 200)), "fax", _limits(preview_side=150))
    assert sorted(doc.page_images) == ["1", "2", "3"]
    assert doc.metadata["ocr"]["page_images"] == ["1", "2", "3"]
    for picture in doc.page_images.values():
        with Image.open(io.BytesIO(picture)) as image:
            assert image.format == "JPEG" and image.size == (150, 50)
    # The pictures travel beside the record, not in it: a store copies records per write.
    assert "page_images" not in doc.to_record() and "\\xff\\xd8" not in repr(doc)
    kept = doc.content_hash
    none = _load(_tiff(tmp_path / "fax.tif", 3, (600, 200)), "fax", _limits(preview_side=0))
    assert none.page_images == {} and none.metadata["ocr"]["page_images"] == []
    assert none.content_hash != kept


def test_a_page_picture_is_grey_unless_the_page_has_colour() -> None:
    page = Image.new("RGB", (1200, 1700), (250, 250, 248))
    page.paste((20, 20, 20), (100, 100, 1100, 140))
    grey = Image.open(io.BytesIO(preview(page, 400)))
    assert (grey.mode, grey.size) == ("L", (282, 400))
    page.paste((200, 30, 30), (900, 1500, 1100, 1600))  # a red stamp
    assert Image.open(io.BytesIO(preview(page, 400))).mode == "RGB"
    assert Image.open(io.BytesIO(preview(page.convert("1"), 2000))).size == (1200, 1700)


def test_too_many_pages_to_ocr_are_refused_before_any_is_read(tmp_path: Path, fake: _Fake) -> None:
    with pytest.raises(LoaderError) as info:
        _load(_tiff(tmp_path / "fax.tif", 3), "fax", _limits(max_pages=2))
    assert info.value.detail == "fax: 3 pages need OCR, over the limit of 2 (QA_OCR_MAX_PAGES)"
    assert fake.pages == 0


def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(
    tmp_path: Path, fake: _Fake
) -> None:
    path = tmp_path / "large.png"
    Image.new("1", (2000, 1000), 1).save(path)
    with pytest.raises(LoaderError) as info:
        _load(path, "large.png", _limits())
    assert info.value.detail == (
        "large.png: page 1 is 2000 x 1000 pixels to OCR, over the limit of 1000000 "
        "(QA_OCR_MAX_PIXELS)"
    )
    # Past Pillow's own bound, which it enforces as the header is read.
    Image.new("1", (20_000, 20_000), 1).save(path)
    with pytest.raises(LoaderError) as info:
        _load(path, "huge.png", _limits())
    assert info.value.detail == (
        "huge.png: the image has more pixels than Pillow opens (178956970), over the limit "
        "of 1000000 (QA_OCR_MAX_PIXELS)"
    )
    assert fake.pages == 0


def test_a_pdf_page_rendered_over_the_pixel_limit_is_refused(tmp_path: Path, fake: _Fake) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", [Image.new("L", (200, 100), 255)])
    with pytest.raises(LoaderError) as info:
        _load(path, "scan.pdf", _limits(dpi=300))
    assert info.value.detail.startswith("scan.pdf: page 1 is 2480 x 3508 pixels to OCR")
    assert info.value.detail.endswith("(QA_OCR_MAX_PIXELS)")


def test_ocr_past_its_time_stops_with_the_setting_named(tmp_path: Path, fake: _Fake) -> None:
    with pytest.raises(LoaderError) as info:
        _load(_tiff(tmp_path / "fax.tif", 2), "fax", _limits(max_seconds=1e-9))
    assert info.value.detail.startswith("fax: OCR stopped at page 1 after 0 s")
    assert info.value.detail.endswith("(QA_OCR_MAX_SECONDS)")


def test_a_garbled_text_layer_is_read_by_ocr_instead(tmp_path: Path, fake: _Fake) -> None:
    pdf = FPDF()
    pdf.add_font("dejavu", fname=DEJAVU)
    pdf.set_font("dejavu", size=12)
    pdf.add_page()
    # What PDFium reads from a font without a usable ToUnicode map.
    pdf.cell(text="\ufffd\ufffd\ufffd\ufffd \ufffd\ufffd\ufffd ok")
    path = tmp_path / "garbled.pdf"
    pdf.output(str(path))
    doc = _load(path, "garbled.pdf", _limits())
    assert doc.text == "page text 1"
    assert fake.pages == 1


def _line(text: str, x0: float, y0: float, x1: float) -> TextLine:
    return TextLine(text, (x0, y0, x1, y0 + 20))


def test_two_columns_are_read_one_after_the_other_under_a_full_width_title() -> None:
    page = OcrPage("1", 1000, 1400)
    page.lines = [
        _line("right one", 540, 200, 940),
        _line("left one", 60, 200, 460),
        _line("A title across the whole page of the judgment", 60, 100, 940),
        _line("left two", 60, 240, 450),
        _line("right two", 540, 240, 930),
    ]
    assert page_text(page).text == (
        "A title across the whole page of the judgment\nleft one\nleft two\nright one\nright two"
    )


def test_table_cells_on_one_row_are_one_line() -> None:
    page = OcrPage("1", 1000, 1400)
    page.lines = [
        _line("Age", 60, 200, 120),
        _line("Dose", 400, 201, 470),
        _line("12 and over", 60, 240, 200),
        _line("10 ml", 400, 239, 470),
    ]
    text = page_text(page)
    assert text.text == "Age | Dose\n12 and over | 10 ml"
    assert [text.text[b[4] : b[5]] for b in text.boxes or []] == [
        "Age",
        "Dose",
        "12 and over",
        "10 ml",
    ]


def test_running_headers_and_page_numbers_are_dropped() -> None:
    pages = []
    for n in range(1, 4):
        page = OcrPage(str(n), 1000, 1400)
        page.lines = [
            _line("HIGH COURT OF JUSTICE", 300, 30, 700),
            _line(f"Body of page {n}", 60, 300, 900),
            _line(f"Page {n} of 3", 450, 1350, 550),
        ]
        pages.append(page)
    drop_running(pages)
    assert [page_text(page).text for page in pages] == [
        "Body of page 1",
        "Body of page 2",
        "Body of page 3",
    ]


@pytest.mark.slow  # the CLI's runtime: 5-10 s here
def test_a_folder_ingest_names_every_file_it_does_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "slides.key").write_text("not a format we read")
    (folder / "README").write_text("no suffix")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    result = CliRunner().invoke(
        cli.app, ["ingest", str(folder), "-c", "c", "--index-dir", str(tmp_path / "i"), "--json"]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["not_read"][:2] == [
        "README: unsupported file without a suffix",
        "broken.pdf: not a readable PDF (Failed to load document (PDFium: Data format error).)",
    ]
    assert report["not_read"][2] == "slides.key: unsupported file type '.key'"
    for line in report["not_read"]:
        assert f"not read {line}" in result.stderr
