import { test } from "node:test";
import assert from "node:assert/strict";
import {
  COLORMAP_NAMES, colormapLut, colorize, cssGradient, isColormap, lutIndex, packRGBA,
  packedColors, parseColor, valueToRGBA, NAN_RGBA,
} from "../src/lib/colormaps.js";

test("every colormap has a 256-entry opaque RGBA table", () => {
  for (const name of COLORMAP_NAMES) {
    const lut = colormapLut(name);
    assert.equal(lut.length, 1024, name);
    for (let i = 3; i < 1024; i += 4) assert.equal(lut[i], 255);
  }
});

test("viridis ends match matplotlib (#440154 -> #fde725)", () => {
  assert.deepEqual(valueToRGBA(0, 0, 1, "viridis"), [0x44, 0x01, 0x54, 255]);
  assert.deepEqual(valueToRGBA(1, 0, 1, "viridis"), [0xfd, 0xe7, 0x25, 255]);
});

test("gray is linear and _r reverses", () => {
  assert.deepEqual(valueToRGBA(0, 0, 1, "gray"), [0, 0, 0, 255]);
  assert.deepEqual(valueToRGBA(1, 0, 1, "gray"), [255, 255, 255, 255]);
  const mid = valueToRGBA(0.5, 0, 1, "gray");
  assert.ok(Math.abs(mid[0] - 128) <= 1, String(mid));
  assert.deepEqual(valueToRGBA(0, 0, 1, "gray_r"), [255, 255, 255, 255]);
  assert.ok(isColormap("magma_r") && isColormap("RdBu") && !isColormap("nope") && !isColormap(3));
});

test("NaN and Inf are transparent; clim clips", () => {
  assert.deepEqual(valueToRGBA(NaN, 0, 1), [0, 0, 0, 0]);
  assert.equal(lutIndex(Infinity, 0, 1), -1);
  assert.equal(lutIndex(-5, 0, 1), 0);
  assert.equal(lutIndex(5, 0, 1), 255);
  assert.equal(lutIndex(0.5, 0, 1), 128);
  // lo == hi: middle of the table, no division by zero
  assert.equal(lutIndex(3, 3, 3), 128);
  // clim moves the colour: same value, different limits
  assert.notDeepEqual(valueToRGBA(0.5, 0, 1, "viridis"), valueToRGBA(0.5, 0, 10, "viridis"));
  assert.deepEqual(valueToRGBA(10, 0, 10, "viridis"), valueToRGBA(1, 0, 1, "viridis"));
});

test("colorize agrees with valueToRGBA pixel by pixel", () => {
  const vals = new Float32Array([-1, 0, 0.1, 0.25, 0.5, 0.999, 1, 2, NaN, Infinity]);
  const out = colorize(vals, 0, 1, "magma");
  assert.equal(out.length, 40);
  for (let i = 0; i < vals.length; i++) {
    assert.deepEqual(Array.from(out.slice(4 * i, 4 * i + 4)), valueToRGBA(vals[i], 0, 1, "magma"), `i=${i}`);
  }
});

test("packedColors uses the NaN colour and little-endian RGBA packing", () => {
  const p = packedColors(new Float32Array([0, NaN]), 0, 1, "gray");
  assert.equal(p[0], packRGBA(0, 0, 0, 255));
  assert.equal(p[1], packRGBA(...NAN_RGBA));
  const bytes = new Uint8Array(new Uint32Array([packRGBA(1, 2, 3, 4)]).buffer);
  assert.deepEqual(Array.from(bytes), [1, 2, 3, 4]);
});

test("unknown names fall back to viridis; helpers parse colours", () => {
  assert.deepEqual(colormapLut("no-such-map"), colormapLut("viridis"));
  assert.deepEqual(parseColor("#f00"), [255, 0, 0]);
  assert.deepEqual(parseColor("#10ff20"), [16, 255, 32]);
  assert.deepEqual(parseColor("rgba(1, 2, 3, 0.5)"), [1, 2, 3]);
  assert.deepEqual(parseColor("bogus", [9, 9, 9]), [9, 9, 9]);
  assert.match(cssGradient("gray", 2), /^linear-gradient\(to right, rgb\(0,0,0\) 0\.0%, rgb\(255,255,255\) 100\.0%\)$/);
});
