"""Pictures of OCR'd pages over HTTP: kept by an ingestion, served for the live version
of a document only, replaced with it, and gone with the document and the collection.

The pages are read by a stand-in OCR engine (a line a page) so that this runs in a
second; tests/e2e reads real scans with the real engine and shows them on the page.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from qa.ingest import loaders, ocr
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.ocr.engine import TextLine
from qa.ingest.ocr.options import OcrOptions
from qa.records import Document
from tests.api.service import Service, problem


class _OneLine:
    name = "one-line"

    def read(self, image: Image.Image) -> list[TextLine]:
        shade = image.convert("L").getpixel((0, 0))
        return [TextLine(f"the page shaded {shade}", (10, 40, 200, 60))]


@pytest.fixture
def one_line(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(ocr.ENGINES, "one-line", _OneLine)
    ocr.engine_named.cache_clear()
    yield
    ocr.engine_named.cache_clear()


def _fax(path: Path, shades: Iterable[int]) -> Path:
    frames = [Image.new("L", (800, 400), shade) for shade in shades]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def _reader(side: int) -> Callable[..., Iterable[Document]]:
    options = OcrOptions("one-line", 72, 10, 10**6, 60.0, preview_side=side)
    limits = LoaderLimits(10**8, 100.0, 100, 14_400.0, 256, ocr=options)

    def read(path: Path, document_id: str, *, max_bytes: int) -> Iterable[Document]:
        return loaders.load(path, document_id, max_bytes=max_bytes, limits=limits)

    return read


def _picture(service: Service, document: str, page: int) -> Image.Image:
    url = f"/v1/collections/docs/documents/{document}/pages/{page}/image"
    response = service.client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.content))


def test_page_pictures_follow_the_live_version_of_their_document(
    make_service: Callable[..., Service], tmp_path: Path, one_line: None
) -> None:
    service = make_service()
    runtime = service.app.state.qa.runtime
    fax = _fax(tmp_path / "fax.tif", (40, 200))
    runtime.ingest([tmp_path / "fax.tif"], "docs", progress=False, read_file=_reader(300))
    first, second = _picture(service, "fax.tif", 1), _picture(service, "fax.tif", 2)
    assert first.size == second.size == (300, 150)
    assert abs(first.getpixel((5, 5)) - 40) < 8 and abs(second.getpixel((5, 5)) - 200) < 8
    missing = problem(
        service.client.get("/v1/collections/docs/documents/fax.tif/pages/3/image"), 404
    )
    assert "no picture of page 3" in missing["detail"]
    problem(service.client.get("/v1/collections/docs/documents/nope.tif/pages/1/image"), 404)
    problem(service.client.get("/v1/collections/docs/documents/fax.tif/pages/0/image"), 422)

    # A new version of the scan: its own pictures are shown, the old ones are dropped.
    _fax(fax, (120,))
    runtime.ingest([fax], "docs", progress=False, read_file=_reader(300))
    assert abs(_picture(service, "fax.tif", 1).getpixel((5, 5)) - 120) < 8
    problem(service.client.get("/v1/collections/docs/documents/fax.tif/pages/2/image"), 404)
    pictures = runtime.page_images

    def kept() -> list[tuple[str, str]]:
        with pictures.backend.connect() as db:
            rows = db.execute("SELECT document_id, page FROM page_images ORDER BY page")
            return [tuple(row) for row in rows.fetchall()]

    # The version live while the ingestion ran goes with the next one (a reader may
    # still hold its generation), even one that finds nothing changed.
    assert kept() == [("fax.tif", "1"), ("fax.tif", "1"), ("fax.tif", "2")]
    report = runtime.ingest([fax], "docs", progress=False, read_file=_reader(300))
    assert report.unchanged == ["fax.tif"] and kept() == [("fax.tif", "1")]

    assert service.client.delete("/v1/collections/docs/documents/fax.tif").status_code == 204
    problem(service.client.get("/v1/collections/docs/documents/fax.tif/pages/1/image"), 404)
    runtime.ingest([fax], "docs", progress=False, read_file=_reader(300))
    assert service.client.delete("/v1/collections/docs").status_code == 204
    with pictures.backend.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM page_images").fetchone()[0] == 0


def test_no_picture_is_kept_when_none_is_asked_for(
    make_service: Callable[..., Service], tmp_path: Path, one_line: None
) -> None:
    service = make_service()
    runtime = service.app.state.qa.runtime
    runtime.ingest(
        [_fax(tmp_path / "fax.tif", (90,))], "docs", progress=False, read_file=_reader(0)
    )
    response = service.client.get("/v1/collections/docs/documents/fax.tif/pages/1/image")
    assert "QA_OCR_PAGE_IMAGE_SIDE" in problem(response, 404)["detail"]
    document = service.client.get("/v1/collections/docs/documents/fax.tif").json()
    assert document["metadata"]["ocr"]["page_images"] == []


def test_an_export_carries_the_pictures_to_another_index(
    make_service: Callable[..., Service], tmp_path: Path, one_line: None
) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    source = make_service(index_dir=tmp_path / "source")
    fax = _fax(tmp_path / "fax.tif", (60, 180))
    source.app.state.qa.runtime.ingest([fax], "docs", progress=False, read_file=_reader(200))
    runner = CliRunner()
    out = tmp_path / "export"
    for args in (
        [
            "index",
            "export",
            "-c",
            "docs",
            "--out",
            str(out),
            "--index-dir",
            str(tmp_path / "source"),
        ],
        ["index", "import", str(out), "-c", "docs", "--index-dir", str(tmp_path / "target")],
    ):
        result = runner.invoke(app, args, env={"QA_VECTOR_BACKEND": "faiss"})
        assert result.exit_code == 0, result.output
    assert len((out / "page_images.jsonl").read_text().splitlines()) == 2
    target = make_service(index_dir=tmp_path / "target")
    shades = [_picture(target, "fax.tif", page).getpixel((5, 5)) for page in (1, 2)]
    assert abs(shades[0] - 60) < 8 and abs(shades[1] - 180) < 8
