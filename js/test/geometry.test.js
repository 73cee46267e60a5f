import { test } from "node:test";
import assert from "node:assert/strict";
import {
  dataBounds, dataToScreen, fractionToPixel, gridToLatent, latentToGrid, nearestPoint,
  niceLength, niceTicks, panView, pixelsToPointMask, pointInPolygon, pointsInPolygon,
  pointsInRect, pointsOfPixel, pointsToPixels, polygonIndices, rectIndices, scaleBar,
  screenToData, tileAt, unionSorted, zoomView, formatNumber, displaySize, MIN_DISPLAY_SIDE,
  displayRow, windowBox,
} from "../src/lib/geometry.js";

// deterministic pseudo-random numbers
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

test("fraction of the element -> pixel, clamped at the edges", () => {
  assert.deepEqual(fractionToPixel(0, 0, 10, 20), [0, 0]);
  assert.deepEqual(fractionToPixel(0.999, 0.999, 10, 20), [9, 19]);
  assert.deepEqual(fractionToPixel(1, 1, 10, 20), [9, 19]);
  assert.deepEqual(fractionToPixel(-0.1, 1.5, 10, 20), [9, 0]);
  // 1024 pixels shown on 512 CSS px: CSS px 100.5 of 512 -> pixel 201 (full resolution)
  assert.deepEqual(fractionToPixel(100.5 / 512, 0.5, 1024, 1024), [512, 201]);
});

test("rectangle -> flat pixel indices, corners in any order, clipped", () => {
  assert.deepEqual(Array.from(rectIndices(1, 2, 2, 3, 4, 5)), [7, 8, 12, 13]);
  assert.deepEqual(Array.from(rectIndices(2, 3, 1, 2, 4, 5)), [7, 8, 12, 13]);
  assert.deepEqual(Array.from(rectIndices(-3, -3, 0, 0, 4, 5)), [0]);
  assert.equal(rectIndices(0, 0, 99, 99, 4, 5).length, 20);
});

test("point in polygon: square, concave and self-intersecting shapes", () => {
  const sq = [[0, 4, 4, 0], [0, 0, 4, 4]];
  assert.ok(pointInPolygon(2, 2, ...sq));
  assert.ok(!pointInPolygon(5, 2, ...sq));
  assert.ok(!pointInPolygon(-0.1, 2, ...sq));
  // concave "U": the notch is outside
  const U = [[0, 6, 6, 4, 4, 2, 2, 0], [0, 0, 6, 6, 2, 2, 6, 6]];
  assert.ok(pointInPolygon(1, 5, ...U));
  assert.ok(!pointInPolygon(3, 5, ...U));
  assert.ok(pointInPolygon(3, 1, ...U));
  // bow tie (even-odd)
  const bow = [[0, 4, 0, 4], [0, 4, 4, 0]];
  // (diagonals cross at (2, 2): the lobes are the bottom and top triangles)
  assert.ok(pointInPolygon(2, 1, ...bow));
  assert.ok(pointInPolygon(2, 3, ...bow));
  assert.ok(!pointInPolygon(1, 2, ...bow));
});

test("polygon -> pixel indices equals the centre test for every pixel", () => {
  const r = rng(7);
  const ny = 23, nx = 31;
  for (let trial = 0; trial < 40; trial++) {
    const m = 3 + Math.floor(r() * 9);
    const xs = [], ys = [];
    for (let i = 0; i < m; i++) { xs.push(-3 + r() * (nx + 6)); ys.push(-3 + r() * (ny + 6)); }
    const got = Array.from(polygonIndices(xs, ys, ny, nx));
    const want = [];
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      if (pointInPolygon(x + 0.5, y + 0.5, xs, ys)) want.push(y * nx + x);
    }
    assert.deepEqual(got, want, `trial ${trial}`);
  }
  assert.equal(polygonIndices([0, 1], [0, 1], 5, 5).length, 0);
  // an axis-aligned polygon through pixel borders selects whole pixels
  assert.deepEqual(Array.from(polygonIndices([1, 3, 3, 1], [1, 1, 2, 2], 4, 4)), [5, 6]);
});

test("union of sorted index arrays", () => {
  const u = unionSorted(Int32Array.from([1, 3, 5]), Int32Array.from([2, 3, 9]));
  assert.deepEqual(Array.from(u), [1, 2, 3, 5, 9]);
  assert.deepEqual(Array.from(unionSorted(new Int32Array(0), Int32Array.from([4]))), [4]);
});

test("scale bar picks a round length near a quarter of the width", () => {
  assert.equal(niceLength(7.3), 5);
  assert.equal(niceLength(23), 20);
  assert.equal(niceLength(0.012), 0.01);
  assert.equal(niceLength(100), 100);
  assert.equal(niceLength(0), 0);
  // 256 pixels of 0.5 nm on 320 CSS px: 128 nm wide, a quarter is 32 nm -> 20 nm bar
  const bar = scaleBar(256, 320, 0.5, 0.25);
  assert.equal(bar.length, 20);
  assert.ok(Math.abs(bar.px - 50) < 1e-9);
  assert.equal(scaleBar(256, 320, 0), null);
  assert.equal(formatNumber(20), "20");
  assert.equal(formatNumber(0.05), "0.05");
});

test("display <-> data maps are inverse; zoom keeps the cursor point fixed; pan shifts", () => {
  const v = { x0: -2, x1: 6, y0: 10, y1: 20 };
  const [sx, sy] = dataToScreen(v, 0, 15, 400, 200);
  assert.deepEqual([sx, sy], [100, 100]);
  assert.deepEqual(screenToData(v, sx, sy, 400, 200), [0, 15]);
  assert.deepEqual(dataToScreen(v, -2, 20, 400, 200), [0, 0]);   // top-left
  assert.deepEqual(dataToScreen(v, 6, 10, 400, 200), [400, 200]); // bottom-right
  const z = zoomView(v, 100, 50, 400, 200, 2);
  const before = screenToData(v, 100, 50, 400, 200);
  const after = screenToData(z, 100, 50, 400, 200);
  assert.ok(Math.abs(before[0] - after[0]) < 1e-12 && Math.abs(before[1] - after[1]) < 1e-12);
  assert.ok(Math.abs((z.x1 - z.x0) - 4) < 1e-12);
  const p = panView(v, 40, -20, 400, 200);
  // the data point under (100, 100) moves to (140, 80)
  const [qx, qy] = dataToScreen(p, 0, 15, 400, 200);
  assert.ok(Math.abs(qx - 140) < 1e-9 && Math.abs(qy - 80) < 1e-9);
});

test("data bounds ignore NaN and pad; degenerate inputs stay usable", () => {
  const b = dataBounds(Float32Array.from([0, NaN, 10]), Float32Array.from([5, 1, 7]), 0.1);
  assert.deepEqual(b, { x0: -1, x1: 11, y0: 4.8, y1: 7.2 });
  assert.deepEqual(dataBounds(Float32Array.from([NaN]), Float32Array.from([1])), { x0: -1, x1: 1, y0: -1, y1: 1 });
  const c = dataBounds(Float32Array.from([3, 3]), Float32Array.from([2, 2]), 0);
  assert.deepEqual(c, { x0: 2.5, x1: 3.5, y0: 1.5, y1: 2.5 });
});

test("scatter hit testing in a rectangle and a lasso (data space)", () => {
  const x = Float32Array.from([0, 1, 2, 3, NaN, 1.5]);
  const y = Float32Array.from([0, 1, 2, 3, 1, NaN]);
  assert.deepEqual(Array.from(pointsInRect(x, y, 0.5, 2, 0.5, 2)), [1, 2]);
  assert.deepEqual(Array.from(pointsInRect(x, y, 2, 0.5, 2, 0.5)), [1, 2]); // reversed corners
  assert.deepEqual(Array.from(pointsInPolygon(x, y, [-1, 3.5, -1], [-1, -1, 3.5])), [0, 1]);
  // lasso agrees with the rectangle for a rectangular polygon (interior points)
  const r = rng(3);
  const n = 5000;
  const px = new Float32Array(n), py = new Float32Array(n);
  for (let i = 0; i < n; i++) { px[i] = r() * 10; py[i] = r() * 10; }
  const a = pointsInRect(px, py, 2.05, 7.05, 3.05, 6.05);
  const b = pointsInPolygon(px, py, [2.05, 7.05, 7.05, 2.05], [3.05, 3.05, 6.05, 6.05]);
  assert.ok(a.length > 500);
  // boundary points may differ (closed rect vs half-open crossing rule); random floats avoid them
  assert.deepEqual(Array.from(a), Array.from(b));
});

test("points <-> pixels through point_pixel", () => {
  const pointPixel = Int32Array.from([10, 11, 10, 40, 7]);
  assert.deepEqual(Array.from(pointsToPixels(Int32Array.from([0, 2, 3]), pointPixel)), [10, 40]);
  assert.deepEqual(Array.from(pixelsToPointMask(Int32Array.from([10, 7, 999, -1]), pointPixel)), [1, 0, 1, 0, 1]);
  assert.deepEqual(Array.from(pixelsToPointMask(new Int32Array(0), pointPixel)), [0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(pointsOfPixel(10, pointPixel)), [0, 2]);
  assert.equal(pointsOfPixel(-1, pointPixel).length, 0);
});

test("nearest point within a screen radius", () => {
  const v = { x0: 0, x1: 10, y0: 0, y1: 10 };
  const x = Float32Array.from([1, 5, 9]), y = Float32Array.from([1, 5, 9]);
  assert.equal(nearestPoint(x, y, v, 100, 100, 52, 48, 6), 1);
  assert.equal(nearestPoint(x, y, v, 100, 100, 30, 30, 6), -1);
});

test("nice ticks", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
  assert.deepEqual(niceTicks(-3.2, 3.9, 4), [-2, 0, 2]);
  assert.deepEqual(niceTicks(-1e-17, 10, 2), [0, 5, 10]);
});

test("manifold grid fractions <-> latent coordinates", () => {
  const ext = [-2, 2, 0, 1];
  // centre of the bottom-left tile (row 0 is drawn at the bottom) = (z1min, z2min)
  assert.deepEqual(gridToLatent(0.5 / 5, 1 - 0.5 / 3, 5, 3, ext), [-2, 0]);
  // centre of the top-right tile = (z1max, z2max)
  assert.deepEqual(gridToLatent(1 - 0.5 / 5, 0.5 / 3, 5, 3, ext), [2, 1]);
  const [fx, fy] = latentToGrid(0.7, 0.3, 5, 3, ext);
  const [z1, z2] = gridToLatent(fx, fy, 5, 3, ext);
  assert.ok(Math.abs(z1 - 0.7) < 1e-12 && Math.abs(z2 - 0.3) < 1e-12);
  assert.deepEqual(tileAt(0.01, 0.01, 5, 3), [2, 0]);
  assert.deepEqual([0, 1, 2].map((i) => displayRow(i, 3)), [2, 1, 0]);
  assert.deepEqual(tileAt(1, 1, 5, 3), [0, 4]);
  assert.deepEqual(gridToLatent(0.3, 0.3, 1, 1, ext), [-2, 0]);
});

test("window box: the pixel sits at index floor(w / 2) of its window", () => {
  assert.deepEqual(windowBox(10, 20, 5), [8, 18]);     // odd: symmetric
  assert.deepEqual(windowBox(10, 20, 4), [8, 18]);     // even: one more row/column before
  assert.deepEqual(windowBox(0, 0, 1), [0, 0]);
  // the same rule as Python's patches.window_bounds: before = w // 2, after = w - 1 - before
  for (const w of [1, 2, 3, 6, 7, 16]) {
    const [y0] = windowBox(50, 50, w);
    assert.equal(50 - y0, Math.floor(w / 2));
    assert.equal(y0 + w - 1 - 50, w - 1 - Math.floor(w / 2));
  }
});

test("min/max decimation keeps narrow peaks and NaN gaps", async () => {
  const { minMaxDecimate, finiteRange } = await import("../src/lib/geometry.js");
  const v = new Float32Array(1000).fill(1);
  v[501] = 50; // one-sample peak
  v[10] = -3;
  const d = minMaxDecimate(v, 20);
  assert.ok(d.value.length <= 40);
  assert.ok(d.value.includes(50) && d.value.includes(-3));
  for (let i = 1; i < d.index.length; i++) assert.ok(d.index[i] > d.index[i - 1]);
  const small = minMaxDecimate(Float32Array.from([3, 1, 2]), 5);
  assert.deepEqual(Array.from(small.value), [3, 1, 2]);
  assert.deepEqual(Array.from(small.index), [0, 1, 2]);
  const gap = new Float32Array(100).fill(NaN);
  gap[0] = 1;
  const g = minMaxDecimate(gap, 10);
  assert.ok(Number.isNaN(g.value[g.value.length - 1]));
  assert.deepEqual(finiteRange(Float32Array.from([NaN, 2, -1, Infinity, -Infinity])), [-1, 2]);
  assert.equal(finiteRange(Float32Array.from([NaN])), null);
});

test("display size: square pixels, but a line scan or a thin scan is stretched to stay visible", () => {
  assert.deepEqual(displaySize(64, 80, 320), [320, 256]);        // ordinary image: aspect kept
  assert.deepEqual(displaySize(80, 64, 320), [256, 320]);
  assert.deepEqual(displaySize(1, 40, 320), [320, MIN_DISPLAY_SIDE]); // 8 px -> 64 px strip
  assert.deepEqual(displaySize(40, 1, 320), [MIN_DISPLAY_SIDE, 320]);
  assert.deepEqual(displaySize(49, 6, 320), [MIN_DISPLAY_SIDE, 320]); // 39 px -> 64 px
  assert.deepEqual(displaySize(1, 1, 32), [32, 32]);             // never beyond the size
  assert.deepEqual(displaySize(0, 0, 320), [320, 240]);          // no image: placeholder
  // the pointer maps to the right pixel on a stretched strip: 40 columns over 320 px
  assert.deepEqual(fractionToPixel(0.5, 0.9, 1, 40), [0, 20]);
});
