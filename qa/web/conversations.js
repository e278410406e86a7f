// Where conversations are kept: on the server (`/v1/conversations`) when it has that
// API, else in this browser's localStorage, so a reload resumes the thread either way.
// Both give the same shapes: a summary {id, collection, title, updated_at, message_count} for the
// list, and {id, collection, turns: [{question, answer}]} for one conversation, where
// answer is the answer object of /v1/ask (citations included, for the sources panel).

import { api, ApiError } from "./api.js";
import { saved, segment } from "./dom.js";

const LOCAL_STORE = "qa.conversations";
const CURRENT_STORE = "qa.conversation";
const LOCAL_LIMIT = 50; // conversations kept in the browser, most recent first
const TITLE_CHARS = 80;

function titleOf(question) {
  const words = String(question).split(/\s+/).filter(Boolean).join(" ");
  return words.length <= TITLE_CHARS ? words : `${words.slice(0, TITLE_CHARS - 1).trimEnd()}…`;
}

/** Stored messages as turns: each user message with the assistant message after it. */
function turnsOf(messages) {
  const turns = [];
  for (const message of Array.isArray(messages) ? messages : []) {
    if (!message || typeof message.content !== "string") continue;
    if (message.role === "user") {
      turns.push({ question: message.content, answer: null });
    } else if (message.role === "assistant" && turns.length && !turns[turns.length - 1].answer) {
      const answer = { found: true, citations: [], ...message, answer: message.content };
      for (const field of ["role", "content", "created_at"]) delete answer[field];
      turns[turns.length - 1].answer = answer;
    }
  }
  return turns;
}

class LocalConversations {
  mode = "local";

  read() {
    const items = saved.json(LOCAL_STORE, []);
    return Array.isArray(items) ? items.filter((c) => c && typeof c.id === "string") : [];
  }

  write(items) {
    // Full when the browser's quota is: the oldest conversations go first.
    for (let keep = Math.min(items.length, LOCAL_LIMIT); keep >= 0; keep -= 1) {
      try {
        localStorage.setItem(LOCAL_STORE, JSON.stringify(items.slice(0, keep)));
        return;
      } catch {
        // too big: try with one conversation fewer
      }
    }
  }

  async list() {
    return this.read().map(({ turns, ...summary }) => ({ ...summary, message_count: 2 * (turns || []).length }));
  }

  async create(collection) {
    const id = `local-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const stamp = new Date().toISOString();
    this.write([{ id, collection, title: null, created_at: stamp, updated_at: stamp, turns: [] }, ...this.read()]);
    return id;
  }

  async load(id) {
    const found = this.read().find((c) => c.id === id);
    return found ? { id, collection: found.collection, turns: found.turns || [] } : null;
  }

  async remove(id) {
    this.write(this.read().filter((c) => c.id !== id));
  }

  /** The local copy is the only one: each finished turn is written at once. */
  async saveTurn(id, question, answer) {
    const items = this.read();
    const found = items.find((c) => c.id === id);
    if (!found) return;
    found.turns = [...(found.turns || []), { question, answer }];
    found.title = found.title || titleOf(question);
    found.updated_at = new Date().toISOString();
    this.write([found, ...items.filter((c) => c !== found)]);
  }
}

class ServerConversations {
  mode = "server";

  async list() {
    const data = await (await api("/v1/conversations")).json();
    return Array.isArray(data) ? data : Array.isArray(data.conversations) ? data.conversations : [];
  }

  async create(collection) {
    const data = await (await api("/v1/conversations", { method: "POST", json: { collection } })).json();
    return data.id;
  }

  async load(id) {
    let data;
    try {
      data = await (await api(`/v1/conversations/${segment(id)}`)).json();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
    return { id: data.id, collection: data.collection, turns: turnsOf(data.messages) };
  }

  async remove(id) {
    try {
      await api(`/v1/conversations/${segment(id)}`, { method: "DELETE" });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }

  /** The server stored the turn with the answer (the question carried its id). */
  async saveTurn() {}
}

/** The server's conversations when it has the API (a 404 for the list says it has
 * not); a server that cannot be asked (no key yet) is tried again on the next call. */
export async function detect() {
  try {
    await api("/v1/conversations");
    return new ServerConversations();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return new LocalConversations();
    return null;
  }
}

export const currentId = {
  get: (mode) => saved.get(`${CURRENT_STORE}.${mode}`),
  set: (mode, id) => saved.set(`${CURRENT_STORE}.${mode}`, id),
};
