// HTTP: requests with the saved API key, problem responses as ApiError, and the
// Server-Sent Events of a streamed answer read from a fetch body (EventSource
// cannot POST nor send the key).

import { $, saved } from "./dom.js";

export const KEY_STORE = "qa.apiKey";

export class ApiError extends Error {
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
export async function api(path, { method = "GET", json, body, signal } = {}) {
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

export function describeError(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err && err.message ? err.message : err}`;
  const detail = err.detail ? ` (${err.detail})` : "";
  if (err.status === 401) {
    return `The API key is missing or was not accepted${detail}. Enter a valid key under “Settings”, “API key”, or choose “Forget” there if this server needs none.`;
  }
  if (err.status === 403) return `This API key is not allowed to do that${detail}.`;
  if (err.status === 0) return "The server could not be reached. Is it running?";
  return `${err.title}: ${err.detail || "no detail given"} (HTTP ${err.status})`;
}

export function showNotice(message) {
  $("notice-text").textContent = message;
  $("notice").hidden = false;
}

export function hideNotice() {
  $("notice").hidden = true;
  $("notice-text").textContent = "";
}

/** Server-Sent Events from a fetch body: yields {event, data} with data parsed as JSON. */
export async function* sseEvents(body) {
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
