"""Tesseract (Debian's tesseract-ocr with the eng and chi_sim models) run as a program,
one page at a time; its TSV output gives a box per word, grouped here into lines."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata

from PIL import Image

from qa.errors import LoaderError
from qa.ingest.ocr.engine import TextLine

_LANGUAGES = "eng+chi_sim"
# One page of a few million pixels takes seconds; a program still running after this
# has hung on the page.
_PAGE_TIMEOUT_S = 300.0


def _cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _join(words: list[str]) -> str:
    """Words of a line; Chinese characters come as words of their own but take no spaces."""
    text = ""
    for word in words:
        if text and not (_cjk(text[-1]) and _cjk(word[0])):
            text += " "
        text += word
    return text


class TesseractEngine:
    name = "tesseract"

    def __init__(self) -> None:
        program = shutil.which("tesseract")
        if program is None:
            raise LoaderError(
                "OCR engine 'tesseract' is not installed (apt-get install tesseract-ocr "
                "tesseract-ocr-eng tesseract-ocr-chi-sim), or set QA_OCR_ENGINE=rapidocr"
            )
        self._program = program

    def read(self, image: Image.Image) -> list[TextLine]:
        png = io.BytesIO()
        image.convert("L").save(png, format="PNG")
        try:
            done = subprocess.run(
                [self._program, "stdin", "stdout", "-l", _LANGUAGES, "tsv"],
                input=png.getvalue(),
                capture_output=True,
                timeout=_PAGE_TIMEOUT_S,
                check=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise LoaderError(f"tesseract took over {_PAGE_TIMEOUT_S:g} s on a page") from exc
        except subprocess.CalledProcessError as exc:
            message = exc.stderr.decode(errors="replace").strip().splitlines()
            raise LoaderError(f"tesseract failed: {message[-1] if message else exc}") from exc
        words: dict[tuple[str, ...], list[tuple[str, float, float, float, float]]] = {}
        for row in done.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
            fields = row.split("\t")
            if len(fields) != 12 or fields[0] != "5" or not fields[11].strip():
                continue  # level 5 is a word; the others are its block, paragraph and line
            left, top, width, height = (float(v) for v in fields[6:10])
            line = words.setdefault(tuple(fields[1:5]), [])  # page, block, paragraph, line
            line.append((fields[11].strip(), left, top, left + width, top + height))
        return [
            TextLine(
                _join([w[0] for w in line]),
                (
                    min(w[1] for w in line),
                    min(w[2] for w in line),
                    max(w[3] for w in line),
                    max(w[4] for w in line),
                ),
            )
            for line in words.values()
        ]
