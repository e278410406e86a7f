"use strict";
// The qa web page: pick a collection, ask (the answer streams in over Server-Sent
// Events read with fetch), open the passage behind each citation, upload and delete
// documents. Every string from the server enters the page through textContent or
// text nodes, never as HTML: documents may hold hostile markup.

const $ = (id) => document.getElementById(id);
const KEY_STORE = "qa.apiKey";
const COLLECTION_STORE = "qa.collection";
const DOCS_PAGE = 50;
const POLL_MS = 500;

let asking = null; // the AbortController of the question being answered
let docsOffset = 0;
let docsRequest = 0; // only the latest document listing is shown

const saved = {
  get(name) {
    try {
      return localStorage.getItem(name);
    } catch {
      return null;
    }
  },
  set(name, value) {
    try {
      if (value) localStorage.setItem(name, value);
      else localStorage.removeItem(name);
    } catch {
      // Storage may be disabled; the page still works for this visit.
    }
  },
};

/** An element with properties, attributes and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name === "lang" || name === "role" || name.includes("-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/g;

/** "zh" when a tenth or more of the visible characters are CJK, else "en". */
function langOf(text) {
  const cjk = (String(text).match(CJK) || []).length;
  const visible = String(text).replace(/\s+/g, "").length;
  return visible && cjk / visible >= 0.1 ? "zh" : "en";
}

function langTag(language, fallbackText) {
  if (typeof language === "string" && /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/.test(language)) return language;
  return langOf(fallbackText || "");
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const count = (x) => (Array.isArray(x) ? x.length : Number(x) || 0);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** A name or id as one URL path segment, '/' included: an id such as "../../x" left in
 * segments would be resolved by the browser into another resource's URL. */
const segment = (s) => encodeURIComponent(s);

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not a JSON body
  }
  const title = body && typeof body.title === "string" ? body.title : response.statusText || "Error";
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  return new ApiError(response.status, title, detail);
}

/** fetch with the API key; a non-2xx answer throws an ApiError from the problem body. */
async function api(path, { method = "GET", json, body, signal } = {}) {
  const headers = { Accept: "application/json, text/event-stream" };
  const key = saved.get(KEY_STORE);
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "Network error", "the server could not be reached");
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (problem.status === 401) showNotice(describeError(problem));
    throw problem;
  }
  return response;
}

function describeError(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err && err.message ? err.message : err}`;
  const detail = err.detail ? ` (${err.detail})` : "";
  if (err.status === 401) {
    return `The API key is missing or was not accepted${detail}. Enter a valid key under “API key”, or choose “Forget” if this server needs none.`;
  }
  if (err.status === 403) return `This API key is not allowed to do that${detail}.`;
  if (err.status === 0) return "The server could not be reached. Is it running?";
  return `${err.title}: ${err.detail || "no detail given"} (HTTP ${err.status})`;
}

function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
}

function setStatus(node, message, kind = "") {
  node.textContent = message;
  node.className = `status${kind ? ` ${kind}` : ""}`;
}

// ---------------------------------------------------------------- API key

$("api-key").value = saved.get(KEY_STORE) || "";

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  saved.set(KEY_STORE, key);
  setStatus($("key-status"), key ? "Key saved." : "No key: requests are sent without one.");
  loadCollections();
});

$("key-clear").addEventListener("click", () => {
  $("api-key").value = "";
  saved.set(KEY_STORE, null);
  setStatus($("key-status"), "Key forgotten.");
  loadCollections();
});

// ---------------------------------------------------------------- collections

const current = () => $("collection").value;

async function loadCollections(note = "") {
  const select = $("collection");
  let data;
  try {
    data = await (await api("/v1/collections")).json();
  } catch (err) {
    showNotice(describeError(err));
    select.replaceChildren();
    renderDocuments(null);
    return;
  }
  hideNotice();
  const collections = Array.isArray(data.collections) ? data.collections : [];
  const names = collections.map((c) => c.name);
  const wanted = select.value || saved.get(COLLECTION_STORE) || "default";
  select.replaceChildren(
    ...collections.map((c) =>
      el("option", { value: c.name, text: `${c.name} — ${plural(count(c.documents), "document")}` }),
    ),
  );
  if (!names.length) {
    select.append(el("option", { value: "", text: "No collections yet: create one", disabled: true }));
    select.value = "";
  } else {
    select.value = names.includes(wanted) ? wanted : names.includes("default") ? "default" : names[0];
  }
  await loadDocuments(docsOffset, note);
}

$("collection").addEventListener("change", () => {
  saved.set(COLLECTION_STORE, current());
  loadDocuments(0);
});
$("collections-refresh").addEventListener("click", () => loadCollections());

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("new-collection");
  const name = input.value.trim();
  const status = $("create-status");
  if (!name) return;
  setStatus(status, `Creating “${name}”…`);
  try {
    await api("/v1/collections", { method: "POST", json: { name } });
  } catch (err) {
    setStatus(status, describeError(err), "error");
    return;
  }
  input.value = "";
  saved.set(COLLECTION_STORE, name);
  $("collection").value = "";
  docsOffset = 0;
  await loadCollections();
  setStatus(status, `Created “${name}”: it is now the chosen collection. Add files below.`, "ok");
});

// ---------------------------------------------------------------- asking

/** Server-Sent Events from a fetch body: yields {event, data} with data parsed as JSON. */
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // CRLF or CR line ends; a lone CR at the end may be the first half of a CRLF.
      buffer = buffer.replace(/\r\n|\r(?!$)/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const parsed = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (parsed) yield parsed;
      }
      if (done) {
        finished = true;
        const parsed = parseEvent(buffer.replace(/\r$/, ""));
        if (parsed) yield parsed;
        return;
      }
    }
  } finally {
    if (!finished) reader.cancel().catch(() => {});
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  return { event, data: JSON.parse(data.join("\n")) };
}

function resetAnswer(question) {
  const box = $("answer-box");
  box.hidden = false;
  box.dataset.state = "streaming";
  $("passage").hidden = true;
  $("sources").hidden = true;
  $("citations").replaceChildren();
  $("ask-error").hidden = true;
  $("ask-error").textContent = "";
  const answer = $("answer");
  answer.replaceChildren();
  answer.className = "answer draft";
  answer.setAttribute("lang", langOf(question));
  answer.setAttribute("aria-busy", "true");
  setStatus($("answer-status"), "Searching the documents…");
}

function showAskError(err) {
  $("answer-box").dataset.state = "error";
  setStatus($("answer-status"), "");
  $("answer").className = "answer";
  const box = $("ask-error");
  box.textContent = describeError(err);
  box.hidden = false;
}

async function ask(question) {
  const collection = current();
  if (!collection) {
    resetAnswer(question);
    showAskError(new Error("choose or create a collection first"));
    return;
  }
  if (asking) asking.abort();
  const controller = new AbortController();
  asking = controller;
  resetAnswer(question);
  $("ask-button").disabled = true;
  $("stop-button").hidden = false;
  let draft = null;
  let settled = false;
  try {
    const response = await api("/v1/ask", {
      method: "POST",
      json: { question, collection, stream: true },
      signal: controller.signal,
    });
    if (!(response.headers.get("content-type") || "").includes("text/event-stream")) {
      showAnswer(await response.json());
      settled = true;
      return;
    }
    for await (const { event, data } of sseEvents(response.body)) {
      if (event === "token") {
        if (!draft) {
          draft = document.createTextNode("");
          $("answer").replaceChildren(draft);
          setStatus($("answer-status"), "Writing… (the answer is checked against the passages when it is done)");
        }
        draft.appendData(typeof data.text === "string" ? data.text : "");
      } else if (event === "answer") {
        showAnswer(data);
        settled = true;
      } else if (event === "error") {
        showAskError(new ApiError(data.status || 500, data.title || "Error", data.detail || ""));
        settled = true;
      }
    }
    if (!settled) showAskError(new Error("the answer stream ended before the answer arrived"));
  } catch (err) {
    if (err && err.name === "AbortError") {
      $("answer-box").dataset.state = "stopped";
      setStatus($("answer-status"), "Stopped.");
    } else {
      showAskError(err);
    }
  } finally {
    $("answer").setAttribute("aria-busy", "false");
    if (asking === controller) {
      asking = null;
      $("ask-button").disabled = false;
      $("stop-button").hidden = true;
    }
  }
}

function citationLabel(c) {
  // The section path usually starts with the title: say it once.
  const title = c.title && c.title !== c.document && !(c.section || "").startsWith(c.title) ? c.title : null;
  const page = c.page !== null && c.page !== undefined ? `page ${c.page}` : null;
  return [c.document, title, c.section, page].filter(Boolean).join(" · ");
}

/** The answer text with each [n] that names a citation turned into a button. */
function answerNodes(text, byNumber) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const c = byNumber.get(Number(match[1]));
    if (!c) continue;
    nodes.push(text.slice(last, match.index));
    nodes.push(citeButton(c, `[${c.n}]`, "cite-ref"));
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes.filter((n) => n !== "");
}

function citeButton(c, text, className) {
  const button = el("button", {
    type: "button",
    class: className,
    text,
    title: citationLabel(c),
    "aria-label": `Source ${c.n}: ${citationLabel(c)}`,
    "aria-controls": "passage",
    "data-n": String(c.n),
  });
  button.addEventListener("click", () => showPassage(c));
  return button;
}

/** Below this an answer is shown, but marked as one to check against its sources: the
 * service already refuses answers under its calibrated threshold, and the band just
 * above it is where most of the wrong answers it lets through lie. */
const LOW_CONFIDENCE = 0.6;

function confidenceNote(confidence) {
  return typeof confidence === "number" ? ` Confidence ${Math.round(confidence * 100)}%.` : "";
}

function showAnswer(a) {
  const found = a.found === true;
  const low = found && typeof a.confidence === "number" && a.confidence < LOW_CONFIDENCE;
  const citations = Array.isArray(a.citations) ? a.citations : [];
  const byNumber = new Map(citations.map((c) => [Number(c.n), c]));
  const text = typeof a.answer === "string" ? a.answer : "";
  const answer = $("answer");
  $("answer-box").dataset.state = found ? (low ? "low-confidence" : "answered") : "not-found";
  answer.className = found ? (low ? "answer lowconfidence" : "answer") : "answer notfound";
  answer.setAttribute("lang", langTag(a.language, text));
  if (found) {
    const nodes = answerNodes(text, byNumber);
    if (low) {
      answer.replaceChildren(el("strong", { class: "lowconfidence-label", lang: "en", text: "Low confidence:" }), " ", ...nodes);
      setStatus($("answer-status"), `Low confidence: check the ${plural(citations.length, "source")} before relying on this answer.${confidenceNote(a.confidence)}`, "warn");
    } else {
      answer.replaceChildren(...nodes);
      setStatus($("answer-status"), `Answered from ${plural(citations.length, "source")}. Choose a source to read its passage.${confidenceNote(a.confidence)}`, "ok");
    }
  } else {
    answer.replaceChildren(el("strong", { class: "notfound-label", lang: "en", text: "Not found in the documents." }), " ", text);
    setStatus($("answer-status"), "The documents do not answer this question; nothing was guessed.", "notfound");
  }
  $("citations").replaceChildren(
    ...citations.map((c) =>
      el(
        "li",
        {},
        citeButton(c, `[${c.n}] ${citationLabel(c)}`, "cite"),
        c.quote ? el("q", { lang: langOf(c.quote), text: c.quote }) : null,
      ),
    ),
  );
  $("sources").hidden = citations.length === 0;
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
function quoteRange(text, quote, start, end) {
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

function showPassage(c) {
  const text = typeof c.text === "string" ? c.text : "";
  const quote = typeof c.quote === "string" ? c.quote : "";
  const title = $("passage-title");
  title.textContent = `[${c.n}] ${c.title || c.document}`;
  title.setAttribute("lang", langOf(title.textContent));
  const meta = [
    ["Document", c.document],
    ["Title", c.title],
    ["Section", c.section],
    ["Page", c.page != null ? String(c.page) : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  $("passage-meta").replaceChildren(
    ...meta.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { lang: langOf(value), text: value })]),
  );
  const body = $("passage-text");
  body.setAttribute("lang", langOf(text));
  const range = quoteRange(text, quote, c.quote_start, c.quote_end);
  if (range) {
    body.replaceChildren(text.slice(0, range[0]), el("mark", { text: text.slice(range[0], range[1]) }), text.slice(range[1]));
  } else {
    body.replaceChildren(text);
  }
  for (const b of document.querySelectorAll("[data-n]")) {
    b.classList.toggle("active", b.dataset.n === String(c.n));
  }
  const passage = $("passage");
  passage.dataset.n = String(c.n);
  passage.hidden = false;
  title.focus({ preventScroll: true });
  passage.scrollIntoView({ block: "nearest" });
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (question) ask(question);
});

$("question").addEventListener("keydown", (event) => {
  // Enter asks; Shift+Enter is a new line; Enter that confirms an IME composition is not.
  if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  if (!$("ask-button").disabled) $("ask-form").requestSubmit();
});

$("stop-button").addEventListener("click", () => {
  if (asking) asking.abort();
});

// ---------------------------------------------------------------- uploads

function renderJob(job) {
  const status = $("job-status");
  const progress = $("job-progress");
  const files = Array.isArray(job.files) ? job.files.join(", ") : "";
  const p = job.progress || {};
  $("job").hidden = false;
  $("job").dataset.status = job.status;
  if (job.status === "queued") {
    setStatus(status, `Queued: ${files}`);
    progress.removeAttribute("value");
  } else if (job.status === "running") {
    const share = typeof p.fraction === "number" ? ` (${Math.round(p.fraction * 100)}%)` : "";
    setStatus(status, `Ingesting ${files}: ${p.done || 0} of ${p.total || "?"} done${share}`);
    if (typeof p.fraction === "number") progress.value = p.fraction;
    else progress.removeAttribute("value");
  } else {
    const r = job.result || {};
    const parts = [
      `${count(r.added)} added`,
      `${count(r.updated)} updated`,
      `${count(r.unchanged)} unchanged`,
    ];
    if (count(r.failed)) parts.push(`${count(r.failed)} failed`);
    const errors = Array.isArray(job.errors) ? job.errors : [];
    if (job.status === "done") {
      setStatus(status, `Done: ${parts.join(", ")}.`, errors.length ? "warn" : "ok");
    } else {
      setStatus(status, `Failed: ${errors.length ? "no file could be ingested" : "see the server log"}.`, "error");
    }
    progress.value = 1;
  }
  const errors = Array.isArray(job.errors) ? job.errors : [];
  $("job-errors").replaceChildren(
    ...errors.map((e) => el("li", { lang: langOf(String(e)), text: String(e) })),
  );
}

async function followJob(job) {
  for (;;) {
    renderJob(job);
    if (job.status === "done" || job.status === "failed") return job;
    await sleep(POLL_MS);
    try {
      job = await (await api(`/v1/jobs/${segment(job.id)}`)).json();
    } catch (err) {
      throw new Error(`Uploaded as job ${job.id}, but following it failed: ${describeError(err)}`);
    }
  }
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("files");
  const files = Array.from(input.files || []);
  const collection = current();
  const status = $("job-status");
  $("job").hidden = false;
  $("job-errors").replaceChildren();
  $("job").dataset.status = "uploading";
  if (!collection) {
    setStatus(status, "Choose or create a collection first.", "error");
    return;
  }
  if (!files.length) {
    setStatus(status, "Choose one or more files first.", "error");
    return;
  }
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  setStatus(status, `Uploading ${plural(files.length, "file")} to “${collection}”…`);
  $("job-progress").removeAttribute("value");
  $("upload-button").disabled = true;
  try {
    const response = await api(`/v1/collections/${segment(collection)}/documents`, { method: "POST", body: form });
    input.value = "";
    await followJob(await response.json());
    if (collection === current()) await loadCollections();
  } catch (err) {
    $("job").dataset.status = "error";
    setStatus(status, err instanceof ApiError ? `Upload failed: ${describeError(err)}` : String(err.message || err), "error");
  } finally {
    $("upload-button").disabled = false;
  }
});

// ---------------------------------------------------------------- documents

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function renderDocuments(data, note = "") {
  const list = $("documents");
  const status = $("docs-status");
  if (!data) {
    list.replaceChildren();
    $("pager").hidden = true;
    setStatus(status, note);
    return;
  }
  const docs = Array.isArray(data.documents) ? data.documents : [];
  const summary = data.total
    ? `${plural(data.total, "document")} in “${current()}”` +
      (data.total > docs.length ? `, showing ${data.offset + 1}–${data.offset + docs.length}` : "") + "."
    : `No documents in “${current()}” yet.`;
  setStatus(status, note ? `${note} ${summary}` : summary);
  list.replaceChildren(
    ...docs.map((d) => {
      const name = d.title || d.id;
      const remove = el("button", {
        type: "button",
        class: "danger",
        text: "Delete",
        "aria-label": `Delete ${d.id}`,
      });
      remove.addEventListener("click", () => deleteDocument(d.id, remove));
      return el(
        "li",
        { "data-id": d.id },
        el(
          "div",
          { class: "doc-main" },
          el("span", { class: "doc-title", lang: langOf(name), text: name }),
          d.title && d.title !== d.id ? el("code", { class: "doc-id", text: d.id }) : null,
          el("span", {
            class: "doc-meta",
            text: `${plural(count(d.chunks), "passage")} · ${count(d.characters).toLocaleString()} characters · added ${when(d.ingested_at)}`,
          }),
        ),
        remove,
      );
    }),
  );
  $("pager").hidden = !(data.total > data.limit);
  $("prev-page").disabled = data.offset <= 0;
  $("next-page").disabled = data.offset + data.limit >= data.total;
}

async function loadDocuments(offset = 0, note = "") {
  const collection = current();
  const request = ++docsRequest;
  if (!collection) {
    renderDocuments(null, "No collection chosen.");
    return;
  }
  let data;
  try {
    const query = `offset=${Math.max(0, offset)}&limit=${DOCS_PAGE}`;
    data = await (await api(`/v1/collections/${segment(collection)}/documents?${query}`)).json();
  } catch (err) {
    if (request === docsRequest) {
      renderDocuments(null);
      setStatus($("docs-status"), describeError(err), "error");
    }
    return;
  }
  if (request !== docsRequest || collection !== current()) return;
  if (data.offset > 0 && data.offset >= data.total) {
    await loadDocuments(Math.max(0, data.total - DOCS_PAGE), note);
    return;
  }
  docsOffset = data.offset;
  renderDocuments(data, note);
}

async function deleteDocument(id, button) {
  const collection = current();
  if (!window.confirm(`Delete “${id}” from “${collection}”? It is removed from every index.`)) return;
  button.disabled = true;
  try {
    await api(`/v1/collections/${segment(collection)}/documents/${segment(id)}`, { method: "DELETE" });
  } catch (err) {
    button.disabled = false;
    setStatus($("docs-status"), `Could not delete “${id}”: ${describeError(err)}`, "error");
    return;
  }
  await loadCollections(`Deleted “${id}”.`);
  $("docs-status").focus();
}

$("prev-page").addEventListener("click", () => loadDocuments(docsOffset - DOCS_PAGE));
$("next-page").addEventListener("click", () => loadDocuments(docsOffset + DOCS_PAGE));

loadCollections();
