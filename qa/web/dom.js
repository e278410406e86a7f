// Small DOM and text helpers shared by the page's modules. Every string from the
// server enters the page through textContent or text nodes, never as HTML:
// documents may hold hostile markup.

export const $ = (id) => document.getElementById(id);

/** localStorage that degrades to nothing when storage is disabled or full. */
export const saved = {
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
      // Storage may be disabled or full; the page still works for this visit.
    }
  },
  json(name, fallback) {
    try {
      const value = JSON.parse(this.get(name) || "null");
      return value === null ? fallback : value;
    } catch {
      return fallback;
    }
  },
};

/** An element with properties, attributes and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
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
export function langOf(text) {
  const cjk = (String(text).match(CJK) || []).length;
  const visible = String(text).replace(/\s+/g, "").length;
  return visible && cjk / visible >= 0.1 ? "zh" : "en";
}

export function langTag(language, fallbackText) {
  if (typeof language === "string" && /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/.test(language)) return language;
  return langOf(fallbackText || "");
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export const count = (x) => (Array.isArray(x) ? x.length : Number(x) || 0);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** A name or id as one URL path segment, '/' included: an id such as "../../x" left in
 * segments would be resolved by the browser into another resource's URL. */
export const segment = (s) => encodeURIComponent(s);

const STATUS_KINDS = ["ok", "warn", "notfound", "error"];

export function setStatus(node, message, kind = "") {
  node.textContent = message;
  node.classList.add("status");
  node.classList.remove(...STATUS_KINDS);
  if (kind) node.classList.add(kind);
}

export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}
