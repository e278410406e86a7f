// The picture of a scanned page under a cited passage, with the passage's lines marked
// where OCR read them and the quote's lines marked more strongly: a reader checks the
// citation against the scan itself, not only against the text read from it.

import { api, describeError } from "./api.js";
import { $, el, segment, setStatus } from "./dom.js";

let showing = 0; // only the latest picture request is shown
let objectUrl = null;

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

function release() {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = null;
}

export function clearPage() {
  showing += 1;
  release();
  $("page-frame").replaceChildren();
  $("passage-page").hidden = true;
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

/** The page of citation c that holds its quote (else its first pictured page), from
 * collection, with the lines marked; nothing when no page of it was scanned. */
export async function showPage(collection, c) {
  clearPage();
  const pictured = (Array.isArray(c.regions) ? c.regions : []).filter((r) => valid(r) && r.image === true);
  if (!collection || !c.document || pictured.length === 0) return;
  const page = (pictured.find((r) => r.quote) || pictured[0]).page;
  const lines = pictured.filter((r) => r.page === page);
  const request = showing;
  const figure = $("passage-page");
  const caption = $("page-caption");
  figure.hidden = false;
  setStatus(caption, `Loading page ${page} as scanned…`);
  let blob;
  try {
    const path = `/v1/collections/${segment(collection)}/documents/${segment(c.document)}/pages/${segment(page)}/image`;
    blob = await (await api(path)).blob();
  } catch (err) {
    if (request === showing) setStatus(caption, describeError(err), "error");
    return;
  }
  if (request !== showing) return;
  objectUrl = URL.createObjectURL(blob);
  const image = el("img", { src: objectUrl, alt: `Page ${page} of ${c.document}, as scanned` });
  $("page-frame").replaceChildren(image, ...lines.map(mark));
  const quoted = lines.some((r) => r.quote);
  setStatus(
    caption,
    `Page ${page} as scanned: the passage's lines are outlined` + (quoted ? "; the quote's are filled." : "."),
  );
}
