"""The whole body of an HTML part (an EPUB chapter, a mail's HTML body) as lines and
headings, the way the HTML loader's built-in extractor walks a page.

These parts hold nothing but content, so they skip the page loader's main-content
search, which would drop a short chapter's opening lines as page furniture.
"""

from __future__ import annotations

import warnings

from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning

from qa.ingest.loaders.html import _check_depth, _collect
from qa.ingest.loaders.limits import LoaderLimits

_DROP = ("script", "style", "noscript", "template", "nav")


def body_lines(
    markup: str, document_id: str, limits: LoaderLimits
) -> tuple[list[str], list[tuple[int, int, str]]]:
    """(lines, (offset, level, heading) triples) of the body; refuses nesting past
    QA_MAX_HTML_DEPTH before parsing."""
    _check_depth(markup, document_id, limits.html_depth)
    with warnings.catch_warnings():
        # XHTML read as HTML on purpose: lxml's HTML parser recovers from what a strict
        # XML parse of a hand-made chapter or mail would refuse.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "lxml")
    for tag in soup.find_all(_DROP):
        tag.decompose()
    root = soup.body or soup
    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    if isinstance(root, Tag):
        _collect(root, lines, headings)
    return lines, headings
