import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DRAG_MIN_PX, Gesture, MODES, escapeAction, gestureKind, selectionRegion,
} from "../src/lib/gesture.js";

test("one set of mode names; shift/alt pick rect/lasso only where modifiers apply", () => {
  assert.deepEqual([...MODES], ["pixel", "rect", "lasso", "pan"]);
  assert.equal(gestureKind("pixel", {}, true), "pixel");
  assert.equal(gestureKind("pixel", { shiftKey: true }, true), "rect");
  assert.equal(gestureKind("pixel", { altKey: true }, true), "lasso");
  assert.equal(gestureKind("pixel", { shiftKey: true, altKey: true }, true), "rect");
  assert.equal(gestureKind("pan", { shiftKey: true }), "pan");   // scatter: modifiers unused
  assert.throws(() => new Gesture("brush", 0, 0, [0, 0]), /unknown gesture kind/);
});

test("a press that moves less than DRAG_MIN_PX is a click at its last position", () => {
  const g = new Gesture("rect", 100, 100, [1, 2]);
  assert.equal(g.move(100 + DRAG_MIN_PX - 1, 100, [1.5, 2]), false);
  assert.equal(g.outline(), null);
  assert.deepEqual(g.result(), { kind: "click", at: [1.5, 2] });
  // once moved it stays a drag, even back at the start
  assert.equal(g.move(100, 100 + DRAG_MIN_PX, [1, 3]), true);
  assert.equal(g.move(100, 100, [1, 2]), true);
  assert.deepEqual(g.result(), { kind: "rect", start: [1, 2], end: [1, 2], add: false });
});

test("rectangle: corners from press and last move; the add flag travels", () => {
  const g = new Gesture("rect", 0, 0, [5, 6], true);
  g.move(10, 0, [7, 8]);
  g.move(20, 5, [9, 1]);
  assert.deepEqual(g.outline(), { kind: "rect", start: [5, 6], end: [9, 1] });
  assert.deepEqual(g.result(), { kind: "rect", start: [5, 6], end: [9, 1], add: true });
  assert.deepEqual(selectionRegion(g.result()), { kind: "rect", x0: 5, x1: 9, y0: 1, y1: 6 });
});

test("lasso: the path holds the press and every move, in order", () => {
  const g = new Gesture("lasso", 0, 0, [0, 0]);
  for (const [i, p] of [[1, 0], [1, 1], [0, 1]].entries()) g.move(10 * (i + 1), 0, p);
  const r = g.result();
  assert.deepEqual([r.kind, r.xs, r.ys, r.add], ["lasso", [0, 1, 1, 0], [0, 0, 1, 1], false]);
  assert.deepEqual(selectionRegion(r), { kind: "lasso", xs: [0, 1, 1, 0], ys: [0, 0, 1, 1] });
});

test("pixel and pan drags outline nothing and select no region", () => {
  const p = new Gesture("pixel", 0, 0, [0, 0]);
  p.move(9, 9, [3, 4]);
  assert.equal(p.outline(), null);
  assert.deepEqual(p.result(), { kind: "pixel", at: [3, 4] });
  const q = new Gesture("pan", 0, 0, [0, 0]);
  q.move(9, 9, [3, 4]);
  assert.deepEqual(q.result(), { kind: "pan" });
  assert.throws(() => selectionRegion(q.result()), /selects no region/);
});

test("Escape cancels a gesture first, then clears a selection", () => {
  const g = new Gesture("rect", 0, 0, [0, 0]);
  assert.equal(escapeAction(g, 5), "cancel");
  assert.equal(escapeAction(null, 5), "clear");
  assert.equal(escapeAction(null, 0), null);
});
