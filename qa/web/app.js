"use strict";
// Streams /v1/ask (Server-Sent Events): tokens while the model writes, then the
// grounded answer, whose citations open the passage with the quote highlighted.
const form = document.getElementById("ask-form");
const button = document.getElementById("ask-button");
const result = document.getElementById("result");
const answerEl = document.getElementById("answer");
const statusEl = document.getElementById("status");
const citationsEl = document.getElementById("citations");
const passage = document.getElementById("passage");

function showPassage(c) {
  document.getElementById("passage-title").textContent =
    `[${c.n}] ${c.document}` + (c.page !== null ? `, page ${c.page}` : "") + (c.section ? ` — ${c.section}` : "");
  const text = document.getElementById("passage-text");
  text.replaceChildren(
    document.createTextNode(c.text.slice(0, c.quote_start)),
    Object.assign(document.createElement("mark"), { textContent: c.text.slice(c.quote_start, c.quote_end) }),
    document.createTextNode(c.text.slice(c.quote_end)),
  );
  passage.hidden = false;
  passage.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function showAnswer(a) {
  answerEl.textContent = a.answer;
  answerEl.className = a.found ? "" : "notfound";
  statusEl.textContent = a.found ? `${a.citations.length} source(s)` : "Not found in the documents.";
  citationsEl.replaceChildren(...a.citations.map((c) => {
    const li = document.createElement("li");
    const b = Object.assign(document.createElement("button"), {
      className: "cite", type: "button", textContent: `[${c.n}] ${c.document}` + (c.page !== null ? ` p.${c.page}` : ""),
    });
    b.addEventListener("click", () => showPassage(c));
    li.append(b, document.createTextNode(` “${c.quote}”`));
    return li;
  }));
}

function showError(message) {
  answerEl.textContent = "";
  statusEl.textContent = message;
  statusEl.className = "status error";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  result.hidden = false;
  passage.hidden = true;
  answerEl.textContent = "";
  answerEl.className = "";
  citationsEl.replaceChildren();
  statusEl.className = "status";
  statusEl.textContent = "Thinking…";
  try {
    const response = await fetch("/v1/ask", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        question: form.question.value, collection: form.collection.value || "default", stream: true,
      }),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({ detail: response.statusText }));
      showError(problem.detail || `Error ${response.status}`);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
        if (event === "token") answerEl.textContent += data.text;
        else if (event === "answer") showAnswer(data);
        else if (event === "error") showError(data.detail);
      }
    }
  } catch (err) {
    showError(`Request failed: ${err}`);
  } finally {
    button.disabled = false;
  }
});
