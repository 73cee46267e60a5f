// Drag gestures of the widgets as a state machine (pure logic, no DOM).
//
// A press starts a Gesture of one kind; pointer moves feed it; the release asks it for its
// result. The same names serve every widget (the `mode` traits synced with Python):
//   "pixel"  move the current pixel (ImageView)
//   "rect"   select a rectangle
//   "lasso"  select a free-hand polygon
//   "pan"    move the view (LatentScatter)
// Points are pairs [a, b] in the widget's own coordinates (continuous pixel coordinates
// [x, y] for an image, data coordinates [x, y] for a scatter); the gesture only stores them.

/** A press that moves less than this many CSS pixels is a click. */
export const DRAG_MIN_PX = 3;

/** Gesture kinds, which are also the values of the widgets' `mode` traits. */
export const MODES = Object.freeze(["pixel", "rect", "lasso", "pan"]);

/**
 * Kind of the gesture a press starts: the widget's mode, except that with `modifiers` a
 * shift-press draws a rectangle and an alt-press a lasso (ImageView in any mode).
 */
export function gestureKind(mode, { shiftKey = false, altKey = false } = {}, modifiers = false) {
  if (modifiers && shiftKey) return "rect";
  if (modifiers && altKey) return "lasso";
  return mode;
}

/** One drag from press to release. */
export class Gesture {
  /**
   * @param {string} kind one of MODES
   * @param {number} clientX, clientY  press position in CSS pixels (for the click threshold)
   * @param {number[]} at  press position in the widget's coordinates
   * @param {boolean} add  add to the selection (ctrl/cmd held) instead of replacing it
   */
  constructor(kind, clientX, clientY, at, add = false) {
    if (!MODES.includes(kind)) throw new Error(`unknown gesture kind ${JSON.stringify(kind)}`);
    this.kind = kind;
    this.add = !!add;
    this.moved = false;
    this.client = [clientX, clientY];
    this.start = at;
    this.end = at;
    this.xs = kind === "lasso" ? [at[0]] : [];
    this.ys = kind === "lasso" ? [at[1]] : [];
  }

  /** Feed a pointer move; returns whether the gesture counts as a drag (not a click) now. */
  move(clientX, clientY, at) {
    const dist = Math.hypot(clientX - this.client[0], clientY - this.client[1]);
    if (dist >= DRAG_MIN_PX) this.moved = true;
    this.end = at;
    if (this.kind === "lasso") {
      this.xs.push(at[0]);
      this.ys.push(at[1]);
    }
    return this.moved;
  }

  /** What a drawn gesture outlines: a rectangle's two corners, a lasso's path, or null. */
  outline() {
    if (!this.moved) return null;
    if (this.kind === "rect") return { kind: "rect", start: this.start, end: this.end };
    if (this.kind === "lasso") return { kind: "lasso", xs: this.xs, ys: this.ys };
    return null;
  }

  /**
   * What the release does: {kind: "click", at} for a press that did not move; {kind: "pixel",
   * at} and {kind: "pan"} for those drags; {kind: "rect", start, end} or {kind: "lasso", xs,
   * ys} for a selection (with `add`).
   */
  result() {
    if (!this.moved) return { kind: "click", at: this.end };
    if (this.kind === "pixel") return { kind: "pixel", at: this.end };
    if (this.kind === "pan") return { kind: "pan" };
    return { ...this.outline(), add: this.add };
  }
}

/**
 * What Escape does: "cancel" a gesture in progress, else "clear" a non-empty selection,
 * else nothing (null).
 */
export function escapeAction(gesture, selectionSize) {
  if (gesture) return "cancel";
  return selectionSize > 0 ? "clear" : null;
}

/**
 * The `selection_region` a rectangle or lasso result describes (data coordinates), as
 * Python's LatentScatter.check_region accepts it: a rectangle with ordered bounds or a lasso
 * with its vertices.
 */
export function selectionRegion(result) {
  if (result.kind === "rect") {
    const [xa, ya] = result.start, [xb, yb] = result.end;
    return {
      kind: "rect",
      x0: Math.min(xa, xb), x1: Math.max(xa, xb), y0: Math.min(ya, yb), y1: Math.max(ya, yb),
    };
  }
  if (result.kind === "lasso") return { kind: "lasso", xs: result.xs, ys: result.ys };
  throw new Error(`a ${result.kind} gesture selects no region`);
}
