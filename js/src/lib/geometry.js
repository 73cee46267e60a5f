// Coordinate maths and hit testing shared by the widgets (pure functions, no DOM).
//
// Conventions
// - Images: pixel (y, x) covers the square [x, x + 1) x [y, y + 1) in continuous pixel
//   coordinates; its centre is (y + 0.5, x + 0.5). Flat index = y * nx + x.
// - Positions inside an element are given as fractions (fx, fy) of its width and height,
//   measured from the top-left corner.
// - Scatter views: a view {x0, x1, y0, y1} maps data x in [x0, x1] to screen 0..W (left to
//   right) and data y in [y0, y1] to screen H..0 (y grows upwards).

// ----------------------------------------------------------------------------- images

function clampInt(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Pixel [y, x] under a position given as fractions of the element size (clamped inside). */
export function fractionToPixel(fx, fy, ny, nx) {
  return [clampInt(Math.floor(fy * ny), 0, ny - 1), clampInt(Math.floor(fx * nx), 0, nx - 1)];
}

/** Continuous pixel coordinates [yc, xc] of a position given as fractions (not clamped). */
export function fractionToContinuous(fx, fy, ny, nx) {
  return [fy * ny, fx * nx];
}

/**
 * Flat indices (sorted Int32Array) of the pixels in the rectangle with corner pixels
 * (ya, xa) and (yb, xb), both included, in any order; clipped to the image.
 */
export function rectIndices(ya, xa, yb, xb, ny, nx) {
  const y0 = clampInt(Math.min(ya, yb), 0, ny - 1);
  const y1 = clampInt(Math.max(ya, yb), 0, ny - 1);
  const x0 = clampInt(Math.min(xa, xb), 0, nx - 1);
  const x1 = clampInt(Math.max(xa, xb), 0, nx - 1);
  if (ny <= 0 || nx <= 0) return new Int32Array(0);
  const w = x1 - x0 + 1;
  const out = new Int32Array((y1 - y0 + 1) * w);
  let k = 0;
  for (let y = y0; y <= y1; y++) {
    const row = y * nx;
    for (let x = x0; x <= x1; x++) out[k++] = row + x;
  }
  return out;
}

/**
 * Even-odd point-in-polygon test (the PNPOLY crossing rule). `xs`, `ys` are the vertices;
 * the polygon is closed implicitly. Python's LatentScatter.points_in_region uses the same
 * arithmetic, so both sides agree point by point.
 */
export function pointInPolygon(px, py, xs, ys) {
  const n = xs.length;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const yi = ys[i], yj = ys[j];
    if ((yi > py) !== (yj > py)) {
      const xint = ((xs[j] - xs[i]) * (py - yi)) / (yj - yi) + xs[i];
      if (px < xint) inside = !inside;
    }
  }
  return inside;
}

/**
 * Flat indices (sorted Int32Array) of the pixels whose centres lie inside a polygon given in
 * continuous pixel coordinates (xs along columns, ys along rows). Scanline fill: exactly the
 * pixels for which pointInPolygon(x + 0.5, y + 0.5, xs, ys) is true.
 */
export function polygonIndices(xs, ys, ny, nx) {
  const n = xs.length;
  if (n < 3 || ny <= 0 || nx <= 0) return new Int32Array(0);
  let ymin = Infinity, ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    if (ys[i] < ymin) ymin = ys[i];
    if (ys[i] > ymax) ymax = ys[i];
  }
  const r0 = Math.max(0, Math.floor(ymin - 0.5));
  const r1 = Math.min(ny - 1, Math.ceil(ymax));
  const out = [];
  const cross = [];
  for (let y = r0; y <= r1; y++) {
    const py = y + 0.5;
    cross.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = ys[i], yj = ys[j];
      if ((yi > py) !== (yj > py)) cross.push(((xs[j] - xs[i]) * (py - yi)) / (yj - yi) + xs[i]);
    }
    if (cross.length < 2) continue;
    cross.sort((a, b) => a - b);
    // centre px is inside when an odd number of crossings lie strictly right of it,
    // i.e. px in [c[m-2k-2], c[m-2k-1]) counted from the right end
    const m = cross.length;
    for (let k = m - 1; k >= 1; k -= 2) {
      const a = cross[k - 1], b = cross[k];
      // columns x with a <= x + 0.5 < b
      const xa = Math.max(0, Math.ceil(a - 0.5));
      const xb = Math.min(nx - 1, Math.ceil(b - 0.5) - 1);
      for (let x = xa; x <= xb; x++) out.push(y * nx + x);
    }
  }
  const arr = Int32Array.from(out);
  return arr.sort();
}

/** Union of two sorted Int32Arrays without duplicates (sorted Int32Array). */
export function unionSorted(a, b) {
  const out = new Int32Array(a.length + b.length);
  let i = 0, j = 0, k = 0;
  while (i < a.length || j < b.length) {
    let v;
    if (j >= b.length || (i < a.length && a[i] < b[j])) v = a[i++];
    else if (i >= a.length || b[j] < a[i]) v = b[j++];
    else { v = a[i++]; j++; }
    if (k === 0 || out[k - 1] !== v) out[k++] = v;
  }
  return out.slice(0, k);
}

/** Largest "nice" length (1, 2 or 5 times a power of ten) not larger than `maxLength`. */
export function niceLength(maxLength) {
  if (!(maxLength > 0) || !Number.isFinite(maxLength)) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(maxLength)));
  for (const m of [5, 2, 1]) {
    if (m * p <= maxLength * (1 + 1e-12)) return m * p;
  }
  return p;
}

/**
 * Scale bar for an image `nx` pixels wide shown `widthPx` CSS px wide, with `pixelSize`
 * units per pixel: the nice length closest below `fraction` of the width.
 * Returns {length (units), px (CSS px)} or null when the calibration is unusable.
 */
export function scaleBar(nx, widthPx, pixelSize, fraction = 0.25) {
  if (!(nx > 0 && widthPx > 0 && pixelSize > 0)) return null;
  const unitsPerPx = (nx * pixelSize) / widthPx;
  const length = niceLength(fraction * widthPx * unitsPerPx);
  if (!(length > 0)) return null;
  return { length, px: length / unitsPerPx };
}

/** Shortest CSS side of a displayed image: a line scan (1 x N) stays visible and clickable. */
export const MIN_DISPLAY_SIDE = 64;

/**
 * CSS size [width, height] of an image of ey x ex pixels drawn with its longer side `size`
 * CSS pixels and square pixels, except that the shorter side is stretched to at least
 * `minSide` (capped at `size`): a 1 x 40 line scan is then a 64 px strip of tall pixels
 * instead of an 8 px line. No image (0 x 0) gives a size x 0.75 size placeholder.
 */
export function displaySize(ey, ex, size, minSide = MIN_DISPLAY_SIDE) {
  if (!(ey > 0 && ex > 0)) return [size, Math.round(size * 0.75)];
  let w, h;
  if (ex >= ey) {
    w = size; h = Math.round((size * ey) / ex);
  } else {
    h = size; w = Math.round((size * ex) / ey);
  }
  const m = Math.min(minSide, size);
  return [Math.max(w, m, 1), Math.max(h, m, 1)];
}

/** Format a length with few digits ("20", "2.5", "0.05"). */
export function formatNumber(v, digits = 3) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, digits - 1));
  return String(Number(v.toPrecision(digits)));
}

// ----------------------------------------------------------------------------- scatter

/**
 * View over the finite points of (x, y) with a relative padding on each side. A zero span
 * becomes +-0.5 around the value; no finite point gives [-1, 1] x [-1, 1].
 */
export function dataBounds(x, y, pad = 0.05) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const a = x[i], b = y[i];
    if (a - a !== 0 || b - b !== 0) continue;
    if (a < x0) x0 = a;
    if (a > x1) x1 = a;
    if (b < y0) y0 = b;
    if (b > y1) y1 = b;
  }
  if (x0 > x1) return { x0: -1, x1: 1, y0: -1, y1: 1 };
  if (x1 - x0 <= 0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 - y0 <= 0) { y0 -= 0.5; y1 += 0.5; }
  const px = (x1 - x0) * pad, py = (y1 - y0) * pad;
  return { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
}

/** Screen position [sx, sy] of data point (x, y) in a W x H plot showing `view`. */
export function dataToScreen(view, x, y, W, H) {
  return [((x - view.x0) / (view.x1 - view.x0)) * W, ((view.y1 - y) / (view.y1 - view.y0)) * H];
}

/** Data position [x, y] under screen position (sx, sy) of a W x H plot showing `view`. */
export function screenToData(view, sx, sy, W, H) {
  return [view.x0 + (sx / W) * (view.x1 - view.x0), view.y1 - (sy / H) * (view.y1 - view.y0)];
}

/** View zoomed by `factor` (>1 zooms in) about screen position (sx, sy). */
export function zoomView(view, sx, sy, W, H, factor) {
  const [cx, cy] = screenToData(view, sx, sy, W, H);
  const f = 1 / factor;
  return {
    x0: cx - (cx - view.x0) * f,
    x1: cx + (view.x1 - cx) * f,
    y0: cy - (cy - view.y0) * f,
    y1: cy + (view.y1 - cy) * f,
  };
}

/** View moved so that the content follows a drag of (dsx, dsy) screen pixels. */
export function panView(view, dsx, dsy, W, H) {
  const dx = (dsx / W) * (view.x1 - view.x0);
  const dy = (dsy / H) * (view.y1 - view.y0);
  return { x0: view.x0 - dx, x1: view.x1 - dx, y0: view.y0 + dy, y1: view.y1 + dy };
}

/** Indices (Int32Array, ascending) of points with x0 <= x <= x1 and y0 <= y <= y1. */
export function pointsInRect(x, y, x0, x1, y0, y1) {
  const lo = Math.min(x0, x1), hi = Math.max(x0, x1);
  const bo = Math.min(y0, y1), to = Math.max(y0, y1);
  const n = Math.min(x.length, y.length);
  const out = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i], b = y[i];
    if (a >= lo && a <= hi && b >= bo && b <= to) out[k++] = i;
  }
  return out.slice(0, k);
}

/** Indices (Int32Array, ascending) of points inside a polygon in data coordinates. */
export function pointsInPolygon(x, y, xs, ys) {
  const m = xs.length;
  const n = Math.min(x.length, y.length);
  if (m < 3) return new Int32Array(0);
  let bx0 = Infinity, bx1 = -Infinity, by0 = Infinity, by1 = -Infinity;
  for (let i = 0; i < m; i++) {
    bx0 = Math.min(bx0, xs[i]); bx1 = Math.max(bx1, xs[i]);
    by0 = Math.min(by0, ys[i]); by1 = Math.max(by1, ys[i]);
  }
  const out = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i], b = y[i];
    if (!(a >= bx0 && a <= bx1 && b >= by0 && b <= by1)) continue;
    if (pointInPolygon(a, b, xs, ys)) out[k++] = i;
  }
  return out.slice(0, k);
}

/** Sorted unique pixel indices (Int32Array) of the given points. */
export function pointsToPixels(points, pointPixel) {
  const out = new Int32Array(points.length);
  for (let i = 0; i < points.length; i++) out[i] = pointPixel[points[i]];
  out.sort();
  let k = 0;
  for (let i = 0; i < out.length; i++) {
    if (i === 0 || out[i] !== out[i - 1]) out[k++] = out[i];
  }
  return out.slice(0, k);
}

/**
 * Membership mask (Uint8Array, one entry per point) of the points whose pixel is in
 * `pixels`; pixels outside [0, maxPixel] are ignored.
 */
export function pixelsToPointMask(pixels, pointPixel) {
  let maxPix = -1;
  for (let i = 0; i < pointPixel.length; i++) if (pointPixel[i] > maxPix) maxPix = pointPixel[i];
  const mask = new Uint8Array(pointPixel.length);
  if (maxPix < 0 || pixels.length === 0) return mask;
  const inSel = new Uint8Array(maxPix + 1);
  for (let i = 0; i < pixels.length; i++) {
    const p = pixels[i];
    if (p >= 0 && p <= maxPix) inSel[p] = 1;
  }
  for (let i = 0; i < pointPixel.length; i++) {
    const p = pointPixel[i];
    if (p >= 0 && inSel[p]) mask[i] = 1;
  }
  return mask;
}

/** Indices of the points whose pixel equals `pixel` (Int32Array). */
export function pointsOfPixel(pixel, pointPixel) {
  const out = [];
  if (pixel < 0) return new Int32Array(0);
  for (let i = 0; i < pointPixel.length; i++) if (pointPixel[i] === pixel) out.push(i);
  return Int32Array.from(out);
}

/**
 * Index of the point nearest to screen position (sx, sy), or -1 when none lies within
 * `maxDist` screen pixels.
 */
export function nearestPoint(x, y, view, W, H, sx, sy, maxDist = 6) {
  const kx = W / (view.x1 - view.x0), ky = H / (view.y1 - view.y0);
  let best = -1, bestD = maxDist * maxDist;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const dx = (x[i] - view.x0) * kx - sx;
    const dy = (view.y1 - y[i]) * ky - sy;
    const d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

/** Step between "nice" ticks for a span with about `n` ticks. */
export function niceStep(span, n = 5) {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, n);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

/** Nice tick values inside [lo, hi] (about `n` of them). */
export function niceTicks(lo, hi, n = 5) {
  const a = Math.min(lo, hi), b = Math.max(lo, hi);
  const step = niceStep(b - a, n);
  const out = [];
  const start = Math.ceil(a / step - 1e-9);
  for (let k = start; k * step <= b + step * 1e-9 && out.length < 100; k++) {
    out.push(Math.abs(k * step) < step * 1e-9 ? 0 : k * step);
  }
  return out;
}

// ----------------------------------------------------------------------------- manifold

/**
 * Display row (0 = top) of row i of a gy-row tile grid: row 0 of the tiles is drawn at the
 * bottom, so the second latent grows upwards (the one grid orientation of the package,
 * eelswidgets.analysis.manifold_grid).
 */
export function displayRow(i, gy) {
  return gy - 1 - i;
}

/**
 * Latent coordinates [z1, z2] under a position (fractions fx, fy of the grid's width and
 * height) of a gy x gx tile grid whose tile centres sit at linspace(z1min, z1max, gx) along
 * x and linspace(z2min, z2max, gy) along y, row 0 drawn at the bottom (see displayRow).
 */
export function gridToLatent(fx, fy, gx, gy, extent) {
  const [z1a, z1b, z2a, z2b] = extent;
  const col = fx * gx - 0.5;
  const row = displayRow(fy * gy - 0.5, gy);
  const z1 = gx > 1 ? z1a + (col * (z1b - z1a)) / (gx - 1) : z1a;
  const z2 = gy > 1 ? z2a + (row * (z2b - z2a)) / (gy - 1) : z2a;
  return [z1, z2];
}

/** Inverse of gridToLatent: fractions [fx, fy] of the grid for latent (z1, z2). */
export function latentToGrid(z1, z2, gx, gy, extent) {
  const [z1a, z1b, z2a, z2b] = extent;
  const col = gx > 1 && z1b !== z1a ? ((z1 - z1a) * (gx - 1)) / (z1b - z1a) : 0;
  const row = gy > 1 && z2b !== z2a ? ((z2 - z2a) * (gy - 1)) / (z2b - z2a) : 0;
  return [(col + 0.5) / gx, (displayRow(row, gy) + 0.5) / gy];
}

/** Tile [i, j] (row index into the tiles array, column) under fractions (fx, fy). */
export function tileAt(fx, fy, gx, gy) {
  const j = clampInt(Math.floor(fx * gx), 0, gx - 1);
  const r = clampInt(Math.floor(fy * gy), 0, gy - 1);
  return [displayRow(r, gy), j];
}

/**
 * The window of pixel (y, x): its top-left pixel [y0, x0]. The window covers rows
 * y - floor(w / 2) ... y - floor(w / 2) + w - 1 (columns alike), so the pixel sits at index
 * floor(w / 2) of its window for odd and even w: the rule of eelswidgets.patches.
 */
export function windowBox(y, x, w) {
  const before = Math.floor(w / 2);
  return [y - before, x - before];
}

/**
 * Min/max decimation of a line for drawing: at most 2 points per bucket (the minimum and the
 * maximum, in index order), so narrow peaks survive. NaN values are skipped; a bucket of only
 * NaN yields one NaN entry (a gap in the line). Returns {index: Float64Array, value:
 * Float32Array}; lines with at most 2 * buckets values are returned unchanged.
 */
export function minMaxDecimate(values, buckets) {
  const n = values.length;
  if (n <= 2 * buckets || buckets < 1) {
    const index = new Float64Array(n);
    for (let i = 0; i < n; i++) index[i] = i;
    return { index, value: Float32Array.from(values) };
  }
  const idx = [], val = [];
  for (let b = 0; b < buckets; b++) {
    const i0 = Math.floor((b * n) / buckets), i1 = Math.floor(((b + 1) * n) / buckets);
    let imin = -1, imax = -1;
    for (let i = i0; i < i1; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      if (imin < 0 || v < values[imin]) imin = i;
      if (imax < 0 || v > values[imax]) imax = i;
    }
    if (imin < 0) { idx.push(i0); val.push(NaN); continue; }
    const a = Math.min(imin, imax), c = Math.max(imin, imax);
    idx.push(a); val.push(values[a]);
    if (c !== a) { idx.push(c); val.push(values[c]); }
  }
  return { index: Float64Array.from(idx), value: Float32Array.from(val) };
}

/** [min, max] of the finite values (null when there are none). */
export function finiteRange(values) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) continue; // NaN or +-Inf
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}
