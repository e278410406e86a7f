"""RTF: the text striprtf reads, with "\\'xx" bytes decoded by the font's character set
or the document's code page (\\ansicpg936 for GBK Chinese) and \\uNNNN escapes as
written.

Two of striprtf's regular expressions backtrack badly on hostile input, so the text is
rewritten before it sees it, without changing what it reads: the font-table pattern
took 5.5 s on a 1.4 kB table of fonts without names (cubic: hours at 30 kB), so the
font table is parsed here in one pass and handed over rebuilt, one well-formed entry a
font; the hyperlink pattern took 26 s on 460 kB of open "{\\field{" groups (quadratic),
so "\\field{" is written "\\field {" (the same RTF: a space ends a control word), which
that pattern cannot match. A link then reads as its text without its URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from striprtf.striprtf import font_table_group, rtf_to_text

from qa.errors import LoaderError
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.text import require_text
from qa.ingest.structure import sections
from qa.records import Document

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Character sets that mean "the document's code page": left out of the rebuilt table so
# the \ansicpg code page decodes their bytes, not striprtf's fixed cp1252.
_CODE_PAGE_CHARSETS = {0, 1}


def _control_word(text: str, at: int) -> tuple[str, str, int]:
    """(word, numeric argument, end) of the control word whose backslash is at `at`."""
    end = at + 1
    while end < len(text) and text[end].isascii() and text[end].isalpha():
        end += 1
    word = text[at + 1 : end]
    start = end
    if end < len(text) and text[end] == "-":
        end += 1
    while end < len(text) and text[end].isdigit():
        end += 1
    return word, text[start:end], end


def _font_charsets(table: str) -> dict[int, int]:
    """Font number -> \\fcharset of each font declared in the table, in one pass."""
    charsets: dict[int, int] = {}
    font: int | None = None
    at = 0
    while at < len(table):
        ch = table[at]
        if ch == "\\":
            word, argument, end = _control_word(table, at)
            if word == "f" and argument.lstrip("-").isdigit():
                font = int(argument)
            elif word == "fcharset" and font is not None and argument.isdigit():
                charsets[font] = int(argument)
            at = max(end, at + 2)
            continue
        if ch == ";":
            font = None
        at += 1
    return charsets


def _tamed(rtf: str) -> str:
    """The same RTF, written so that striprtf's patterns run in linear time."""
    table = font_table_group(rtf)
    if table:
        fonts = "".join(
            f"{{\\f{font}\\fcharset{charset} F;}}"
            for font, charset in _font_charsets(table).items()
            if charset not in _CODE_PAGE_CHARSETS
        )
        rtf = rtf.replace(table, f"{{\\fonttbl{fonts}}}", 1)
    folded = rtf.translate(_ASCII_LOWER)
    pieces: list[str] = []
    at = 0
    while (found := folded.find("\\field{", at)) >= 0:
        pieces.append(rtf[at : found + len("\\field")])
        pieces.append(" ")
        at = found + len("\\field")
    pieces.append(rtf[at:])
    return "".join(pieces)


def load(path: Path, document_id: str, limits: LoaderLimits) -> Iterator[Document]:
    # RTF is 7-bit text; Latin-1 maps any stray byte to one character, losing nothing.
    rtf = path.read_bytes().decode("latin-1")
    if not rtf.lstrip("\ufeff\xef\xbb\xbf \t\r\n").startswith("{\\rtf"):
        raise LoaderError(f"{document_id}: not an RTF file (no {{\\rtf header)")
    raw = rtf_to_text(_tamed(rtf), errors="replace")
    lines = [" ".join(line.split()) for line in raw.replace("\r", "\n").split("\n")]
    text = require_text("\n".join(line for line in lines if line), document_id)
    yield Document(
        id=document_id,
        text=text,
        title=next(line for line in lines if line)[:200],
        sections=sections(text),
        source=str(path),
    )
