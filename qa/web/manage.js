// The "Documents & settings" view and the collection picker: the API key, creating
// collections, uploading files and following their ingestion job, and the paged list
// of a collection's documents with deletion.

import { api, ApiError, describeError, hideNotice, KEY_STORE, showNotice } from "./api.js";
import { $, count, el, langOf, plural, saved, segment, setStatus, sleep, when } from "./dom.js";

const COLLECTION_STORE = "qa.collection";
const DOCS_PAGE = 50;
const POLL_MS = 500;

let docsOffset = 0;
let docsRequest = 0; // only the latest document listing is shown
const changeListeners = [];

/** fn(collection) runs when the chosen collection changes, by the user or a reload. */
export function onCollectionChange(fn) {
  changeListeners.push(fn);
}

function changed() {
  for (const fn of changeListeners) fn(current());
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

export const current = () => $("collection").value;

/** Choose a collection (a resumed conversation's) when the list holds it. */
export function choose(name) {
  const select = $("collection");
  if (!name || select.value === name || ![...select.options].some((o) => o.value === name)) return;
  select.value = name;
  saved.set(COLLECTION_STORE, name);
  loadDocuments(0);
}

export async function loadCollections(note = "") {
  const select = $("collection");
  const before = select.value;
  let data;
  try {
    data = await (await api("/v1/collections")).json();
  } catch (err) {
    showNotice(describeError(err));
    select.replaceChildren();
    renderDocuments(null);
    if (before) changed();
    return false;
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
  if (select.value !== before) changed();
  await loadDocuments(docsOffset, note);
  return true;
}

$("collection").addEventListener("change", () => {
  saved.set(COLLECTION_STORE, current());
  loadDocuments(0);
  changed();
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
    const counted = `${p.done || 0} of ${p.total || "?"}`;
    setStatus(
      status,
      p.phase === "reading" && p.file
        ? `Reading ${p.file} by OCR: page ${counted}${share}`
        : p.phase === "embedding"
          ? `Indexing ${files}: ${counted} passages embedded${share}`
          : `Ingesting ${files}: ${counted} done${share}`,
    );
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

