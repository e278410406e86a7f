// The conversation: a thread of questions and answers. When the server keeps
// conversations, each question carries the conversation's id (the server holds its
// turns and stores the new one); else it carries the earlier turns as `history`. The
// answer streams in, then the grounded answer replaces the draft and its sources fill
// the side panel.

import { api, ApiError, describeError, sseEvents } from "./api.js";
import { currentId, detect } from "./conversations.js";
import { $, el, langOf, langTag, plural, setStatus, when } from "./dom.js";
import { choose, current } from "./manage.js";
import { citeButton, clearSources, showSources } from "./sources.js";

/** Below this an answer is shown, but marked as one to check against its sources: the
 * service already refuses answers under its calibrated threshold, and the band just
 * above it is where most of the wrong answers it lets through lie. */
const LOW_CONFIDENCE = 0.6;
/** Earlier turns sent with a question: the server reads only its last few anyway. */
const HISTORY_TURNS = 6;
const HISTORY_TURN_CHARS = 4000;

let store = null; // where conversations are kept, once known (conversations.js)
let detecting = null; // the detection in flight, shared by whoever needs the answer first
let conversation = { id: null, collection: null, turns: [] };
let asking = null; // the AbortController of the question being answered

// ---------------------------------------------------------------- turns

function turnNode(turn) {
  const answer = el("div", { class: "answer", "aria-live": "polite", "aria-busy": "false" });
  const box = el(
    "div",
    { class: "answer-box", "data-state": "idle" },
    answer,
    el("p", { class: "error-box ask-error", role: "alert", hidden: true }),
    el("p", { class: "status answer-status", role: "status" }),
    el("p", { class: "help standalone", hidden: true }),
  );
  const node = el(
    "li",
    { class: "turn" },
    el(
      "div",
      { class: "user-message" },
      el("span", { class: "visually-hidden", text: "You asked: " }),
      el("p", { class: "question-text", lang: langOf(turn.question), text: turn.question }),
    ),
    box,
  );
  turn.node = node;
  turn.box = box;
  turn.answerNode = answer;
  return node;
}

const part = (turn, cls) => turn.box.querySelector(`.${cls}`);

function setState(turn, state) {
  turn.box.dataset.state = state;
  turn.node.dataset.state = state;
}

function showError(turn, err) {
  setState(turn, "error");
  setStatus(part(turn, "answer-status"), "");
  turn.answerNode.className = "answer";
  const box = part(turn, "ask-error");
  box.textContent = describeError(err);
  box.hidden = false;
}

/** The answer text with each [n] that names a citation turned into a button. */
function answerNodes(turn, text, byNumber) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const c = byNumber.get(Number(match[1]));
    if (!c) continue;
    nodes.push(text.slice(last, match.index));
    nodes.push(citeButton(turn, c, `[${c.n}]`, "cite-ref"));
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes.filter((n) => n !== "");
}

function confidenceNote(confidence) {
  return typeof confidence === "number" ? ` Confidence ${Math.round(confidence * 100)}%.` : "";
}

function label(cls, text) {
  return el("strong", { class: cls, lang: "en", text });
}

function showAnswer(turn, a) {
  turn.answer = a;
  const found = a.found === true;
  const clarification = a.clarification === true;
  const low = found && !clarification && typeof a.confidence === "number" && a.confidence < LOW_CONFIDENCE;
  const citations = Array.isArray(a.citations) ? a.citations : [];
  const byNumber = new Map(citations.map((c) => [Number(c.n), c]));
  const text = typeof a.answer === "string" ? a.answer : "";
  const answer = turn.answerNode;
  const status = part(turn, "answer-status");
  answer.setAttribute("lang", langTag(a.language, text));
  if (clarification) {
    setState(turn, "clarification");
    answer.className = "answer clarification";
    answer.replaceChildren(label("clarification-label", "Question back:"), " ", text);
    setStatus(status, "The question needs more to go on: answer the question back, or ask again with more detail.", "warn");
  } else if (found && low) {
    setState(turn, "low-confidence");
    answer.className = "answer lowconfidence";
    answer.replaceChildren(label("lowconfidence-label", "Low confidence:"), " ", ...answerNodes(turn, text, byNumber));
    setStatus(status, `Low confidence: check the ${plural(citations.length, "source")} before relying on this answer.${confidenceNote(a.confidence)}`, "warn");
  } else if (found) {
    setState(turn, "answered");
    answer.className = "answer";
    answer.replaceChildren(...answerNodes(turn, text, byNumber));
    setStatus(status, `Answered from ${plural(citations.length, "source")}. Choose a source to read its passage.${confidenceNote(a.confidence)}`, "ok");
  } else {
    setState(turn, "not-found");
    answer.className = "answer notfound";
    answer.replaceChildren(label("notfound-label", "Not found in the documents."), " ", text);
    setStatus(status, "The documents do not answer this question; nothing was guessed.", "notfound");
  }
  const searched = part(turn, "standalone");
  const standalone = typeof a.standalone_question === "string" ? a.standalone_question.trim() : "";
  searched.hidden = !standalone || standalone === turn.question.trim();
  searched.textContent = searched.hidden ? "" : `Searched for: ${standalone}`;
  if (citations.length) {
    const open = el("button", { type: "button", class: "secondary show-sources", text: `Sources (${citations.length})`, "aria-controls": "panel" });
    open.addEventListener("click", () => {
      showSources(turn);
      $("panel-heading").focus({ preventScroll: true });
      $("panel").scrollIntoView({ block: "nearest" });
    });
    turn.box.append(el("div", { class: "buttons answer-tools" }, open));
  }
  showSources(turn);
}

/** The earlier answered turns as {role, content} messages, oldest first. */
function historyOf(turns) {
  const cut = (text) => String(text).slice(0, HISTORY_TURN_CHARS);
  return turns
    .filter((t) => t.answer && typeof t.answer.answer === "string")
    .slice(-HISTORY_TURNS)
    .flatMap((t) => [
      { role: "user", content: cut(t.question) },
      { role: "assistant", content: cut(t.answer.answer) },
    ]);
}

// ---------------------------------------------------------------- asking

function busy(on) {
  $("ask-button").disabled = on;
  $("stop-button").hidden = !on;
}

/** The id the server keeps this conversation under, made on its first question. */
/** Where conversations are kept. A question asked while the page is still finding out
 * waits for the answer rather than going unsaved. */
async function knownStore() {
  if (!store) {
    detecting ??= detect().finally(() => {
      detecting = null;
    });
    store = await detecting;
  }
  return store;
}

async function conversationId(collection) {
  if (conversation.id || !(await knownStore())) return conversation.id;
  try {
    conversation.id = await store.create(collection);
  } catch (err) {
    // Without a stored conversation the question still goes with its history.
    setStatus($("conversations-status"), `This conversation is not saved: ${describeError(err)}`, "warn");
    return null;
  }
  conversation.collection = collection;
  currentId.set(store.mode, conversation.id);
  return conversation.id;
}

async function ask(question) {
  const collection = current();
  const turn = { question, collection, answer: null };
  if (conversation.turns.length && conversation.collection !== collection) newConversation();
  const history = historyOf(conversation.turns);
  conversation.collection = collection;
  conversation.turns.push(turn);
  $("thread").append(turnNode(turn));
  $("thread-empty").hidden = true;
  turn.node.scrollIntoView({ block: "end" });
  if (!collection) {
    showError(turn, new Error("choose or create a collection first"));
    return;
  }
  if (asking) asking.abort();
  const controller = new AbortController();
  asking = controller;
  setState(turn, "streaming");
  turn.answerNode.className = "answer draft";
  turn.answerNode.setAttribute("lang", langOf(question));
  turn.answerNode.setAttribute("aria-busy", "true");
  setStatus(part(turn, "answer-status"), "Searching the documents…");
  busy(true);
  let draft = null;
  let settled = false;
  try {
    const id = await conversationId(collection);
    const body = { question, collection, stream: true };
    // A stored conversation is its own history: the server refuses both at once.
    if (id && store.mode === "server") body.conversation_id = id;
    else if (history.length) body.history = history;
    const response = await api("/v1/ask", { method: "POST", json: body, signal: controller.signal });
    if (!(response.headers.get("content-type") || "").includes("text/event-stream")) {
      showAnswer(turn, await response.json());
      settled = true;
    } else {
      for await (const { event, data } of sseEvents(response.body)) {
        if (event === "token") {
          if (!draft) {
            draft = document.createTextNode("");
            turn.answerNode.replaceChildren(draft);
            setStatus(part(turn, "answer-status"), "Writing… (the answer is checked against the passages when it is done)");
          }
          draft.appendData(typeof data.text === "string" ? data.text : "");
        } else if (event === "answer") {
          showAnswer(turn, data);
          settled = true;
        } else if (event === "error") {
          showError(turn, new ApiError(data.status || 500, data.title || "Error", data.detail || ""));
          settled = true;
        }
      }
    }
    if (!settled) showError(turn, new Error("the answer stream ended before the answer arrived"));
  } catch (err) {
    if (err && err.name === "AbortError") {
      setState(turn, "stopped");
      setStatus(part(turn, "answer-status"), "Stopped.");
    } else {
      showError(turn, err);
    }
  } finally {
    turn.answerNode.setAttribute("aria-busy", "false");
    if (asking === controller) {
      asking = null;
      busy(false);
    }
  }
  if (turn.answer && store && conversation.id && conversation.turns.includes(turn)) {
    await store.saveTurn(conversation.id, question, turn.answer);
    await refreshList();
  }
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  ask(question);
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

// ---------------------------------------------------------------- conversations

function newConversation() {
  if (asking) asking.abort();
  conversation = { id: null, collection: current(), turns: [] };
  if (store) currentId.set(store.mode, null);
  $("thread").replaceChildren();
  $("thread-empty").hidden = false;
  clearSources();
  markCurrent();
}

function markCurrent() {
  for (const button of document.querySelectorAll("#conversation-list .conversation-open")) {
    if (button.dataset.id === conversation.id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function render(loaded) {
  conversation = { id: loaded.id, collection: loaded.collection, turns: [] };
  $("thread").replaceChildren();
  clearSources();
  choose(loaded.collection);
  for (const { question, answer } of loaded.turns) {
    const turn = { question, collection: loaded.collection, answer: null };
    conversation.turns.push(turn);
    $("thread").append(turnNode(turn));
    if (answer) showAnswer(turn, answer);
    else showError(turn, new Error("this question has no answer saved"));
  }
  $("thread-empty").hidden = conversation.turns.length > 0;
  markCurrent();
}

async function resume(id) {
  if (asking) asking.abort();
  let loaded;
  try {
    loaded = await store.load(id);
  } catch (err) {
    setStatus($("conversations-status"), `Could not open the conversation: ${describeError(err)}`, "error");
    return false;
  }
  if (!loaded) {
    currentId.set(store.mode, null);
    setStatus($("conversations-status"), "That conversation no longer exists.", "warn");
    await refreshList();
    return false;
  }
  currentId.set(store.mode, id);
  render(loaded);
  const last = conversation.turns[conversation.turns.length - 1];
  if (last) last.node.scrollIntoView({ block: "end" });
  return true;
}

async function remove(summary) {
  const title = summary.title || "Untitled conversation";
  if (!window.confirm(`Delete the conversation “${title}”?`)) return;
  try {
    await store.remove(summary.id);
  } catch (err) {
    setStatus($("conversations-status"), `Could not delete it: ${describeError(err)}`, "error");
    return;
  }
  if (conversation.id === summary.id) newConversation();
  await refreshList();
  setStatus($("conversations-status"), `Deleted “${title}”.`);
  $("new-conversation").focus();
}

async function refreshList() {
  if (!store) return;
  let items;
  try {
    items = await store.list();
  } catch (err) {
    setStatus($("conversations-status"), describeError(err), "error");
    return;
  }
  const where = store.mode === "server" ? "on the server" : "in this browser";
  $("conversation-list").replaceChildren(
    ...items
      .filter((c) => c.message_count !== 0 || c.id === conversation.id)
      .map((c) => {
        const title = c.title || "New conversation";
        const open = el(
          "button",
          { type: "button", class: "conversation-open", "data-id": c.id },
          el("span", { class: "conversation-title", lang: langOf(title), text: title }),
          el("span", { class: "conversation-meta", text: `${c.collection} · ${when(c.updated_at)}` }),
        );
        open.addEventListener("click", () => resume(c.id));
        const drop = el("button", { type: "button", class: "danger conversation-delete", text: "Delete", "aria-label": `Delete conversation ${title}` });
        drop.addEventListener("click", () => remove(c));
        return el("li", {}, open, drop);
      }),
  );
  setStatus($("conversations-status"), items.length ? `Kept ${where}.` : `None yet; they are kept ${where}.`);
  markCurrent();
}

$("new-conversation").addEventListener("click", () => {
  newConversation();
  $("question").focus();
});

/** Once the server can be asked: where conversations live, and the one to resume. */
export async function startConversations() {
  if (!(await knownStore())) return;
  const id = currentId.get(store.mode);
  if (id && !conversation.turns.length) await resume(id);
  await refreshList();
}

/** A conversation belongs to its collection: choosing another starts a new one. */
export function collectionChanged(collection) {
  if (conversation.turns.length && conversation.collection !== collection) newConversation();
  conversation.collection = collection;
}
