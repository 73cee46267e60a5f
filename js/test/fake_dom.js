// A tiny DOM for the node tests: elements with children, text, classes and listeners.
// Writes that would parse markup are recorded in `markupWrites` (never performed).

export const markupWrites = [];

export class TextNode {
  constructor(data) { this.nodeType = 3; this.data = String(data); }
  get textContent() { return this.data; }
}

export class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.childNodes = [];
    this.style = {};
    this.dataset = {};
    this.listeners = [];
    const classes = new Set();
    this.classList = {
      toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)),
      contains: (c) => classes.has(c),
    };
  }
  append(...nodes) {
    for (const n of nodes) this.childNodes.push(typeof n === "string" ? new TextNode(n) : n);
  }
  get children() { return this.childNodes.filter((n) => n instanceof Element); }
  addEventListener(type, fn, opts) { this.listeners.push([type, fn, opts]); }
  removeEventListener(type, fn, opts) {
    this.listeners = this.listeners.filter((l) => !(l[0] === type && l[1] === fn && l[2] === opts));
  }
  /** Only the query the widgets use: `button[data-mode]`. */
  querySelectorAll(selector) {
    if (selector !== "button[data-mode]") throw new Error(`unsupported selector ${selector}`);
    return this.children.filter((c) => c.tagName === "BUTTON" && c.dataset.mode);
  }
  click() { for (const [type, fn] of this.listeners) if (type === "click") fn(); }
  get textContent() { return this.childNodes.map((n) => n.textContent).join(""); }
  set textContent(v) { this.childNodes = [new TextNode(v)]; }
  set innerHTML(v) { markupWrites.push(v); }
  set outerHTML(v) { markupWrites.push(v); }
  insertAdjacentHTML(_where, v) { markupWrites.push(v); }
}

/** Install the fake `document` (createElement only). */
export function installFakeDocument() {
  globalThis.document = { createElement: (tag) => new Element(tag) };
}
