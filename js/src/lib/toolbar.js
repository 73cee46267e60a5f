// The mode toolbar of the widgets: one button per gesture mode plus action buttons.
//
// toolButtons() is the pure part (which buttons, with which labels); makeToolbar() builds
// them in the DOM and showMode() marks the active one. Mode names are those of gesture.js.

import { h } from "./dom.js";
import { MODES } from "./gesture.js";

/** Button label of every mode (the same word in every widget). */
export const MODE_LABELS = Object.freeze({
  pixel: "✛ pixel", rect: "▭ rect", lasso: "◌ lasso", pan: "✥ pan",
});

/** The "clear the selection" action every selecting widget offers. */
export const CLEAR_ACTION = Object.freeze({
  label: "✕ clear", title: "clear the selection (Esc)", className: "ew-clear",
});

/**
 * Button descriptions for `modes` followed by `actions`: {mode, label, title, className}
 * for a mode, {label, title, className} for an action.
 */
export function toolButtons(modes, actions = []) {
  const out = [];
  for (const mode of modes) {
    if (!MODES.includes(mode)) throw new Error(`unknown mode ${JSON.stringify(mode)}`);
    out.push({ mode, label: MODE_LABELS[mode], title: `${mode} mode`, className: "ew-tool" });
  }
  for (const a of actions) {
    out.push({ label: a.label, title: a.title, className: `ew-tool ${a.className}` });
  }
  return out;
}

/**
 * Fill `toolbar` with the buttons of toolButtons(modes, actions): a mode button sets the
 * model's `mode` and saves it; an action button calls its `onclick`.
 */
export function makeToolbar(toolbar, model, modes, actions = []) {
  const specs = toolButtons(modes, actions);
  specs.forEach((spec, i) => {
    const onclick = spec.mode
      ? () => { model.set("mode", spec.mode); model.save_changes(); }
      : actions[i - modes.length].onclick;
    const props = { type: "button", textContent: spec.label, title: spec.title,
      className: spec.className, onclick };
    if (spec.mode) props.dataset = { mode: spec.mode };
    toolbar.append(h("button", props));
  });
}

/** Mark the button of `mode` as active. */
export function showMode(toolbar, mode) {
  for (const b of toolbar.querySelectorAll("button[data-mode]")) {
    b.classList.toggle("ew-active", b.dataset.mode === mode);
  }
}
