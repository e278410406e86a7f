// A small, safe Markdown subset for passages and documents: headings, paragraphs
// (single line breaks kept: legal clauses and table rows are one a line), bullet and
// numbered lists, fenced and inline code, bold and italic. Everything else stays
// text. Nodes are built with createElement and text nodes from slices of the source,
// never innerHTML, so hostile text stays inert; because every text node is a slice,
// a highlighted source range [start, end) becomes <mark> elements around exactly
// the rendered characters of that range, whatever syntax surrounds them.

const FENCE = /^ {0,3}(```+|~~~+)/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$/d;
const ITEM = /^[ \t]{0,8}([-*+]|\d{1,9}[.)])[ \t]+(?=\S)/;
const INLINE = new RegExp(
  [
    "`([^`\\n]+)`",
    "\\*\\*(?=\\S)([\\s\\S]+?)(?<=\\S)\\*\\*",
    "(?<![\\p{L}\\p{N}_])__(?=\\S)([\\s\\S]+?)(?<=\\S)__(?![\\p{L}\\p{N}_])",
    "\\*(?=[^\\s*])([\\s\\S]+?)(?<=[^\\s*])\\*",
    "(?<![\\p{L}\\p{N}_])_(?=[^\\s_])([\\s\\S]+?)(?<=[^\\s_])_(?![\\p{L}\\p{N}_])",
  ].join("|"),
  "dgu",
);
const INLINE_TAGS = [null, "code", "strong", "strong", "em", "em"];

/** The lines of src with their offsets: [{start, end}] with end before the line feed. */
function lines(src) {
  const out = [];
  let start = 0;
  for (;;) {
    const end = src.indexOf("\n", start);
    out.push({ start, end: end < 0 ? src.length : end });
    if (end < 0) return out;
    start = end + 1;
  }
}

class Renderer {
  constructor(src, highlight, region = null) {
    this.src = src;
    this.highlight = highlight;
    this.region = region;
    this.marks = [];
    this.inRegion = [];
  }

  /** A block node for src[start, end), marked when it overlaps the region. */
  block(root, node, start, end) {
    const r = this.region;
    if (r && start < r[1] && end > r[0]) {
      node.classList.add("in-passage");
      this.inRegion.push(node);
    }
    root.append(node);
    return node;
  }

  /** src[start, end) as text nodes, the highlighted part of it inside <mark>. */
  text(parent, start, end) {
    if (end <= start) return;
    const h = this.highlight;
    const from = h ? Math.max(start, h[0]) : end;
    const to = h ? Math.min(end, h[1]) : end;
    if (from >= to) {
      parent.append(this.src.slice(start, end));
      return;
    }
    if (from > start) parent.append(this.src.slice(start, from));
    const mark = document.createElement("mark");
    mark.textContent = this.src.slice(from, to);
    this.marks.push(mark);
    parent.append(mark);
    if (to < end) parent.append(this.src.slice(to, end));
  }

  /** Code spans, bold and italic inside src[start, end). */
  inline(parent, start, end) {
    let at = start;
    for (const match of this.src.slice(start, end).matchAll(INLINE)) {
      const group = match.findIndex((value, i) => i > 0 && value !== undefined);
      const [innerStart, innerEnd] = match.indices[group];
      this.text(parent, at, start + match.index);
      const node = document.createElement(INLINE_TAGS[group]);
      if (group === 1) this.text(node, start + innerStart, start + innerEnd);
      else this.inline(node, start + innerStart, start + innerEnd);
      parent.append(node);
      at = start + match.index + match[0].length;
    }
    this.text(parent, at, end);
  }

  /** The block structure of the whole source. */
  blocks(root) {
    const all = lines(this.src);
    let paragraph = null;
    let list = null;
    let item = null;
    const close = () => {
      for (const open of [paragraph, item]) {
        if (!open) continue;
        this.inline(open.node, open.start, open.end);
        this.block(open.parent, open.node, open.start, open.end);
      }
      paragraph = null;
      item = null;
    };
    for (let i = 0; i < all.length; i += 1) {
      const { start, end } = all[i];
      const line = this.src.slice(start, end);
      const fence = FENCE.exec(line);
      if (fence) {
        close();
        list = null;
        let j = i + 1;
        while (j < all.length && !this.src.slice(all[j].start, all[j].end).trimStart().startsWith(fence[1])) j += 1;
        const code = document.createElement("code");
        if (j > i + 1) this.text(code, all[i + 1].start, all[j - 1].end);
        const pre = document.createElement("pre");
        pre.append(code);
        this.block(root, pre, start, all[Math.min(j, all.length - 1)].end);
        i = j;
        continue;
      }
      if (!line.trim()) {
        close();
        list = null;
        continue;
      }
      const heading = HEADING.exec(line);
      if (heading) {
        close();
        list = null;
        const node = document.createElement("div");
        const level = heading[1].length;
        node.className = `md-h md-h${level}`;
        node.setAttribute("role", "heading");
        node.setAttribute("aria-level", String(Math.min(6, 3 + level)));
        this.inline(node, start + heading.indices[2][0], start + heading.indices[2][1]);
        this.block(root, node, start, end);
        continue;
      }
      const bullet = ITEM.exec(line);
      if (bullet) {
        close();
        const ordered = /\d/.test(bullet[1]);
        if (!list || list.ordered !== ordered) {
          list = { ordered, node: document.createElement(ordered ? "ol" : "ul") };
          if (ordered) list.node.start = Number.parseInt(bullet[1], 10);
          root.append(list.node);
        }
        item = { node: document.createElement("li"), parent: list.node, start: start + bullet[0].length, end };
        continue;
      }
      if (item) {
        item.end = end; // a continuation line of the item
        continue;
      }
      if (!paragraph) {
        list = null;
        paragraph = { node: document.createElement("p"), parent: root, start, end };
      } else {
        paragraph.end = end;
      }
    }
    close();
  }
}

/** src rendered as blocks into a fragment, with the <mark>s of the highlighted range
 * and the blocks that overlap the region (the cited passage inside its document). */
export function renderMarkdown(src, highlight = null, region = null) {
  const renderer = new Renderer(String(src), highlight, region);
  const fragment = document.createDocumentFragment();
  renderer.blocks(fragment);
  return { fragment, marks: renderer.marks, inRegion: renderer.inRegion };
}

/** One line of src with its inline syntax rendered (for quotes shown on their own). */
export function renderInline(src) {
  const renderer = new Renderer(String(src), null);
  const fragment = document.createDocumentFragment();
  renderer.inline(fragment, 0, renderer.src.length);
  return fragment;
}
