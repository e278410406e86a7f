"""The web page at `/`, driven in a real headless Chromium against a real `qa serve`.

Slow: a `qa serve` child with the `fast` generator over the sample corpus, API keys
on, and Playwright. Answers that need the model are few (each takes seconds); the
rendering of hostile text, odd offsets and narrow screens uses canned /v1/ask
responses routed inside the browser, so it is exact and quick.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, corpus_index_copy, qa_serve
from tests.ingest.scans import SCANNED_CASES, write_scanned_cases

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPORTS = ROOT / "reports"
ANSWER_MS = 240_000  # one answer on a busy CPU, queue included
JOB_MS = 180_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)


@dataclass
class Server:
    base: str
    admin_key: str
    reader_key: str
    log: Path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"QA_GENERATOR": "fast", "HF_HUB_OFFLINE": "1", **extra})
    return env


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, corpus_index_template: Path
) -> Iterator[Server]:
    index_dir = corpus_index_copy(corpus_index_template, tmp_path_factory.mktemp("web") / "index")
    keys = {}
    for role in ("admin", "reader"):
        made = subprocess.run(
            [sys.executable, "-m", "qa", "keys", "create", "--collections", "*",
             "--role", role, "--name", f"web-{role}", "--index-dir", str(index_dir)],
            capture_output=True, text=True, env=_env(), timeout=120, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        keys[role] = made.stdout.strip().splitlines()[0]
    log_path = tmp_path_factory.mktemp("web-serve") / "serve.log"
    with qa_serve(index_dir, _env(), log_path) as base:
        yield Server(base, keys["admin"], keys["reader"], log_path)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Browser, key: str | None, **options: Any) -> BrowserContext:
    context = browser.new_context(**options)
    context.set_default_timeout(30_000)
    if key:
        # The key a user saved earlier; a later "Save key" or "Forget" still wins.
        context.add_init_script(
            "if (!sessionStorage.getItem('seeded')) {"
            f" localStorage.setItem('qa.apiKey', {json.dumps(key)});"
            " sessionStorage.setItem('seeded', '1'); }"
        )
    return context


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = _context(browser, server.admin_key, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.base)
    expect(page.locator("#collection")).to_have_value("default")
    yield page
    context.close()
    assert not errors, errors


def _turn(page: Page, n: int = -1) -> Locator:
    """The n-th question and answer of the thread (the last by default)."""
    turns = page.locator("#thread .turn")
    return turns.last if n == -1 else turns.nth(n)


def _ask(page: Page, question: str) -> None:
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")  # Enter asks


def _wait_answer(page: Page, state: str) -> None:
    box = _turn(page).locator(".answer-box")
    expect(box).to_have_attribute(
        "data-state",
        re.compile("^(answered|low-confidence|not-found|clarification|error)$"),
        timeout=ANSWER_MS,
    )
    got = box.get_attribute("data-state")
    assert got == state, (got, box.inner_text())


def _no_injection(page: Page) -> None:
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("main img, dialog img, main script:not([src])").count() == 0


def _asked(page: Page) -> list[dict[str, Any]]:
    """The bodies of the page's POST /v1/ask requests, as they are sent."""
    bodies: list[dict[str, Any]] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/ask"):
            bodies.append(request.post_data_json)

    page.on("request", seen)
    return bodies


def _marked(locator: Locator) -> str:
    """The highlighted text: one <mark> per text run it covers (bold inside a quote
    splits it), joined."""
    return "".join(locator.locator("mark").all_inner_texts())


def _show(page: Page, view: str) -> None:
    page.locator(f"#view-{view}").click()
    expect(page.locator(f"#{view}-view")).to_be_visible()


# Set when the draft streams in before the checked answer replaces it. Watched from
# inside the page: its Content-Security-Policy forbids the string evaluation that
# wait_for_function polls with.
WATCH_DRAFT = """() => {
  const thread = document.querySelector('#thread');
  window.sawDraft = false;
  new MutationObserver(() => {
    const box = thread.querySelector('.turn:last-child .answer-box');
    const answer = box && box.querySelector('.answer');
    window.sawDraft ||= !!answer && box.dataset.state === 'streaming'
      && answer.getAttribute('aria-busy') === 'true'
      && answer.textContent.trim().length > 0;
  }).observe(thread, { subtree: true, childList: true, characterData: true, attributes: true });
}"""

BOND = "What is the maximum bond a landlord in Westmere may require from a tenant?"
# "it" is the bond of the question before: alone, this names nothing to search for.
LODGE = "And how soon must the landlord lodge it?"
# Enough words of its own to be searched as it stands (the bond's terms are not
# carried over into it), so the refusal needs no generation.
UNANSWERABLE = "What is the capital city of Australia?"
# The ellipsis is resolved from the question before: "the capital of New Zealand".
ELLIPTIC = "And of New Zealand?"


def test_a_conversation_streams_follows_up_refuses_and_resumes(page: Page) -> None:
    """Three turns through the real server, kept as a server-side conversation: a cited
    answer streamed in, a follow-up, a refusal; the sources panel and the document
    viewer; then a reload that resumes the conversation from the server."""
    bodies = _asked(page)
    page.evaluate(WATCH_DRAFT)
    _ask(page, BOND)
    _wait_answer(page, "answered")
    assert page.evaluate("window.sawDraft")
    first = _turn(page, 0)
    answer = first.locator(".answer")
    expect(answer).to_contain_text("4 weeks")
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(page.locator("#citations")).to_contain_text("tenancy/residential-tenancies-act.md")
    conversation = bodies[0].get("conversation_id")
    assert conversation and "history" not in bodies[0], bodies[0]

    # A [n] marker in the text is a button: reach it by keyboard and open it.
    marker = first.locator(".cite-ref").first
    number = marker.get_attribute("data-n")
    assert marker.inner_text() == f"[{number}]"
    marker.focus()
    page.keyboard.press("Enter")
    passage = page.locator("#passage")
    expect(passage).to_be_visible()
    expect(page.locator("#passage-title")).to_be_focused()
    expect(page.locator("#passage-title")).to_contain_text(f"[{number}]")
    source = page.locator(f"#citations li:has(button[data-n='{number}'])")
    document = source.locator("button").inner_text().split("] ", 1)[1].split(" · ")[0]
    expect(page.locator("#passage-meta")).to_contain_text(document)
    quote = source.locator("q").inner_text()  # rendered: its ** are bold, not text
    assert quote.strip() and "**" not in quote
    assert _marked(page.locator("#passage-text")) == quote
    assert quote in page.locator("#passage-text").inner_text()
    assert "**" not in page.locator("#passage-text").inner_text()

    # The follow-up goes on in the stored conversation: the server holds the history.
    _ask(page, LODGE)
    _wait_answer(page, "answered")
    expect(_turn(page).locator(".answer")).to_contain_text("10 business days")
    assert bodies[1]["conversation_id"] == conversation and "history" not in bodies[1]

    _ask(page, UNANSWERABLE)
    _wait_answer(page, "not-found")
    refusal = _turn(page)
    expect(refusal.locator(".answer")).to_contain_text("Not found in the documents")
    expect(refusal.locator(".answer")).to_have_class(re.compile(r"\bnotfound\b"))
    expect(refusal.locator(".ask-error")).to_be_hidden()
    expect(page.locator("#citations li")).to_have_count(0)
    expect(page.locator("#sources")).to_be_hidden()

    # An earlier answer selected again: its sources, then one opened in its document,
    # scrolled to and highlighted.
    _turn(page, 0).locator(".show-sources").click()
    expect(page.locator("#panel-heading")).to_be_focused()
    expect(page.locator("#citations")).to_contain_text("tenancy/residential-tenancies-act.md")
    expect(_turn(page, 0)).to_have_class(re.compile(r"\bselected\b"))
    _turn(page, 0).locator(".cite-ref").first.click()
    expect(page.locator("#passage-text mark").first).to_be_visible()
    page.locator("#open-document").click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-status")).to_contain_text("highlighted")
    expect(page.locator("#viewer-text mark").first).to_be_in_viewport()
    assert _marked(page.locator("#viewer-text")) == quote
    expect(page.locator("#viewer-text .in-passage").first).to_be_visible()
    expect(page.locator("#viewer-text [role=heading]").first).to_be_attached()
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "web-document.png"))
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator("#open-document")).to_be_focused()
    page.screenshot(path=str(REPORTS / "web-page.png"))

    page.reload()
    expect(page.locator("#thread .turn")).to_have_count(3)
    expect(page.locator("#thread .question-text")).to_have_text([BOND, LODGE, UNANSWERABLE])
    states = [_turn(page, n).locator(".answer-box").get_attribute("data-state") for n in range(3)]
    assert states == ["answered", "answered", "not-found"], states
    expect(_turn(page, 1).locator(".answer")).to_contain_text("10 business days")
    current = page.locator("#conversation-list .conversation-open[aria-current='true']")
    expect(current).to_have_attribute("data-id", conversation)
    expect(current).to_contain_text(BOND)
    _turn(page, 1).locator(".cite-ref").first.click()
    expect(page.locator("#passage-text mark").first).to_be_visible()
    assert "10 business days" in _marked(page.locator("#passage-text"))

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete conversation {BOND}").click()
    expect(page.locator("#thread .turn")).to_have_count(0)
    expect(page.locator(f"#conversation-list [data-id='{conversation}']")).to_have_count(0)
    page.reload()
    expect(page.locator("#conversations-status")).to_contain_text("on the server")
    expect(page.locator("#thread .turn")).to_have_count(0)


def _no_conversations_api(page: Page) -> None:
    """A server from before /v1/conversations: its 404 for them."""

    def missing(route: Route) -> None:
        problem = {"title": "Not Found", "status": 404, "detail": "Not Found"}
        route.fulfill(status=404, content_type="application/problem+json", body=json.dumps(problem))

    page.route(re.compile(r".*/v1/conversations(/.*)?$"), missing)


def test_a_question_asked_before_the_page_knows_where_conversations_live_is_saved(
    browser: Browser, server: Server
) -> None:
    """The page asks the server whether it keeps conversations while the user may
    already be typing: a question sent before the answer arrives waits for it and goes
    with a stored conversation, instead of going unsaved."""
    context = _context(browser, server.admin_key)
    # Hold the page's first look at /v1/conversations for a while, in the browser.
    context.add_init_script(
        "const realFetch = window.fetch; let held = false;"
        "window.fetch = (url, init) => {"
        " const method = (init && init.method) || 'GET';"
        " if (!held && String(url).endsWith('/v1/conversations') && method === 'GET') {"
        "  held = true;"
        "  return new Promise((r) => setTimeout(r, 3000)).then(() => realFetch(url, init)); }"
        " return realFetch(url, init); };"
    )
    page = context.new_page()
    canned = {"answer": "Not found.", "found": False, "citations": [], "language": "en"}
    page.route(
        "**/v1/ask",
        lambda route: route.fulfill(json={**canned, "timings": {}}),
    )
    try:
        page.goto(server.base)
        expect(page.locator("#collection")).to_have_value("default")
        with page.expect_request("**/v1/ask") as asked:
            _ask(page, BOND)
        body = asked.value.post_data_json or {}
        assert body.get("conversation_id"), body
        expect(page.locator("#conversations-status")).to_contain_text("on the server")
    finally:
        context.close()


def test_without_server_conversations_the_page_sends_the_history(page: Page) -> None:
    """The stateless path: the thread is kept in the browser and every question carries
    the turns before it. The follow-ups go to the real server, which searches each as
    the standalone question it makes of that history."""
    _no_conversations_api(page)
    page.reload()
    expect(page.locator("#conversations-status")).to_contain_text("in this browser")
    bodies = _asked(page)
    first = {
        "answer": "A landlord must not require or accept a bond that is more than 4 weeks' "
        "rent under the agreement. [1]",
        "found": True,
        "citations": [_citation(1, "The fee is 12 dollars 🙂 per day.", 0, 0)],
        "language": "en",
        "timings": {},
    }

    def first_canned_then_real(route: Route) -> None:
        if "history" in (route.request.post_data_json or {}):
            route.continue_()
        else:
            canned = _sse(("answer", first))
            route.fulfill(status=200, content_type="text/event-stream", body=canned)

    page.route("**/v1/ask", first_canned_then_real)
    box = page.locator("#question")
    box.fill(BOND)
    box.press("Shift+Enter")  # a new line, not a question
    expect(box).to_have_value(f"{BOND}\n")
    expect(page.locator("#thread .turn")).to_have_count(0)
    box.press("Enter")
    _wait_answer(page, "answered")
    assert "history" not in bodies[0] and "conversation_id" not in bodies[0], bodies[0]

    _ask(page, UNANSWERABLE)
    _wait_answer(page, "not-found")
    refusal = _turn(page).locator(".answer")
    refused = refusal.inner_text().removeprefix("Not found in the documents. ")
    _ask(page, ELLIPTIC)
    _wait_answer(page, "not-found")
    assert bodies[1]["history"] == [
        {"role": "user", "content": BOND},
        {"role": "assistant", "content": first["answer"]},
    ], bodies[1]
    assert bodies[2]["history"] == [
        *bodies[1]["history"],
        {"role": "user", "content": UNANSWERABLE},
        {"role": "assistant", "content": refused},
    ], bodies[2]
    assert all("conversation_id" not in body for body in bodies)
    # What the server searched: the follow-up completed from the history it was sent.
    searched = _turn(page).locator(".standalone")
    expect(searched).to_contain_text("capital")
    expect(searched).to_contain_text("New Zealand")

    page.reload()  # resumed from this browser's storage
    expect(page.locator("#thread .question-text")).to_have_text([BOND, UNANSWERABLE, ELLIPTIC])
    expect(_turn(page).locator(".standalone")).to_contain_text("capital")
    current = page.locator("#conversation-list .conversation-open[aria-current='true']")
    expect(current).to_contain_text(BOND)
    _turn(page, 0).locator(".cite-ref").click()
    expect(page.locator("#passage-text mark")).to_have_text("The fee is 12 dollars 🙂 per day.")

    page.locator("#new-conversation").click()
    expect(page.locator("#thread .turn")).to_have_count(0)
    expect(page.locator("#question")).to_be_focused()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete conversation {BOND}").click()
    expect(page.locator("#conversation-list li")).to_have_count(0)
    page.reload()
    expect(page.locator("#thread .turn")).to_have_count(0)


def test_upload_then_ask_cites_the_new_file(page: Page, tmp_path: Path) -> None:
    # A new collection, made and chosen on the page.
    _show(page, "manage")
    page.locator("#new-collection").fill("web-notes")
    page.locator("#new-collection").press("Enter")
    expect(page.locator("#create-status")).to_contain_text("Created")
    expect(page.locator("#collection")).to_have_value("web-notes")
    expect(page.locator("#docs-status")).to_contain_text("No documents")

    hostile = '<img src=x onerror="window.__pwned=1">Quillmere harbour notes'
    notes = tmp_path / "quillmere-notes.txt"
    notes.write_text(
        f"{hostile}\n\n"
        "The Quillmere lighthouse stands on the northern breakwater of the harbour. "
        "Its keeper feeds the resident grey heron exactly 7 sardines every Tuesday morning. "
        "Visitors may climb the lighthouse tower on Saturdays between 10 am and 2 pm.\n",
        encoding="utf-8",
    )
    page.locator("#files").set_input_files(str(notes))
    page.locator("#upload-button").click()
    job = page.locator("#job")
    expect(job).to_have_attribute("data-status", re.compile("^(done|failed)$"), timeout=JOB_MS)
    assert job.get_attribute("data-status") == "done", job.inner_text()
    expect(page.locator("#job-status")).to_contain_text("1 added")
    expect(page.locator("#job-errors li")).to_have_count(0)

    # Listed, with the hostile first line shown as text.
    row = page.locator("#documents li[data-id='quillmere-notes.txt']")
    expect(row).to_be_visible()
    expect(row.locator(".doc-title")).to_have_text(hostile)
    expect(page.locator("#collection option[value='web-notes']")).to_contain_text("1 document")
    _no_injection(page)

    _show(page, "chat")
    _ask(page, "How many sardines does the Quillmere lighthouse keeper feed the heron?")
    _wait_answer(page, "answered")
    expect(_turn(page).locator(".answer")).to_contain_text("7")
    expect(page.locator("#citations")).to_contain_text("quillmere-notes.txt")
    page.locator("#citations .cite").first.click()
    expect(page.locator("#passage-meta")).to_contain_text("quillmere-notes.txt")
    expect(page.locator("#passage-text mark").first).to_be_visible()
    assert "sardines" in _marked(page.locator("#passage-text"))
    _no_injection(page)

    # Deleted again, after a confirmation.
    _show(page, "manage")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete quillmere-notes.txt").click()
    expect(row).to_have_count(0)
    expect(page.locator("#docs-status")).to_contain_text("Deleted")
    expect(page.locator("#docs-status")).to_contain_text("No documents")
    expect(page.locator("#collection option[value='web-notes']")).to_contain_text("0 documents")


def test_scans_and_photos_uploaded_on_the_page_are_answered_with_their_pages(
    page: Page, server: Server, tmp_path: Path
) -> None:
    """A scanned PDF and a photo of a page, English and Chinese, uploaded on the page (OCR
    in the ingestion worker), then asked on the page and through the API."""
    files = write_scanned_cases(tmp_path / "scans")
    _show(page, "manage")
    page.locator("#new-collection").fill("web-scans")
    page.locator("#new-collection").press("Enter")
    expect(page.locator("#collection")).to_have_value("web-scans")
    page.locator("#files").set_input_files([str(f) for f in files])
    page.locator("#upload-button").click()
    job = page.locator("#job")
    # OCR takes seconds a page: meanwhile the job names the file and counts its pages.
    reading = re.compile(r"Reading \S+\.(pdf|jpg) by OCR: page \d of [12]\b")
    expect(page.locator("#job-status")).to_contain_text(reading, timeout=JOB_MS)
    expect(job).to_have_attribute("data-status", re.compile("^(done|failed)$"), timeout=JOB_MS)
    assert job.get_attribute("data-status") == "done", job.inner_text()
    expect(page.locator("#job-status")).to_contain_text(f"{len(files)} added")
    expect(page.locator("#job-errors li")).to_have_count(0)

    on_page, through_api = SCANNED_CASES[::3], SCANNED_CASES[1:3]
    _show(page, "chat")
    for case in on_page:
        _ask(page, case.question)
        _wait_answer(page, "answered")
        answer = _turn(page).locator(".answer").inner_text()
        assert any(word in answer for word in case.answer_holds), (case, answer)
        expect(page.locator("#citations")).to_contain_text(case.file)
        page.locator("#citations .cite").first.click()
        expect(page.locator("#passage-meta")).to_contain_text(case.file)
        expect(page.locator("#passage-meta")).to_contain_text(f"Page{case.page}")
        # The scanned page itself under the passage, its lines marked where OCR read them,
        # and again above the document's text in the viewer.
        _check_page_picture(page, case.page, "passage-page", "page-frame", "page-caption")
        page.locator("#open-document").click()
        expect(page.locator("#viewer-status")).to_contain_text("highlighted")
        _check_page_picture(
            page, case.page, "viewer-page", "viewer-page-frame", "viewer-page-caption"
        )
        # Beside the text: the picture loading did not push the marked quote out of view.
        expect(page.locator("#viewer-text mark").first).to_be_in_viewport()
        page.locator("#viewer-close").click()
        expect(page.locator("#viewer-page")).to_be_hidden()

    headers = {"Authorization": f"Bearer {server.admin_key}"}
    for case in SCANNED_CASES:
        query = {"query": case.question, "collection": "web-scans", "k": 1}
        found = httpx.post(f"{server.base}/v1/search", headers=headers, json=query, timeout=120)
        assert found.status_code == 200, found.text
        top = found.json()["results"][0]
        assert (top["document"], top["page"]) == (case.file, case.page), (case, top)
        # Where on the page it was read: the boxes of the passage's own lines.
        boxes = top["metadata"]["ocr"]["boxes"]
        assert list(boxes) == [str(case.page)] and boxes[str(case.page)], boxes
    for case in through_api:
        question = {"question": case.question, "collection": "web-scans"}
        asked = httpx.post(
            f"{server.base}/v1/ask", headers=headers, json=question, timeout=ANSWER_MS / 1000
        )
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert answer["found"] and any(w in answer["answer"] for w in case.answer_holds), answer
        cited = {(c["document"], c["page"]) for c in answer["citations"]}
        assert cited == {(case.file, case.page)}, (case, answer)
        regions = [r for c in answer["citations"] for r in c["regions"]]
        assert regions and {(r["page"], r["image"]) for r in regions} == {(str(case.page), True)}
        assert any(r["quote"] for r in regions), regions


def _check_page_picture(page: Page, number: int, figure: str, frame: str, caption: str) -> None:
    """The cited page's picture is shown in `figure`, loaded, with the passage's lines
    marked on it (the quote's among them) inside the picture."""
    expect(page.locator(f"#{figure}")).to_be_visible()
    expect(page.locator(f"#{caption}")).to_contain_text(f"Page {number} as scanned")
    image = page.locator(f"#{frame} img")
    expect(image).to_have_attribute("alt", re.compile(f"^Page {number} of "))
    page.wait_for_function(
        f"() => {{ const i = document.querySelector('#{frame} img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    width, height = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert max(width, height) <= 1600 and min(width, height) > 300, (width, height)
    expect(page.locator(f"#{frame} .region.quote").first).to_be_visible()
    box_of_image = image.bounding_box()
    assert box_of_image is not None
    for region in page.locator(f"#{frame} .region").all():
        box = region.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
        shown = box_of_image
        assert shown["x"] <= box["x"] and box["x"] + box["width"] <= shown["x"] + shown["width"] + 1
        assert (
            shown["y"] <= box["y"] and box["y"] + box["height"] <= shown["y"] + shown["height"] + 1
        )


def test_broken_and_unsupported_uploads_show_their_errors(page: Page, tmp_path: Path) -> None:
    _show(page, "manage")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(random.Random(7).randbytes(4096))
    page.locator("#files").set_input_files(str(broken))
    page.locator("#upload-button").click()
    job = page.locator("#job")
    expect(job).to_have_attribute("data-status", re.compile("^(done|failed)$"), timeout=JOB_MS)
    errors = page.locator("#job-errors li")
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text("broken.pdf")
    expect(page.locator("#job-status")).to_contain_text(re.compile("Failed|failed"))

    # Refused before any job: a problem response (415) shown as an error.
    other = tmp_path / "notes.exe"
    other.write_bytes(b"MZ not a document")
    page.locator("#files").set_input_files(str(other))
    page.locator("#upload-button").click()
    expect(job).to_have_attribute("data-status", "error")
    expect(page.locator("#job-status")).to_contain_text("unsupported file type")
    expect(page.locator("#job-status")).to_contain_text("415")
    expect(page.locator("#job-status")).to_have_class(re.compile(r"\berror\b"))


def test_chinese_question_gets_a_chinese_answer(page: Page) -> None:
    _ask(page, "图书的借期是多少天？")
    _wait_answer(page, "answered")
    answer = _turn(page).locator(".answer")
    expect(answer).to_have_attribute("lang", "zh")
    expect(answer).to_contain_text("30")
    assert re.search(r"[\u4e00-\u9fff]", answer.inner_text())
    expect(page.locator("#citations")).to_contain_text("library/借阅规定.txt")
    answer.locator(".cite-ref").first.click()
    expect(page.locator("#passage-text")).to_have_attribute("lang", "zh")
    expect(page.locator("#passage-text mark").first).to_be_visible()
    assert re.search(r"[\u4e00-\u9fff]", _marked(page.locator("#passage-text")))
    expect(page.locator("#passage-title")).to_contain_text("借阅规定")


# ---------------------------------------------------------------- canned answers

PASSAGE = (
    "Part 9 <script>window.__pwned=1</script> notes. "
    '<img src=x onerror="window.__pwned=1"> The fee is 12 dollars 🙂 per day. Done.'
)


def _citation(n: int, quote: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {
        "n": n, "document": "hostile/<b>doc</b>.txt", "chunk_id": f"hostile/x#{n}",
        "page": 3, "text": PASSAGE, "quote": quote, "quote_start": start, "quote_end": end,
        "score": 0.9, "title": "<i>Hostile</i> title", "section": "Part 9 > Fees", **extra,
    }  # fmt: skip


def _sse(*events: tuple[str, object]) -> str:
    return "".join(
        f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n" for name, data in events
    )


def _route_ask(page: Page, body: str) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    page.route("**/v1/ask", fulfil)


def test_hostile_text_and_odd_offsets_render_safely(page: Page) -> None:
    quote = "The fee is 12 dollars 🙂 per day."
    # Python's offsets count code points, JavaScript's UTF-16 units: the emoji before
    # the second "per day" is one of the first and two of the second.
    twice = "Rent 🙂 per day. Fee per day."
    second = twice.rindex("per day")
    answer = {
        "answer": 'It is <img src=x onerror="window.__pwned=1"> 12 dollars [1] or [2]; not [7].',
        "found": True,
        "citations": [
            # Offsets past the end: the quote is found by searching the text.
            _citation(1, quote, 9000, 9100),
            _citation(2, "per day", second, second + len("per day"), text=twice),
        ],
        "language": "en",
        "timings": {},
    }
    _route_ask(page, _sse(("token", {"text": "<b>draft</b>"}), ("answer", answer)))
    _ask(page, "What is the fee?")
    _wait_answer(page, "answered")
    expect(_turn(page).locator(".answer")).to_have_text(
        'It is <img src=x onerror="window.__pwned=1"> 12 dollars [1] or [2]; not [7].'
    )
    expect(_turn(page).locator(".cite-ref")).to_have_count(2)  # [7] names no citation
    _turn(page).locator(".cite-ref[data-n='1']").click()
    expect(page.locator("#passage-text mark")).to_have_text(quote)
    expect(page.locator("#passage-text")).to_have_text(PASSAGE)
    expect(page.locator("#passage-meta")).to_contain_text("hostile/<b>doc</b>.txt")
    expect(page.locator("#passage-meta")).to_contain_text("Part 9 > Fees")
    expect(page.locator("#passage-meta")).to_contain_text("3")
    _turn(page).locator(".cite-ref[data-n='2']").click()
    expect(page.locator("#passage-text mark")).to_have_text("per day")
    before = page.evaluate("document.querySelector('#passage-text mark').previousSibling.data")
    assert before == "Rent 🙂 per day. Fee ", before
    _no_injection(page)

    # An error inside the stream is an error, not a "not found".
    _route_ask(
        page,
        _sse(
            ("token", {"text": "Partial"}),
            ("error", {"status": 504, "title": "Timeout", "detail": "no answer within 60 s"}),
        ),
    )
    _ask(page, "What is the fee?")
    _wait_answer(page, "error")
    expect(_turn(page).locator(".ask-error")).to_be_visible()
    expect(_turn(page).locator(".ask-error")).to_contain_text("no answer within 60 s")
    expect(_turn(page).locator(".answer")).not_to_have_class(re.compile(r"\bnotfound\b"))


MARKDOWN = (
    '## Fees <img src=x onerror="window.__pwned=1">\n\n'
    "The **late fee** is *5%* per day.\n"
    "A second line of the same paragraph.\n\n"
    "- first item with `a_code_span`\n"
    "- second item\n\n"
    "1. one\n"
    "2. two\n\n"
    "```\n<script>window.__pwned=1</script>\n```\n"
)


def test_passages_render_markdown_safely_with_the_quote_marked(page: Page) -> None:
    quote = "The **late fee** is *5%* per day."
    start = MARKDOWN.index(quote)
    answer = {
        "answer": "The late fee is 5% per day. [1]",
        "found": True,
        "citations": [_citation(1, quote, start, start + len(quote), text=MARKDOWN)],
        "language": "en",
        "timings": {},
    }
    _route_ask(page, _sse(("answer", answer)))
    _ask(page, "What is the late fee?")
    _wait_answer(page, "answered")
    expect(page.locator("#citations q strong")).to_have_text("late fee")  # not "**late fee**"
    _turn(page).locator(".cite-ref").click()
    text = page.locator("#passage-text")
    heading = 'Fees <img src=x onerror="window.__pwned=1">'
    expect(text.locator("[role=heading]")).to_have_text(heading)
    expect(text.locator("p strong")).to_have_text("late fee")
    expect(text.locator("p em")).to_have_text("5%")
    expect(text.locator("ul li")).to_have_count(2)
    expect(text.locator("ul code")).to_have_text("a_code_span")
    expect(text.locator("ol li")).to_have_text(["one", "two"])
    expect(text.locator("pre code")).to_have_text("<script>window.__pwned=1</script>")
    assert "**" not in text.inner_text() and "```" not in text.inner_text()
    assert _marked(text) == "The late fee is 5% per day."
    expect(text.locator("p").first).to_contain_text("A second line")
    _no_injection(page)


def _pdf_passage(server: Server) -> dict[str, Any]:
    """A real passage of the sample PDF, as the server's search returns it."""
    found = httpx.post(
        f"{server.base}/v1/search",
        json={"query": "formal re-marking request working days", "k": 1},
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=60,
    )
    assert found.status_code == 200, found.text
    hit = found.json()["results"][0]
    assert hit["document"] == "education/assessment-policy.pdf" and hit["page"] == 2, hit
    return hit


def test_a_pdf_citation_opens_in_its_document_at_its_page(page: Page, server: Server) -> None:
    hit = _pdf_passage(server)
    quote = "A re-marking fee is not charged."
    start = hit["text"].index(quote)
    citation = {
        **_citation(1, quote, start, start + len(quote)),
        "document": hit["document"], "chunk_id": hit["chunk_id"], "page": hit["page"],
        "text": hit["text"], "title": "", "section": None,
    }  # fmt: skip
    answer = {"answer": f"{quote} [1]", "found": True, "citations": [citation],
              "language": "en", "timings": {}}  # fmt: skip
    _route_ask(page, _sse(("answer", answer)))
    _ask(page, "Is there a fee for re-marking?")
    _wait_answer(page, "answered")
    _turn(page).locator(".cite-ref").click()
    expect(page.locator("#passage-meta")).to_contain_text("Page2")
    page.locator("#open-document").click()
    expect(page.locator("#viewer-status")).to_contain_text("page 2")
    expect(page.locator("#viewer-meta")).to_contain_text("education/assessment-policy.pdf")
    mark = page.locator("#viewer-text mark")
    expect(mark).to_have_text(quote)
    expect(mark).to_be_in_viewport()
    assert "re-marking request" in " ".join(
        page.locator("#viewer-text .in-passage").all_inner_texts()
    )
    page.locator("#viewer-close").click()
    expect(page.locator("#viewer")).to_be_hidden()


def test_a_long_document_opens_around_the_passage(page: Page) -> None:
    passage = "The **harbour fee** is 9 dollars a night.\n\nBerths are let by the week."
    filler = "".join(f"Line {n} of the harbour rules.\n" for n in range(12_000))
    text = f"# Harbour rules\n\n{filler}\n{passage}\n\n{filler}"
    quote = "The **harbour fee** is 9 dollars a night."
    citation = {
        **_citation(1, quote, 0, len(quote)),
        "document": "harbour.md", "text": passage, "page": None, "title": "Harbour rules",
    }  # fmt: skip
    answer = {"answer": "The harbour fee is 9 dollars a night. [1]", "found": True,
              "citations": [citation], "language": "en", "timings": {}}  # fmt: skip
    document = {"id": "harbour.md", "title": "Harbour rules", "chunks": 1, "characters": len(text),
                "ingested_at": "2024-01-01T00:00:00+00:00", "metadata": {},
                "content_hash": "h", "text": text}  # fmt: skip
    page.route(
        "**/v1/collections/default/documents/harbour.md",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(document)
        ),
    )
    _route_ask(page, _sse(("answer", answer)))
    _ask(page, "What is the harbour fee?")
    _wait_answer(page, "answered")
    _turn(page).locator(".cite-ref").click()
    page.locator("#open-document").click()
    expect(page.locator("#viewer-status")).to_contain_text(f"of {len(text)}")
    assert len(text) > 400_000
    expect(page.locator("#viewer-text mark").first).to_be_in_viewport()
    assert _marked(page.locator("#viewer-text")) == "The harbour fee is 9 dollars a night."
    expect(page.locator("#viewer-text .in-passage")).to_have_count(2)
    shown = page.locator("#viewer-text").evaluate("node => node.textContent.length")
    assert shown <= 200_000, shown


def test_a_low_confidence_answer_is_marked_as_such(page: Page) -> None:
    answer = {
        "answer": "The fee is 12 dollars per day. [1]",
        "found": True,
        "citations": [_citation(1, "The fee is 12 dollars per day.", 0, 30)],
        "language": "en",
        "timings": {},
        "confidence": 0.42,
    }
    _route_ask(page, _sse(("answer", answer)))
    _ask(page, "What is the fee?")
    _wait_answer(page, "low-confidence")
    expect(_turn(page).locator(".lowconfidence-label")).to_have_text("Low confidence:")
    expect(_turn(page).locator(".answer-status")).to_contain_text("Confidence 42%")
    _route_ask(page, _sse(("answer", {**answer, "confidence": 0.93})))
    _ask(page, "What is the fee?")
    _wait_answer(page, "answered")
    expect(_turn(page).locator(".lowconfidence-label")).to_have_count(0)
    expect(_turn(page).locator(".answer-status")).to_contain_text("Confidence 93%")

    # A question too vague to search gets a question back, shown as one.
    back = "Which fee do you mean: the late fee or the re-marking fee?"
    clarification = {"answer": back, "found": False, "citations": [], "language": "en",
                     "timings": {}, "confidence": None, "standalone_question": "that",
                     "clarification": True}  # fmt: skip
    _route_ask(page, _sse(("answer", clarification)))
    _ask(page, "And that?")
    _wait_answer(page, "clarification")
    expect(_turn(page).locator(".clarification-label")).to_have_text("Question back:")
    expect(_turn(page).locator(".answer")).to_contain_text(back)
    expect(_turn(page).locator(".notfound-label")).to_have_count(0)


def test_phone_width_has_no_horizontal_scroll(browser: Browser, server: Server) -> None:
    context = _context(
        browser, server.admin_key, viewport={"width": 375, "height": 740}, is_mobile=True
    )
    page = context.new_page()
    try:
        page.goto(server.base)
        expect(page.locator("#documents li")).to_have_count(6)
        expect(page.locator("#pager")).to_be_hidden()
        long_word = "x" * 300
        answer = {
            "answer": f"A long answer {long_word} [1].",
            "found": True,
            "citations": [
                _citation(1, "The fee is 12 dollars", 0, 0, document=f"deep/{long_word}.txt")
            ],
            "language": "en",
            "timings": {},
        }
        _route_ask(page, _sse(("answer", answer)))
        _ask(page, "What is the fee?")
        _wait_answer(page, "answered")
        _turn(page).locator(".cite-ref").first.click()
        expect(page.locator("#passage-text mark")).to_have_text("The fee is 12 dollars")
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert max(widths[:2]) <= widths[2], widths
        # The sources are stacked under the answer, not beside it.
        answer_box = _turn(page).locator(".answer-box").bounding_box()
        panel = page.locator("#panel").bounding_box()
        assert answer_box and panel and panel["y"] >= answer_box["y"] + answer_box["height"]
        REPORTS.mkdir(exist_ok=True)
        page.screenshot(path=str(REPORTS / "web-page-phone.png"), full_page=True)

        # The document viewer fits the phone too.
        hit = _pdf_passage(server)
        quote = "A re-marking fee is not charged."
        start = hit["text"].index(quote)
        pdf = {**_citation(1, quote, start, start + len(quote)), "document": hit["document"],
               "page": hit["page"], "text": hit["text"], "title": "", "section": None}  # fmt: skip
        _route_ask(page, _sse(("answer", {**answer, "answer": f"{quote} [1]", "citations": [pdf]})))
        _ask(page, "Is there a fee for re-marking?")
        _wait_answer(page, "answered")
        _turn(page).locator(".cite-ref").click()
        page.locator("#open-document").click()
        expect(page.locator("#viewer-text mark")).to_be_in_viewport()
        fits = page.locator("#viewer").evaluate(
            "d => [d.scrollWidth, d.clientWidth, d.getBoundingClientRect().right, innerWidth]"
        )
        assert fits[0] <= fits[1] and fits[2] <= fits[3], fits
        page.screenshot(path=str(REPORTS / "web-document-phone.png"))
    finally:
        context.close()


def test_api_key_is_asked_for_kept_and_sent(browser: Browser, server: Server) -> None:
    context = _context(browser, None)
    page = context.new_page()
    try:
        page.goto(server.base)
        notice = page.locator("#notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("API key")
        expect(page.locator("#collection option")).to_have_count(0)

        page.locator("#notice-settings").click()  # the key is in the settings view
        expect(page.locator("#api-key")).to_be_focused()
        page.locator("#api-key").fill("qa_000000000000_wrong")
        page.locator("#api-key").press("Enter")
        expect(notice).to_contain_text("unknown or has been revoked")

        page.locator("#api-key").fill(server.reader_key)
        page.locator("#api-key").press("Enter")
        expect(notice).to_be_hidden()
        expect(page.locator("#collection")).to_have_value("default")
        expect(page.locator("#documents li")).to_have_count(6)

        page.reload()
        expect(page.locator("#api-key")).to_have_value(server.reader_key)
        expect(page.locator("#documents li")).to_have_count(6)

        # A reader may not create collections: 403, said in place.
        _show(page, "manage")
        page.locator("#new-collection").fill("not-allowed")
        page.locator("#new-collection").press("Enter")
        expect(page.locator("#create-status")).to_contain_text("not allowed")
        expect(page.locator("#create-status")).to_contain_text("reader")
    finally:
        context.close()


def test_document_list_pages_and_deletes_by_encoded_id(page: Page) -> None:
    total = 120
    odd = "../../dir a/文#?.txt"  # left in segments, the browser would resolve the '..'s
    deleted: list[str] = []

    def documents(route: Route) -> None:
        request = route.request
        if request.method == "DELETE":
            deleted.append(request.url)
            route.fulfill(status=204, body="")
            return
        query = dict(p.split("=", 1) for p in request.url.split("?", 1)[1].split("&"))
        offset, limit = int(query["offset"]), int(query["limit"])
        ids = [odd if i == 0 else f"doc-{i:03}.txt" for i in range(total)]
        body = {
            "documents": [
                {"id": i, "title": "", "chunks": 1, "characters": 10,
                 "ingested_at": "2024-01-01T00:00:00+00:00", "metadata": {}, "content_hash": "h"}
                for i in ids[offset : offset + limit]
            ],
            "total": total, "offset": offset, "limit": limit,
        }  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r".*/v1/collections/default/documents([?/].*)?$"), documents)
    _show(page, "manage")
    page.locator("#collections-refresh").click()
    status = page.locator("#docs-status")
    expect(status).to_contain_text("120 documents")
    expect(status).to_contain_text("showing 1–50")
    expect(page.locator("#pager")).to_be_visible()
    expect(page.locator("#prev-page")).to_be_disabled()
    page.locator("#next-page").click()
    expect(status).to_contain_text("showing 51–100")
    page.locator("#prev-page").click()
    expect(status).to_contain_text("showing 1–50")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {odd}").click()
    expect(status).to_contain_text("Deleted")
    assert deleted == [
        f"{page.url.rstrip('/')}/v1/collections/default/documents/"
        "..%2F..%2Fdir%20a%2F%E6%96%87%23%3F.txt"
    ]
