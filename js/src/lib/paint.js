// Pixel painting of the widgets (pure functions over typed arrays, no DOM).

/**
 * Paint a selection overlay of an ny x nx image into `u32` (one packed RGBA per pixel, all
 * zero on entry): selected pixels (flat indices) get `fill`, those on the selection's outline
 * (an image edge or an unselected 4-neighbour) get `edge`. Indices outside are ignored.
 */
export function paintSelection(selection, ny, nx, fill, edge, u32) {
  const n = nx * ny;
  for (let i = 0; i < selection.length; i++) {
    const p = selection[i];
    if (p >= 0 && p < n) u32[p] = fill;
  }
  for (let i = 0; i < selection.length; i++) {
    const p = selection[i];
    if (p < 0 || p >= n) continue;
    const y = (p / nx) | 0, x = p - y * nx;
    if (x === 0 || x === nx - 1 || y === 0 || y === ny - 1 ||
        u32[p - 1] === 0 || u32[p + 1] === 0 || u32[p - nx] === 0 || u32[p + nx] === 0) {
      u32[p] = edge;
    }
  }
  return u32;
}

/** [lo, hi] of the finite values of each of the 3 interleaved channels ([0, 1] when none). */
export function channelRanges(data) {
  const out = [];
  for (let c = 0; c < 3; c++) {
    let lo = Infinity, hi = -Infinity;
    for (let i = c; i < data.length; i += 3) {
      const v = data[i];
      if (v - v !== 0) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.push(lo <= hi ? [lo, hi] : [0, 1]);
  }
  return out;
}

/**
 * RGBA bytes (`out`, 4 per pixel) of interleaved RGB `values`, each channel scaled from its
 * range in `ranges` to 0..255 (a flat channel is mid-grey); a pixel with a non-finite channel
 * is transparent.
 */
export function paintRGB(values, ranges, out) {
  const n = values.length / 3;
  for (let p = 0; p < n; p++) {
    let bad = false;
    for (let c = 0; c < 3; c++) {
      const v = values[3 * p + c];
      if (v - v !== 0) { bad = true; break; }
      const [lo, hi] = ranges[c];
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      out[4 * p + c] = Math.round(255 * Math.min(1, Math.max(0, t)));
    }
    out[4 * p + 3] = bad ? 0 : 255;
  }
  return out;
}
