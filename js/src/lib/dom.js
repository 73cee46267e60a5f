// Small DOM helpers shared by the widget modules.

/** Epoch milliseconds with sub-ms resolution, comparable with Python's time.time() * 1000. */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

// Properties that would parse a string as markup: text from the kernel (titles, units,
// labels, status) must never reach them, so h() refuses them outright.
const MARKUP_PROPS = new Set(["innerHTML", "outerHTML", "srcdoc"]);

/**
 * Create an element: h("div", {className: "x", style: {...}, dataset: {...}}, child...).
 * String children become text nodes (never markup); `textContent` sets text.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (MARKUP_PROPS.has(k)) throw new Error(`h(): ${k} is refused, build the DOM instead`);
    if (k === "style") Object.assign(node.style, v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) {
      if (typeof v !== "function") throw new TypeError(`h(): ${k} must be a function`);
      node.addEventListener(k.slice(2), v);
    } else node[k] = v;
  }
  for (const c of children) node.append(c);  // append() makes a text node of a string
  return node;
}

const CSS = `
.ew-widget { font: 12px/1.35 var(--jp-ui-font-family, system-ui, sans-serif);
  color: var(--jp-ui-font-color1, #222); display: inline-flex; flex-direction: column;
  gap: 4px; padding: 2px; box-sizing: border-box; }
.ew-widget .ew-title { font-weight: 600; min-height: 1em; }
.ew-widget .ew-toolbar { display: flex; gap: 3px; flex-wrap: wrap; }
.ew-widget .ew-toolbar button { font: inherit; padding: 1px 7px; cursor: pointer;
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px;
  background: var(--jp-layout-color1, #fff); color: inherit; }
.ew-widget .ew-toolbar button.ew-active { background: var(--jp-brand-color1, #1976d2);
  border-color: transparent; color: #fff; }
.ew-widget .ew-stage { position: relative; }
.ew-widget canvas { display: block; touch-action: none; outline: none; }
.ew-widget .ew-footer { display: flex; align-items: center; gap: 6px; min-height: 16px; }
.ew-widget .ew-colorbar { height: 10px; width: 96px; flex: none;
  outline: 1px solid rgba(128, 128, 128, 0.5); }
.ew-widget .ew-readout { font-variant-numeric: tabular-nums; white-space: pre;
  overflow: hidden; text-overflow: ellipsis; color: var(--jp-ui-font-color2, #555);
  min-height: 1.35em; }
`;

/**
 * Set an element's text only when it changes (a same-value write still costs a layout).
 * The one way the widgets write text from the kernel into the page: as text, never markup.
 */
export function setText(el, text) {
  const s = String(text ?? "");
  if (el.textContent !== s) el.textContent = s;
}

/** Add the shared stylesheet to the document once. */
export function ensureStyle() {
  if (typeof document === "undefined" || document.getElementById("ew-widgets-style")) return;
  const style = document.createElement("style");
  style.id = "ew-widgets-style";
  style.textContent = CSS;
  document.head.appendChild(style);
}

/** Canvas sized to css width x height with a backing store scaled by devicePixelRatio. */
export function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * dpr));
  const hh = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== hh) canvas.height = hh;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  return dpr;
}

/**
 * Run `fn` once after the current synchronous work (all change events of one message),
 * however often it is requested before that.
 */
export function coalesce(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      fn();
    });
  };
}

/**
 * Call `send` at most every `interval` ms, always delivering the last call (a trailing call
 * is scheduled when calls come faster).
 */
export function throttle(send, interval = 40) {
  let last = 0;
  let timer = null;
  const fire = () => {
    timer = null;
    last = performance.now();
    send();
  };
  const call = () => {
    const wait = interval - (performance.now() - last);
    if (wait <= 0) {
      if (timer) { clearTimeout(timer); timer = null; }
      fire();
    } else if (!timer) {
      timer = setTimeout(fire, wait);
    }
  };
  call.flush = () => {
    if (timer) { clearTimeout(timer); fire(); }
  };
  call.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return call;
}

/** Position of a pointer event as fractions (fx, fy) of an element's box. */
export function eventFraction(event, element) {
  const r = element.getBoundingClientRect();
  return [(event.clientX - r.left) / r.width, (event.clientY - r.top) / r.height];
}

/**
 * Add the listeners of `handlers` ({type: handler} or {type: [handler, options]}) to
 * `target`; returns a function that removes them all.
 */
export function listen(target, handlers) {
  const entries = Object.entries(handlers).map(([type, v]) => [type, ...(Array.isArray(v) ? v : [v])]);
  for (const [type, fn, opts] of entries) target.addEventListener(type, fn, opts);
  return () => {
    for (const [type, fn, opts] of entries) target.removeEventListener(type, fn, opts);
  };
}

/** Focus `el` (for Escape) and send it every pointer event of `event`'s pointer. */
export function capturePointer(el, event) {
  el.focus({ preventScroll: true });
  el.setPointerCapture(event.pointerId);
}

/** Stop capturing `event`'s pointer on `el` (nothing when it is not captured). */
export function releasePointer(el, event) {
  if (el.hasPointerCapture(event.pointerId)) el.releasePointerCapture(event.pointerId);
}
