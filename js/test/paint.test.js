import { test } from "node:test";
import assert from "node:assert/strict";
import { channelRanges, paintRGB, paintSelection } from "../src/lib/paint.js";

test("selection overlay: fill inside, edge on the outline, indices outside ignored", () => {
  // 5 x 5 image, a 3 x 3 block in the middle selected plus an out-of-range index
  const sel = Int32Array.from([6, 7, 8, 11, 12, 13, 16, 17, 18, 99, -1]);
  const u32 = paintSelection(sel, 5, 5, 1, 2, new Uint32Array(25));
  const grid = Array.from(u32);
  assert.equal(grid[12], 1);                                  // the centre has 4 selected neighbours
  for (const p of [6, 7, 8, 11, 13, 16, 17, 18]) assert.equal(grid[p], 2);
  assert.equal(grid.filter((v) => v === 0).length, 16);
  // a pixel on the image border is outline even when all its in-image neighbours are selected
  const all = paintSelection(Int32Array.from([0, 1, 2, 3]), 2, 2, 1, 2, new Uint32Array(4));
  assert.deepEqual(Array.from(all), [2, 2, 2, 2]);
});

test("RGB tiles: each channel scaled over its own finite range, NaN transparent", () => {
  const values = Float32Array.from([0, 10, 5, 2, 20, 5, NaN, 15, 5]);
  const ranges = channelRanges(values);
  assert.deepEqual(ranges, [[0, 2], [10, 20], [5, 5]]);
  const out = paintRGB(values, ranges, new Uint8ClampedArray(12));
  assert.deepEqual(Array.from(out.slice(0, 8)), [0, 0, 128, 255, 255, 255, 128, 255]);
  assert.equal(out[11], 0);                                   // NaN channel: transparent
  assert.deepEqual(channelRanges(Float32Array.from([NaN, NaN, NaN])), [[0, 1], [0, 1], [0, 1]]);
});
