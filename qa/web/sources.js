// The side panel: the sources of the selected answer, the passage behind one of them
// with its quote highlighted (and, for a scan, its page with the lines marked: pages.js),
// and the document viewer that opens the passage inside its whole document.

import { api, describeError } from "./api.js";
import { $, el, langOf, plural, segment, setStatus } from "./dom.js";
import { renderInline, renderMarkdown } from "./markdown.js";
import { passagePage, viewerPage } from "./pages.js";

let shown = null; // {turn, citation} behind the passage on view
let viewing = 0; // only the latest document request is shown

export function citationLabel(c) {
  // The section path usually starts with the title: say it once.
  const title = c.title && c.title !== c.document && !(c.section || "").startsWith(c.title) ? c.title : null;
  const page = c.page !== null && c.page !== undefined ? `page ${c.page}` : null;
  return [c.document, title, c.section, page].filter(Boolean).join(" · ");
}

/** A button that opens citation c of a turn's answer in the panel. */
export function citeButton(turn, c, text, className) {
  const button = el("button", {
    type: "button",
    class: className,
    text,
    title: citationLabel(c),
    "aria-label": `Source ${c.n}: ${citationLabel(c)}`,
    "aria-controls": "passage",
    "data-n": String(c.n),
  });
  button.addEventListener("click", () => {
    showSources(turn);
    showPassage(turn, c);
  });
  return button;
}

/** Python counts offsets in code points, JavaScript strings in UTF-16 units. */
function utf16Offset(text, codePoints) {
  let units = 0;
  let seen = 0;
  for (const ch of text) {
    if (seen === codePoints) return units;
    units += ch.length;
    seen += 1;
  }
  return seen === codePoints ? units : -1;
}

/** [start, end) of the quote in text: the server's offsets when they hold the quote,
 * else where the quote occurs, else the offsets if at least they are in range. */
export function quoteRange(text, quote, start, end) {
  let valid = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end;
  if (valid && text.length !== Array.from(text).length) {
    start = utf16Offset(text, start);
    end = utf16Offset(text, end);
    valid = start >= 0 && end > start;
  }
  valid = valid && end <= text.length;
  if (valid && (!quote || text.slice(start, end) === quote)) return [start, end];
  if (quote) {
    const at = text.indexOf(quote);
    if (at >= 0) return [at, at + quote.length];
    const trimmed = quote.trim();
    const again = trimmed ? text.indexOf(trimmed) : -1;
    if (again >= 0) return [again, again + trimmed.length];
  }
  return valid ? [start, end] : null;
}

/** The sources of one turn's answer in the panel; the turn is marked as selected. */
export function showSources(turn) {
  const citations = Array.isArray(turn.answer && turn.answer.citations) ? turn.answer.citations : [];
  if (shown && shown.turn === turn && $("citations").childElementCount === citations.length) return;
  for (const node of document.querySelectorAll(".turn.selected")) node.classList.remove("selected");
  if (turn.node) turn.node.classList.add("selected");
  $("passage").hidden = true;
  passagePage.clear();
  shown = { turn, citation: null };
  $("citations").replaceChildren(
    ...citations.map((c) =>
      el(
        "li",
        {},
        citeButton(turn, c, `[${c.n}] ${citationLabel(c)}`, "cite"),
        c.quote ? el("q", { lang: langOf(c.quote) }, renderInline(c.quote)) : null,
      ),
    ),
  );
  $("sources").hidden = citations.length === 0;
  setStatus(
    $("panel-status"),
    citations.length
      ? `${plural(citations.length, "source")} for “${turn.question}”. Choose one to read its passage.`
      : `No sources for “${turn.question}”.`,
  );
}

export function clearSources() {
  shown = null;
  $("citations").replaceChildren();
  $("sources").hidden = true;
  $("passage").hidden = true;
  passagePage.clear();
  setStatus($("panel-status"), "The sources of the selected answer appear here.");
}

function metaRows(c) {
  return [
    ["Document", c.document],
    ["Title", c.title],
    ["Section", c.section],
    ["Page", c.page != null ? String(c.page) : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
}

function renderMeta(node, rows) {
  node.replaceChildren(
    ...rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { lang: langOf(value), text: value })]),
  );
}

export function showPassage(turn, c) {
  const text = typeof c.text === "string" ? c.text : "";
  const quote = typeof c.quote === "string" ? c.quote : "";
  const title = $("passage-title");
  title.textContent = `[${c.n}] ${c.title || c.document}`;
  title.setAttribute("lang", langOf(title.textContent));
  renderMeta($("passage-meta"), metaRows(c));
  const body = $("passage-text");
  body.setAttribute("lang", langOf(text));
  body.replaceChildren(renderMarkdown(text, quoteRange(text, quote, c.quote_start, c.quote_end)).fragment);
  const scope = [$("citations"), turn.node].filter(Boolean);
  for (const button of scope.flatMap((node) => [...node.querySelectorAll("[data-n]")])) {
    button.classList.toggle("active", button.dataset.n === String(c.n));
  }
  shown = { turn, citation: c };
  const passage = $("passage");
  passage.dataset.n = String(c.n);
  passage.hidden = false;
  $("open-document").hidden = !turn.collection || !c.document;
  passagePage.show(turn.collection, c);
  title.focus({ preventScroll: true });
  passage.scrollIntoView({ block: "nearest" });
}

/** Where the passage lies in its document: its own text found there, else the quote. */
function locate(documentText, c) {
  const text = typeof c.text === "string" ? c.text : "";
  const quote = typeof c.quote === "string" ? c.quote : "";
  const at = text ? documentText.indexOf(text) : -1;
  if (at >= 0) {
    const inside = quoteRange(text, quote, c.quote_start, c.quote_end);
    const region = [at, at + text.length];
    return { region, quote: inside ? [at + inside[0], at + inside[1]] : region };
  }
  const range = quote ? quoteRange(documentText, quote, null, null) : null;
  return range ? { region: range, quote: range } : null;
}

/** Past this many characters a document is shown around the passage, not whole: the
 * page stays responsive with documents of many megabytes. */
const WINDOW_CHARS = 200000;

/** [start, end) of the text to show: all of it, or whole lines around the passage. */
function around(text, found) {
  if (text.length <= WINDOW_CHARS) return [0, text.length];
  const centre = found ? found.region[0] : 0;
  let end = Math.min(text.length, Math.max(0, centre - WINDOW_CHARS / 2) + WINDOW_CHARS);
  let start = Math.max(0, end - WINDOW_CHARS);
  if (start > 0) start = text.indexOf("\n", start) + 1 || start;
  if (end < text.length) end = Math.max(start, text.lastIndexOf("\n", end));
  return [start, end];
}

const shift = (range, by) => (range ? [range[0] - by, range[1] - by] : null);

/** The cited passage opened in its whole document, scrolled to and highlighted. */
async function openDocument() {
  if (!shown || !shown.citation) return;
  const { turn, citation: c } = shown;
  const request = ++viewing;
  const dialog = $("viewer");
  const body = $("viewer-text");
  $("viewer-title").textContent = c.title || c.document;
  $("viewer-title").setAttribute("lang", langOf($("viewer-title").textContent));
  renderMeta($("viewer-meta"), metaRows(c));
  body.replaceChildren();
  viewerPage.show(turn.collection, c);
  setStatus($("viewer-status"), `Opening “${c.document}”…`);
  if (!dialog.open) dialog.showModal();
  let data;
  try {
    const path = `/v1/collections/${segment(turn.collection)}/documents/${segment(c.document)}`;
    data = await (await api(path)).json();
  } catch (err) {
    if (request === viewing) setStatus($("viewer-status"), describeError(err), "error");
    return;
  }
  if (request !== viewing) return;
  const text = typeof data.text === "string" ? data.text : "";
  const found = locate(text, c);
  const [start, end] = around(text, found);
  const visible = text.slice(start, end);
  const rendered = renderMarkdown(visible, found && shift(found.quote, start), found && shift(found.region, start));
  body.setAttribute("lang", langOf(visible));
  body.replaceChildren(rendered.fragment);
  const where = c.page != null ? ` on page ${c.page}` : "";
  const part = end - start < text.length ? ` Shown: characters ${start + 1}–${end} of ${text.length}.` : "";
  setStatus(
    $("viewer-status"),
    (found
      ? `The cited passage${where} is highlighted; the quote is marked.`
      : `The passage${where} could not be located in the current text of the document.`) + part,
    found ? "" : "warn",
  );
  const target = rendered.marks[0] || rendered.inRegion[0];
  if (target) target.scrollIntoView({ block: "center" });
}

$("open-document").addEventListener("click", openDocument);
$("viewer-close").addEventListener("click", () => $("viewer").close());
$("viewer").addEventListener("close", () => {
  viewing += 1;
  viewerPage.clear();
  $("open-document").focus();
});
