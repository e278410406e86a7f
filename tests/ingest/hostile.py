"""Hostile documents: Hypothesis strategies for every format the loaders read, and the
properties every input must keep, shared by tests/ingest/test_hostile_documents.py (a short
run in `make test`) and scripts/fuzz_loaders.py (a long one).

The properties: a loader returns Documents or refuses the file with a LoaderError (or
InvalidInputError), nothing else, within a time cap; the structure detector and the
chunker take any text within the cap and give chunks that are exact slices of it.
The generators lean on what broke parsers before: long runs of blanks, dots, digits,
backticks and division markers, deep nesting, random and mutated bytes, zips that lie
about their sizes or inflate a thousandfold, PDFs declaring absurd page counts and sizes.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import docx
from fpdf import FPDF
from hypothesis import strategies as st

from qa.errors import InvalidInputError, LoaderError
from qa.ingest import loaders
from qa.ingest.chunking import Chunker, ChunkerConfig
from qa.ingest.loaders.limits import LoaderLimits
from qa.ingest.loaders.markdown import code_blocks, headings
from qa.ingest.structure import sections
from qa.records import Document
from qa.settings import Settings
from qa.text import lexical_tokens

FORMATS = ("txt", "md", "html", "pdf", "docx", "jsonl")
LIMITS = LoaderLimits.from_settings(Settings.model_construct())
"""The defaults, whatever QA_* variables the shell running the tests has set."""
MAX_BYTES = 50_000_000


class Overrun(Exception):
    """The time cap ran out."""


@contextlib.contextmanager
def time_cap(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (the regex engine and the parsers check for
    signals), so a catastrophic case fails in seconds instead of hanging the run."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Overrun(f"over the time cap of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Outcome:
    seconds: float
    result: str
    """"documents" or "refused"."""
    detail: str


# --- text --------------------------------------------------------------------------

UNITS = [
    " ", "\t", ".", "…", "·", "．", "`", "```x\n", "~~~\n", "#", "# x\n", "\n", "\n \n", "1",
    "1.", "1,", "第", "一", "十", "(", "(1) ", "§", "Section ", "x", "ab ", ". ", "。", "\u3000",
    "\u00a0", "-", "*", "|", "<", "&", "a. ", "\u2028", "x" * 40 + " ",
]  # fmt: skip
MARKERS = [
    "", "x", "# ", "###### x ", "```", "~~~", "Section 12 ", "§ 3(1)", "Part IV", "第一条",
    "第十二条第二款", "(1) ", "12(2) ", "Chapter 1.", "1. ", "Article 3 — ", "目录", "Contents",
]  # fmt: skip
ENDINGS = ["", "y", "1", " 12", "\n", "x 12", "...7", "```"]


def counts(most: int) -> st.SearchStrategy[int]:
    """Any count up to `most`, with the telling ones (the limits, `most` itself) often:
    left alone, a short run draws mostly small numbers."""
    telling = [n for n in (1, 3, 255, 256, 257, 1_000, 10_001) if n < most] + [most]
    return st.one_of(st.sampled_from(telling), st.integers(0, most))


def runs(longest: int = 20_000) -> st.SearchStrategy[str]:
    """A marker, a long run of one unit, and an ending that spoils or completes a match."""
    return st.builds(
        lambda marker, unit, n, end: marker + unit * n + end,
        st.sampled_from(MARKERS),
        st.sampled_from(UNITS),
        counts(longest),
        st.sampled_from(ENDINGS),
    )


def texts(longest: int = 20_000) -> st.SearchStrategy[str]:
    piece = st.one_of(runs(longest), st.text(max_size=300), st.sampled_from(MARKERS))
    return st.lists(piece, min_size=1, max_size=6).map(
        lambda parts: "".join(p if i % 2 else p + "\n" for i, p in enumerate(parts))
    )


def _plain(text: str) -> bytes:
    return text.encode("utf-8")


def text_files() -> st.SearchStrategy[bytes]:
    return st.one_of(
        texts().map(_plain),
        texts(2_000).map(lambda t: t.encode("gb18030")),
        st.binary(min_size=1, max_size=4_000),
    )


# --- HTML --------------------------------------------------------------------------

_NESTS = ["div", "span", "table><tr><td", "ul><li", "p", "b", "section", "svg", "h1"]
_TAGS = [
    "<p>", "</p>", "<div>", "</div>", "<table>", "<tr>", "<td>", "</td>", "<h1>", "</h2>",
    "<br>", "<!--", "-->", "<script>", "</script>", "&amp;", "&#x10FFFF;", "&#99999999;",
    "<![CDATA[", "<?xml version='1.0'?>", "<!DOCTYPE html>", "<main>", "<nav>", "x", " ",
    "Section 1 ", "第一条 ", "<a href='javascript:x'>", "<title>", "</title>",
]  # fmt: skip


def _nest(tag: str, depth: int, inner: str) -> str:
    closing = "".join(f"</{t}>" for t in reversed(tag.split("><")))
    return f"<{tag}>" * depth + inner + closing * depth


def html_files() -> st.SearchStrategy[bytes]:
    soup = st.lists(st.sampled_from(_TAGS), max_size=300).map("".join)
    return st.one_of(
        st.builds(_nest, st.sampled_from(_NESTS), counts(3_000), texts(2_000)),
        st.builds(_nest, st.sampled_from(_NESTS), counts(90), soup),
        st.builds(lambda n, t: "<p>x</p>" * n + t, counts(3_000), texts(2_000)),
        soup,
        texts(),
    ).map(_plain) | st.binary(min_size=1, max_size=4_000)


# --- PDF ---------------------------------------------------------------------------


def _latin(text: str) -> str:
    """What the PDF core fonts can show: printable Latin-1, each other character a '?'."""
    return "".join(ch if ch == "\n" or (ch.isprintable() and ch <= "\xff") else "?" for ch in text)


def _fpdf(lines: list[str], table: bool) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=9)
    pdf.add_page()
    for line in lines:
        pdf.multi_cell(0, 5, _latin(line[:3_000]) or " ", new_x="LMARGIN", new_y="NEXT")
    if table:
        with pdf.table() as grid:
            for r in range(3):
                row = grid.row()
                for c in range(3):
                    row.cell(f"{r}.{c} {_latin(lines[0][:20])}")
    return bytes(pdf.output())


def raw_pdf(count: int, box: bytes, content: bytes, kids: int = 1) -> bytes:
    """A hand-written PDF whose page tree declares `count` pages over `kids` real ones."""
    stream = zlib.compress(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join([b"3 0 R"] * kids) + b"] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox "
        + box
        + b" /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _page_ops(text: str, lines: int) -> bytes:
    words = _latin(text[:200]).replace("\\", "").replace("(", "").replace(")", "")
    show = b"BT /F1 12 Tf 72 712 Td (" + words.encode("latin-1") + b") Tj ET\n"
    return show + b"0 0 m 100 100 l S\n" * lines


_BOXES = [
    b"[0 0 612 792]", b"[0 0 0 0]", b"[0 0 14400 14400]", b"[0 0 14401 10]", b"[0 0 612]",
    b"[0 0 1000000000 1000000000]", b"[-5 -5 -1 -1]", b"[0 0 1e300 1]",
]  # fmt: skip


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    buffer = bytearray(data)
    for position, value in edits:
        buffer[position % len(buffer)] = value
    return bytes(buffer[: max(1, len(buffer) - cut)])


def pdf_files() -> st.SearchStrategy[bytes]:
    lines = st.lists(texts(3_000), min_size=1, max_size=3)
    made = st.builds(_fpdf, lines, st.booleans())
    edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8)
    return st.one_of(
        made,
        st.builds(
            raw_pdf,
            counts(10**7),
            st.sampled_from(_BOXES),
            st.builds(_page_ops, texts(200), counts(12_000)),
            st.integers(1, 3),
        ),
        st.builds(_mutate, made, edits, st.integers(0, 400)),
        st.binary(min_size=1, max_size=4_000),
    )


# --- DOCX --------------------------------------------------------------------------

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _xml_text(text: str) -> str:
    """Text python-docx accepts: no control characters, no lone surrogates."""
    return "".join(ch for ch in text if ch in "\t\n" or (ch >= " " and ch not in "\ufffe\uffff"))


def _docx(paragraphs: list[str], styles: list[int], table: int) -> bytes:
    document = docx.Document()
    for text, style in zip(paragraphs, styles, strict=False):
        if style:
            document.add_heading(_xml_text(text)[:2_000], level=style % 10)
        else:
            document.add_paragraph(_xml_text(text))
    if table:
        grid = document.add_table(rows=table, cols=3)
        if table > 1:
            grid.cell(0, 0).merge(grid.cell(table - 1, 0))
        grid.cell(0, 1).merge(grid.cell(0, 2))
        for row in grid.rows:
            row.cells[-1].text = _xml_text(paragraphs[0][:50])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


_BASE_DOCX = _docx(["x"], [0], 0)


def _with_body(body: str, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The minimal DOCX with its document body replaced."""
    source = zipfile.ZipFile(io.BytesIO(_BASE_DOCX))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                xml = f'<?xml version="1.0"?><w:document {_W}><w:body>{body}</w:body></w:document>'
                data = xml.encode("utf-8")
            out.writestr(info.filename, data)
    return buffer.getvalue()


def _tc(text: str, props: str = "") -> str:
    return f"<w:tc><w:tcPr>{props}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"


def _bodies(n: int, kind: int) -> str:
    """Pathological bodies: many empty or styled paragraphs, deep nesting, a tall
    vertically merged cell, an absurd column span."""
    grid = "<w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid>"
    if kind == 0:
        return "<w:p/>" * n + "<w:p><w:r><w:t>end</w:t></w:r></w:p>"
    if kind == 1:
        style = "<w:p><w:pPr><w:pStyle w:val='s{}'/></w:pPr><w:r><w:t>x</w:t></w:r></w:p>"
        return "".join(style.format(i) for i in range(n))
    if kind == 2:
        return "<w:tbl><w:tr><w:tc>" * n + "<w:p/>" + "</w:tc></w:tr></w:tbl>" * n
    if kind == 3:
        first = "<w:tr>" + _tc("a", '<w:vMerge w:val="restart"/>') + _tc("b") + "</w:tr>"
        merged = ("<w:tr>" + _tc("", "<w:vMerge/>") + _tc("b") + "</w:tr>") * n
        return f"<w:tbl>{grid}{first}{merged}</w:tbl>"
    span = f"<w:gridSpan w:val='{10**n}'/>"
    return f"<w:tbl>{grid}<w:tr>{_tc('a', span)}{_tc('b')}</w:tr></w:tbl>"


def _declared(data: bytes, size: int) -> bytes:
    """The zip with every central-directory entry declaring `size` uncompressed bytes."""
    buffer = bytearray(data)
    position = buffer.find(b"PK\x01\x02")
    while position != -1:
        buffer[position + 24 : position + 28] = min(size, 0xFFFFFFFE).to_bytes(4, "little")
        position = buffer.find(b"PK\x01\x02", position + 4)
    return bytes(buffer)


def _bomb(megabytes: int) -> bytes:
    return _with_body("<w:p><w:r><w:t>" + "a" * (megabytes << 20) + "</w:t></w:r></w:p>")


def docx_files() -> st.SearchStrategy[bytes]:
    paragraphs = st.lists(texts(3_000), min_size=1, max_size=4)
    made = st.builds(_docx, paragraphs, st.lists(st.integers(0, 12), max_size=4), st.integers(0, 4))
    edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8)
    return st.one_of(
        made,
        st.builds(_with_body, st.builds(_bodies, counts(4_000), st.integers(0, 3))),
        st.builds(_with_body, st.builds(_bodies, st.integers(0, 9), st.just(4))),
        st.builds(_declared, made, st.integers(0, 2**32)),
        st.builds(_bomb, st.integers(1, 3)),
        st.builds(_mutate, made, edits, st.integers(0, 400)),
        st.binary(min_size=1, max_size=4_000),
    )


# --- JSON lines --------------------------------------------------------------------


def _record(doc_id: str, text: str, extra: str) -> str:
    return json.dumps({"id": doc_id, "text": text})[:-1] + extra + "}"


def jsonl_files() -> st.SearchStrategy[bytes]:
    line = st.one_of(
        st.builds(_record, st.sampled_from(["a", "b", " ", ""]), texts(3_000), st.just("")),
        st.builds(
            _record,
            st.just("deep"),
            st.just("x"),
            counts(100_000).map(lambda n: ', "metadata": ' + "[" * n + "]" * n),
        ),
        st.builds(
            _record,
            st.just("big"),
            st.just("x"),
            counts(10_000).map(lambda n: ', "n": ' + "9" * n),
        ),
        st.text(max_size=200),
        st.sampled_from(["{", "[]", "null", '{"id": 1, "text": "x"}', '{"id": "x", "text": []}']),
    )
    return st.lists(line, min_size=1, max_size=6).map(lambda ls: _plain("\n".join(ls)))


STRATEGIES = {
    "txt": text_files,
    "md": text_files,
    "html": html_files,
    "pdf": pdf_files,
    "docx": docx_files,
    "jsonl": jsonl_files,
}


# --- the properties ----------------------------------------------------------------


def check_loader(fmt: str, data: bytes, cap_s: float) -> Outcome:
    """Load `data` as a .`fmt` file: Documents or a LoaderError/InvalidInputError, within
    the cap. Anything else propagates (or fails the assertion) with the input's format."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"hostile.{fmt}"
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            with time_cap(cap_s):
                documents = list(loaders.load(path, path.name, max_bytes=MAX_BYTES, limits=LIMITS))
        except (LoaderError, InvalidInputError) as exc:
            return Outcome(time.perf_counter() - start, "refused", exc.detail[:200])
        except Overrun:
            raise AssertionError(f".{fmt} loader ran over {cap_s:g} s") from None
    seconds = time.perf_counter() - start
    assert documents and all(isinstance(d, Document) and d.text.strip() for d in documents)
    return Outcome(seconds, "documents", f"{len(documents)} document(s)")


def _count(text: str) -> int:
    """Like a real embedder's count: zero for text of stopwords only."""
    return len(lexical_tokens(text, unigrams=False))


def check_text(text: str, cap_s: float) -> Outcome:
    """The structure detector and the chunker over `text`: chunks are exact, ordered
    slices of it, all within the cap."""
    start = time.perf_counter()
    try:
        with time_cap(cap_s):
            blocks = code_blocks(text)
            spans = sections(text, headings(text, blocks), blocks)
            chunks = Chunker(ChunkerConfig(64, 16), _count).run(
                Document(id="hostile", text=text, sections=spans)
            )
    except Overrun:
        raise AssertionError(f"structure and chunking ran over {cap_s:g} s") from None
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert chunk.text == text[chunk.start : chunk.end]
    return Outcome(time.perf_counter() - start, "documents", f"{len(chunks)} chunk(s)")
