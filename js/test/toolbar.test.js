import { test } from "node:test";
import assert from "node:assert/strict";
import { listen } from "../src/lib/dom.js";
import { Element, installFakeDocument } from "./fake_dom.js";
import { makeColorbar } from "../src/lib/colorbar.js";
import { CLEAR_ACTION, MODE_LABELS, makeToolbar, showMode, toolButtons } from "../src/lib/toolbar.js";

installFakeDocument();

function fakeModel() {
  const saved = [];
  const state = {};
  return { saved, state, set: (k, v) => { state[k] = v; }, save_changes: () => saved.push({ ...state }) };
}

test("toolButtons: one label per mode name, then the actions; unknown modes refused", () => {
  const specs = toolButtons(["rect", "lasso", "pan"], [CLEAR_ACTION]);
  assert.deepEqual(specs.map((s) => s.label), [MODE_LABELS.rect, MODE_LABELS.lasso, MODE_LABELS.pan, "✕ clear"]);
  assert.deepEqual(specs.map((s) => s.mode), ["rect", "lasso", "pan", undefined]);
  assert.equal(specs[3].className, "ew-tool ew-clear");
  assert.throws(() => toolButtons(["brush"]), /unknown mode/);
});

test("makeToolbar: a mode button sets and saves the mode, an action button calls its handler", () => {
  const bar = new Element("div");
  const model = fakeModel();
  let cleared = 0;
  makeToolbar(bar, model, ["pixel", "rect", "lasso"], [{ ...CLEAR_ACTION, onclick: () => cleared++ }]);
  assert.deepEqual(bar.children.map((b) => b.dataset.mode), ["pixel", "rect", "lasso", undefined]);
  bar.children[1].click();
  assert.deepEqual(model.saved, [{ mode: "rect" }]);
  bar.children[3].click();
  assert.equal(cleared, 1);
  showMode(bar, "lasso");
  assert.deepEqual(bar.children.slice(0, 3).map((b) => b.classList.contains("ew-active")), [false, false, true]);
});

test("colour bar shows the limits as text, or hides", () => {
  const { footer, show } = makeColorbar();
  show(true, "viridis", [0.5, 1200]);
  const [lo, bar, hi] = footer.children;
  assert.deepEqual([lo.textContent, hi.textContent, footer.style.display], ["0.5", "1200", ""]);
  assert.match(bar.style.background, /^linear-gradient/);
  show(false, "viridis", [0, 1]);
  assert.equal(footer.style.display, "none");
});

test("listen adds every handler (with options) and its remover takes them all off", () => {
  const el = new Element("canvas");
  const a = () => {}, b = () => {};
  const off = listen(el, { pointerdown: a, wheel: [b, { passive: false }] });
  assert.deepEqual(el.listeners.map((l) => l[0]), ["pointerdown", "wheel"]);
  assert.deepEqual(el.listeners[1][2], { passive: false });
  off();
  assert.deepEqual(el.listeners, []);
});
