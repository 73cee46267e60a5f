// Colormaps: value -> RGBA lookup tables (pure functions, no DOM).
//
// The anchor colours are sampled at 33 evenly spaced points (2 for gray) from matplotlib's
// colormaps of the same names (viridis, magma, inferno, plasma and cividis are CC0; the
// others are matplotlib's BSD-style licensed tables) and interpolated linearly into 256-entry
// tables; the difference from matplotlib's own 256-entry tables is below 5/255 per channel.
// A name ending in "_r" is the reversed map.

const ANCHORS = {
  viridis:
    "440154470d6048186a482374472d7b4537814240863e49893b528b375b8d33638d2f6b8e" +
    "2c728e297a8e26828e23898e21918c1f988b1fa08822a78528ae8032b67a3fbc734ec36b" +
    "5ec96270cf5784d44b98d83eaddc30c2df23d8e219ece51bfde725",
  magma:
    "0000040303120a0822130d341d114729115a36106b440f7651127c5d177f6a1c81762181" +
    "832681902a819c2e7faa337db73779c43c75d0416fdc4869e75263ef5d5ef56b5cf9795d" +
    "fc8961fd9869fea772feb67cfec488fed395fde2a3fcf0b2fcfdbf",
  inferno:
    "0000040403120b0724150b37210c4a2f0a5b3d09654a0c6b57106e64156e71196e7d1e6d" +
    "8a226a972766a32c61b0315bbc3754c73e4cd24644db503be45a31eb6628f1731df68013" +
    "f98e09fb9d07fcac11fbbc21f9cb35f5db4cf2ea69f3f68afcffa4",
  plasma:
    "0d08872206903105973f049c4c02a15901a56600a77201a87e03a88a09a59511a1a01a9c" +
    "aa2395b32c8ebc3587c43e7fcc4778d35171da5a6ae06363e66c5ceb7655f0804ef58b47" +
    "f89540fba139fdac33feb82cfdc527fcd225f8df25f4ed27f0f921",
  cividis:
    "00224e00285b002e6a0533711a386f273e6e32436d3b496c434e6c4b546c535a6d5a5f6e" +
    "61656f686a716f70737676767d7c788482798c8878938e789b9476a39a74aba072b4a76f" +
    "bcae6cc4b468cdbb63d5c25edec958e7d150f0d846f9e03afee838",
  gray:
    "000000ffffff",
  RdBu:
    "67001f7f0823960f27ae172abb2a34c6413ed25849dc6e57e58368ef9979f5ac8bf8bda1" +
    "fbceb7fdddcbfbe6daf9efe9f6f7f7eaf1f5deebf2d2e6f0c0dcebacd2e598c8e081bad8" +
    "68abd04f9bc73e8cbf337eb82870b11e61a515508d0d3f76053061",
  coolwarm:
    "3b4cc0445acc4e68d85875e16282ea6c8ff1779af782a6fb8db0fe98b9ffa3c2feaec9fc" +
    "b9d0f9c3d5f4ccd9edd5dbe5dddcdce5d8d1ecd3c5f1ccb8f5c4acf7ba9ff7b093f6a586" +
    "f4987af08b6eeb7d62e46e56dd5f4bd44e41ca3b37be242eb40426",
  twilight:
    "e2d9e2d7d7ddc4ced4acc2cc95b5c781a6c37297c16887be6276ba5f64b55e51ad5d3da1" +
    "592a8f511b7745135c3811452f14363a113a4a13425f174a741e4f872750983550a64550" +
    "b25652bb6958c27c63c89073cca389d1b6a3d8c7bedfd4d6e2d9e2",
  turbo:
    "30123b392a734040a24456c7466be34680f64294ff37a8fa28bceb1ccdd818ddc21fe9af" +
    "32f2984ef97d6dfe628bff4ba4fc3cb9f635cdec34dfdf37eecf3af8be39fdac34fe962b" +
    "fb7e21f46617eb500edf3f08d02f05be2102a91601920b017a0403",
};

/** Names of the base colormaps; every name may also be used with an "_r" suffix. */
export const COLORMAP_NAMES = Object.freeze(Object.keys(ANCHORS));

/** Colour used for NaN points in the scatter (RGBA 0-255); NaN image pixels are transparent. */
export const NAN_RGBA = Object.freeze([187, 187, 187, 255]);

const lutCache = new Map();

function parseAnchors(hex) {
  const n = hex.length / 6;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True when `name` is a known colormap (with or without the "_r" suffix). */
export function isColormap(name) {
  if (typeof name !== "string") return false;
  const base = name.endsWith("_r") ? name.slice(0, -2) : name;
  return Object.prototype.hasOwnProperty.call(ANCHORS, base);
}

/**
 * The 256-entry RGBA lookup table of a colormap (Uint8Array of length 1024, cached).
 * Unknown names fall back to viridis so that a typo never breaks a view.
 */
export function colormapLut(name, n = 256) {
  const key = `${name}:${n}`;
  const hit = lutCache.get(key);
  if (hit) return hit;
  const reversed = typeof name === "string" && name.endsWith("_r");
  const base = isColormap(name) ? (reversed ? name.slice(0, -2) : name) : "viridis";
  const a = parseAnchors(ANCHORS[base]);
  const k = a.length / 3;
  const lut = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    let t = n === 1 ? 0 : i / (n - 1);
    if (reversed && isColormap(name)) t = 1 - t;
    const f = t * (k - 1);
    const j = Math.min(k - 2, Math.floor(f));
    const w = f - j;
    for (let c = 0; c < 3; c++) {
      lut[4 * i + c] = Math.round(a[3 * j + c] * (1 - w) + a[3 * (j + 1) + c] * w);
    }
    lut[4 * i + 3] = 255;
  }
  lutCache.set(key, lut);
  return lut;
}

/**
 * Position of `v` in the lookup table for contrast limits [lo, hi]: an integer in
 * [0, n - 1], or -1 for NaN/Inf. Values outside the limits are clipped; lo == hi maps
 * every finite value to the middle of the table.
 */
export function lutIndex(v, lo, hi, n = 256) {
  if (!Number.isFinite(v)) return -1;
  if (!(hi > lo)) return n >> 1;
  const k = Math.floor((v - lo) * (n / (hi - lo)));
  return k < 0 ? 0 : k >= n ? n - 1 : k;
}

/** RGBA (array of 4 ints 0-255) of one value; NaN gives [0, 0, 0, 0] (transparent). */
export function valueToRGBA(v, lo, hi, name = "viridis") {
  const lut = colormapLut(name);
  const i = lutIndex(v, lo, hi, lut.length / 4);
  if (i < 0) return [0, 0, 0, 0];
  return [lut[4 * i], lut[4 * i + 1], lut[4 * i + 2], lut[4 * i + 3]];
}

/**
 * Colour a whole image: `values` (Float32Array, row major) -> `out` (Uint8ClampedArray of
 * length 4 * values.length, e.g. ImageData.data). NaN pixels become fully transparent.
 */
export function colorize(values, lo, hi, name, out) {
  const lut = colormapLut(name);
  const n = lut.length / 4;
  const dst = out || new Uint8ClampedArray(values.length * 4);
  const span = hi > lo ? hi - lo : 0;
  const scale = span > 0 ? n / span : 0;
  for (let i = 0, j = 0; i < values.length; i++, j += 4) {
    const v = values[i];
    if (!(v - v === 0)) { // NaN or +-Inf
      dst[j] = 0; dst[j + 1] = 0; dst[j + 2] = 0; dst[j + 3] = 0;
      continue;
    }
    let k = n >> 1;
    if (span > 0) {
      k = Math.floor((v - lo) * scale);
      if (k < 0) k = 0; else if (k >= n) k = n - 1;
    }
    const m = 4 * k;
    dst[j] = lut[m]; dst[j + 1] = lut[m + 1]; dst[j + 2] = lut[m + 2]; dst[j + 3] = 255;
  }
  return dst;
}

/**
 * Per-point packed colours for a Uint32 view of ImageData (little-endian ABGR): NaN values
 * get `nanRGBA`. Used by the scatter's canvas renderer.
 */
export function packedColors(values, lo, hi, name, nanRGBA = NAN_RGBA) {
  const lut = colormapLut(name);
  const n = lut.length / 4;
  const packed = new Uint32Array(n);
  for (let i = 0; i < n; i++) packed[i] = packRGBA(lut[4 * i], lut[4 * i + 1], lut[4 * i + 2], 255);
  const nanC = packRGBA(...nanRGBA);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = lutIndex(values[i], lo, hi, n);
    out[i] = k < 0 ? nanC : packed[k];
  }
  return out;
}

/** Pack 0-255 RGBA into one uint32 as ImageData stores it on little-endian machines. */
export function packRGBA(r, g, b, a = 255) {
  return ((a & 255) << 24 | (b & 255) << 16 | (g & 255) << 8 | (r & 255)) >>> 0;
}

/** CSS linear-gradient string of a colormap (for colour bars). */
export function cssGradient(name, stops = 16, direction = "to right") {
  const lut = colormapLut(name);
  const parts = [];
  for (let s = 0; s < stops; s++) {
    const i = Math.round((s / (stops - 1)) * 255);
    parts.push(`rgb(${lut[4 * i]},${lut[4 * i + 1]},${lut[4 * i + 2]}) ${((100 * s) / (stops - 1)).toFixed(1)}%`);
  }
  return `linear-gradient(${direction}, ${parts.join(", ")})`;
}

/** Parse "#rgb", "#rrggbb" or "rgb(r, g, b)" into [r, g, b] (0-255); fallback when invalid. */
export function parseColor(css, fallback = [255, 45, 45]) {
  if (typeof css !== "string") return fallback.slice();
  const s = css.trim();
  let m = /^#([0-9a-f]{3})$/i.exec(s);
  if (m) return [...m[1]].map((c) => parseInt(c + c, 16));
  m = /^#([0-9a-f]{6})$/i.exec(s);
  if (m) return [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16));
  m = /^rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)/i.exec(s);
  if (m) return [1, 2, 3].map((i) => Math.min(255, Number(m[i])));
  return fallback.slice();
}
