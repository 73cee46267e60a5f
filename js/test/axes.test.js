import { test } from "node:test";
import assert from "node:assert/strict";
import { axisTicks, drawAxes, tickLabel } from "../src/lib/axes.js";

test("tick labels carry as many decimals as the tick step", () => {
  assert.equal(tickLabel(0, 0.5), "0");
  assert.equal(tickLabel(1.5, 0.5), "1.5");
  assert.equal(tickLabel(-2, 1), "-2");
  assert.equal(tickLabel(20, 10), "20");
  assert.equal(tickLabel(0.05, 0.05), "0.05");
  assert.equal(tickLabel(0.30000000000000004, 0.1), "0.3");
  assert.equal(tickLabel(2e5, 1e5), "2.00e+5");
});

test("axis ticks: nice values inside the span, positions from the caller's mapping", () => {
  const toPos = (v) => 100 + 10 * v;
  const ticks = axisTicks(-1.2, 3.7, 5, toPos);
  assert.deepEqual(ticks.map((t) => t.value), [-1, 0, 1, 2, 3]);
  assert.deepEqual(ticks.map((t) => t.pos), [90, 100, 110, 120, 130]);
  assert.deepEqual(ticks.map((t) => t.label), ["-1", "0", "1", "2", "3"]);
  // a reversed span (a grid drawn top-down) gives the same values
  assert.deepEqual(axisTicks(3.7, -1.2, 5, toPos).map((t) => t.value), [-1, 0, 1, 2, 3]);
});

test("drawAxes puts tick labels below and left of the box and both axis labels", () => {
  const calls = [];
  const ctx = new Proxy({}, {
    get: (_t, name) => (...args) => calls.push([name, ...args]),
    set: () => true,
  });
  const box = { left: 40, top: 5, width: 200, height: 100 };
  drawAxes(ctx, box, [{ pos: 50, label: "1" }], [{ pos: 30, label: "2" }],
    { xlabel: "z1", ylabel: "z2", bottom: 30 });
  const texts = calls.filter((c) => c[0] === "fillText").map((c) => c.slice(1));
  assert.deepEqual(texts, [["1", 90, 111], ["2", 34, 35], ["z1", 140, 135], ["z2", 0, 0]]);
  assert.deepEqual(calls.find((c) => c[0] === "strokeRect").slice(1), [39.5, 4.5, 201, 101]);
  assert.ok(calls.some((c) => c[0] === "rotate" && c[1] === -Math.PI / 2));
});
