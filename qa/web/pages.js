// The picture of a scanned page with a cited passage's lines marked where OCR read them
// and the quote's lines marked more strongly: a reader checks the citation against the
// scan itself, not only against the text read from it. Shown under the passage in the
// side panel and above the text in the document viewer.

import { api, describeError } from "./api.js";
import { $, el, segment, setStatus } from "./dom.js";

const inUnit = (v) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 1;

function valid(region) {
  return (
    region &&
    typeof region.page === "string" &&
    Array.isArray(region.box) &&
    region.box.length === 4 &&
    region.box.every(inUnit) &&
    region.box[0] < region.box[2] &&
    region.box[1] < region.box[3]
  );
}

function mark(region) {
  const [x0, y0, x1, y1] = region.box;
  const node = el("div", { class: region.quote ? "region quote" : "region", "aria-hidden": "true" });
  // Set through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  Object.assign(node.style, {
    left: `${x0 * 100}%`,
    top: `${y0 * 100}%`,
    width: `${(x1 - x0) * 100}%`,
    height: `${(y1 - y0) * 100}%`,
  });
  return node;
}

/** One place a page picture is shown: a figure holding a frame and a caption. */
class PageFigure {
  constructor(figure, frame, caption) {
    Object.assign(this, { figure, frame, caption });
    this.showing = 0; // only the latest picture request is shown
    this.objectUrl = null;
  }

  clear() {
    this.showing += 1;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
    $(this.frame).replaceChildren();
    $(this.figure).hidden = true;
  }

  /** The page of citation c that holds its quote (else its first pictured page), from
   * collection, with the lines marked; nothing when no page of it was scanned. */
  async show(collection, c) {
    this.clear();
    const pictured = (Array.isArray(c.regions) ? c.regions : []).filter((r) => valid(r) && r.image === true);
    if (!collection || !c.document || pictured.length === 0) return;
    const page = (pictured.find((r) => r.quote) || pictured[0]).page;
    const lines = pictured.filter((r) => r.page === page);
    const request = this.showing;
    const caption = $(this.caption);
    $(this.figure).hidden = false;
    setStatus(caption, `Loading page ${page} as scanned…`);
    let blob;
    try {
      const path = `/v1/collections/${segment(collection)}/documents/${segment(c.document)}/pages/${segment(page)}/image`;
      blob = await (await api(path)).blob();
    } catch (err) {
      if (request === this.showing) setStatus(caption, describeError(err), "error");
      return;
    }
    if (request !== this.showing) return;
    this.objectUrl = URL.createObjectURL(blob);
    const image = el("img", { src: this.objectUrl, alt: `Page ${page} of ${c.document}, as scanned` });
    $(this.frame).replaceChildren(image, ...lines.map(mark));
    const quoted = lines.some((r) => r.quote);
    setStatus(
      caption,
      `Page ${page} as scanned: the passage's lines are outlined` + (quoted ? "; the quote's are filled." : "."),
    );
  }
}

export const passagePage = new PageFigure("passage-page", "page-frame", "page-caption");
export const viewerPage = new PageFigure("viewer-page", "viewer-page-frame", "viewer-page-caption");
