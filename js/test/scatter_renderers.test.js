import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CanvasRenderer, STATE_DIM, STATE_HIDDEN, STATE_NORMAL, STATE_SELECTED, isSoftwareGL, stampOffsets,
} from "../src/lib/scatter_renderers.js";
import { packRGBA } from "../src/lib/colormaps.js";

// a canvas stand-in: enough of the 2-D context for the Canvas2D renderer
function fakeCanvas(width, height) {
  const canvas = { width, height, frame: null };
  canvas.getContext = () => ({
    createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
    putImageData: (img) => { canvas.frame = img; },
    clearRect: () => { canvas.frame = null; },
  });
  return canvas;
}

function pixel(canvas, px, py) {
  const d = canvas.frame.data, k = 4 * (py * canvas.width + px);
  return [d[k], d[k + 1], d[k + 2], d[k + 3]];
}

test("stamps: 1 px, 2x2, 3x3 squares and round larger points", () => {
  assert.deepEqual(Array.from(stampOffsets(1)), [0, 0]);
  assert.equal(stampOffsets(2).length / 2, 4);
  assert.equal(stampOffsets(3).length / 2, 9);
  const five = stampOffsets(5);
  assert.ok(five.length / 2 < 25 && five.length / 2 >= 13); // corners cut
  assert.equal(stampOffsets(0.2).length / 2, 1);
});

test("canvas renderer puts points where the view maps them, selected over dimmed", () => {
  const c = fakeCanvas(10, 10);
  const r = new CanvasRenderer(c);
  const view = { x0: 0, x1: 10, y0: 0, y1: 10 };
  // point 0 at data (2.5, 7.5) -> device (2, 2); points 1 and 2 share (5.5, 5.5) -> (5, 4)
  r.setPoints(Float32Array.from([2.5, 5.5, 5.5, NaN]), Float32Array.from([7.5, 5.5, 5.5, 1]));
  const red = packRGBA(255, 0, 0), blue = packRGBA(0, 0, 255);
  r.setColors(Uint32Array.from([red, red, blue, red]));
  r.setState(Uint8Array.from([STATE_NORMAL, STATE_SELECTED, STATE_DIM, STATE_HIDDEN]));
  r.draw(view, 1);
  assert.deepEqual(pixel(c, 2, 2), [255, 0, 0, 255]);
  // the dimmed blue point is drawn first, the selected red one on top of it
  assert.deepEqual(pixel(c, 5, 4), [255, 0, 0, 255]);
  assert.deepEqual(pixel(c, 0, 0), [0, 0, 0, 0]); // background stays transparent
  // the hidden NaN point draws nothing (it would land on (0, 9) if NaN became 0)
  let lit = 0;
  for (let i = 3; i < c.frame.data.length; i += 4) if (c.frame.data[i]) lit++;
  assert.equal(lit, 2);
  // a dimmed point alone is drawn in a washed-out colour
  r.setState(Uint8Array.from([STATE_DIM, STATE_HIDDEN, STATE_HIDDEN, STATE_HIDDEN]));
  r.draw(view, 1);
  const [R, G, B] = pixel(c, 2, 2);
  assert.ok(R === 255 && G > 150 && B > 150, `${R},${G},${B}`);
});

test("canvas renderer follows pan/zoom and clips points outside", () => {
  const c = fakeCanvas(20, 20);
  const r = new CanvasRenderer(c);
  r.setPoints(Float32Array.from([1, 100]), Float32Array.from([1, 100]));
  r.setColors(Uint32Array.from([packRGBA(1, 2, 3), packRGBA(1, 2, 3)]));
  r.setState(new Uint8Array(2));
  r.draw({ x0: 0, x1: 2, y0: 0, y1: 2 }, 3); // zoomed: (1, 1) is the centre
  assert.equal(pixel(c, 10, 10)[3], 255);
  assert.equal(pixel(c, 9, 9)[3], 255); // 3x3 stamp
  assert.equal(pixel(c, 12, 12)[3], 0);
});

test("software WebGL is recognised from the renderer string", () => {
  const gl = (name) => ({
    getExtension: () => ({ UNMASKED_RENDERER_WEBGL: 1 }),
    getParameter: () => name,
  });
  assert.ok(isSoftwareGL(gl("ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)")));
  assert.ok(isSoftwareGL(gl("llvmpipe (LLVM 15.0.6, 256 bits)")));
  assert.ok(!isSoftwareGL(gl("ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11)")));
});
