// ManifoldView: anywidget front end of eelswidgets.widgets.ManifoldView.
//
// `tiles` (float32) is a gy x gx grid of spectra (gy, gx, L), grey windows (gy, gx, h, w) or
// RGB windows (gy, gx, h, w, 3). Hovering a tile shows it large (browser only); a click sends
// the latent position under the pointer (`clicked`), the kernel decodes it and sends `decoded`
// back, which is drawn large.

import { axisTicks, drawAxes as drawAxesOn } from "../lib/axes.js";
import { colorize } from "../lib/colormaps.js";
import { decodeArray } from "../lib/codec.js";
import { makeColorbar } from "../lib/colorbar.js";
import { coalesce, ensureStyle, h, listen, nowMs, setText, sizeCanvas } from "../lib/dom.js";
import {
  displayRow, finiteRange, formatNumber, gridToLatent, latentToGrid, minMaxDecimate, tileAt,
} from "../lib/geometry.js";
import { channelRanges, paintRGB } from "../lib/paint.js";

const MARGIN = { left: 46, right: 8, top: 6, bottom: 34 };

function render({ model, el }) {
  ensureStyle();
  const title = h("div", { className: "ew-title" });
  const grid = h("canvas", { className: "ew-manifold-grid" });
  const gridStage = h("div", { className: "ew-stage" }, grid);
  const preview = h("canvas", { className: "ew-manifold-preview" });
  const caption = h("div", { className: "ew-readout ew-manifold-caption" });
  const colorbar = makeColorbar();
  const status = h("div", { className: "ew-manifold-status", style: { color: "#c62828" } });
  const side = h("div", { style: { display: "flex", flexDirection: "column", gap: "4px" } },
    preview, caption, colorbar.footer, status);
  const row = h("div", { style: { display: "flex", gap: "12px", alignItems: "flex-start" } },
    gridStage, side);
  const root = h("div", { className: "ew-widget ew-manifold-view", dataset: { rendered: "0" } },
    title, row);
  el.appendChild(root);
  const gctx = grid.getContext("2d");
  const pctx = preview.getContext("2d");
  grid.style.cursor = "crosshair";

  let tiles = null; // {data, shape}
  let kind = "spectra";
  let decoded = null;
  let gy = 0, gx = 0, tileLen = 0, th = 0, tw = 0;
  let yRange = [0, 1];
  let chRanges = [[0, 1], [0, 1], [0, 1]];
  let tileImage = null; // offscreen canvas with all image tiles
  let cellW = 0, cellH = 0, dpr = 1;
  let hover = null; // [i, j]
  let nDraws = 0, nPreview = 0, nDecoded = 0;
  let pending = null; // latent point waiting for its decoded tile

  const extent = () => model.get("extent") || [0, 1, 0, 1];

  // ---------------------------------------------------------------- data
  function load() {
    kind = model.get("kind") || "spectra";
    try {
      tiles = decodeArray(model.get("tiles"));
    } catch (err) {
      console.error("ManifoldView: bad tiles buffer", err);
      tiles = null;
    }
    if (!tiles || tiles.shape.length < 3) {
      tiles = null;
      gy = gx = 0;
      return;
    }
    [gy, gx] = tiles.shape;
    tileLen = tiles.data.length / (gy * gx);
    if (kind === "spectra") {
      yRange = finiteRange(tiles.data) || [0, 1];
      if (yRange[1] <= yRange[0]) yRange = [yRange[0] - 0.5, yRange[0] + 0.5];
    } else {
      th = tiles.shape[2];
      tw = tiles.shape[3];
      if (kind === "rgb") chRanges = channelRanges(tiles.data);
    }
  }

  function tileValues(i, j) {
    const k = (i * gx + j) * tileLen;
    return tiles.data.subarray(k, k + tileLen);
  }

  function decodedTile() {
    try {
      decoded = decodeArray(model.get("decoded"));
    } catch (err) {
      console.error("ManifoldView: bad decoded buffer", err);
      decoded = null;
    }
  }

  // paint one image tile (grey or rgb values) into ImageData-compatible bytes
  function paintTile(values, out) {
    if (kind === "grey") {
      const [lo, hi] = model.get("clim");
      colorize(values, lo, hi, model.get("colormap"), out);
      return;
    }
    paintRGB(values, chRanges, out);
  }

  function buildTileImage() {
    tileImage = null;
    if (!tiles || kind === "spectra") return;
    const c = document.createElement("canvas");
    c.width = gx * tw;
    c.height = gy * th;
    const ctx = c.getContext("2d");
    const im = ctx.createImageData(tw, th);
    for (let i = 0; i < gy; i++) {
      const r = displayRow(i, gy);
      for (let j = 0; j < gx; j++) {
        paintTile(tileValues(i, j), im.data);
        ctx.putImageData(im, j * tw, r * th);
      }
    }
    tileImage = c;
  }

  // ---------------------------------------------------------------- layout & grid
  function layout() {
    const size = Math.max(16, model.get("display_size") || 360);
    const aspect = kind === "spectra" || !tiles ? 1 : th / tw; // cell height / width
    const fullW = gx || 1, fullH = (gy || 1) * aspect;
    let W, H;
    if (fullW >= fullH) { W = size; H = Math.round((size * fullH) / fullW); }
    else { H = size; W = Math.round((size * fullW) / fullH); }
    cellW = W / (gx || 1);
    cellH = H / (gy || 1);
    gridStage.style.width = `${MARGIN.left + W + MARGIN.right}px`;
    gridStage.style.height = `${MARGIN.top + H + MARGIN.bottom}px`;
    dpr = sizeCanvas(grid, MARGIN.left + W + MARGIN.right, MARGIN.top + H + MARGIN.bottom);
    const ps = Math.max(16, model.get("preview_size") || 220);
    const pAspect = kind === "spectra" || !tiles ? 0.75 : th / tw;
    sizeCanvas(preview, ps, Math.round(ps * pAspect));
    side.style.width = `${ps}px`;
    return [W, H];
  }

  function drawGrid() {
    const [W, H] = layout();
    const ctx = gctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, grid.width, grid.height);
    const fg = getComputedStyle(root).color || "#222";
    if (tiles) {
      ctx.save();
      ctx.translate(MARGIN.left, MARGIN.top);
      if (kind === "spectra") {
        ctx.fillStyle = "rgba(128,128,128,0.06)";
        ctx.fillRect(0, 0, W, H);
        ctx.strokeStyle = fg;
        ctx.lineWidth = 1;
        for (let i = 0; i < gy; i++) {
          const r = displayRow(i, gy);
          for (let j = 0; j < gx; j++) {
            drawLine(ctx, tileValues(i, j), j * cellW + 3, r * cellH + 3, cellW - 6, cellH - 6, yRange);
          }
        }
      } else if (tileImage) {
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(tileImage, 0, 0, W, H);
      }
      // separators
      ctx.strokeStyle = kind === "spectra" ? "rgba(128,128,128,0.45)" : "rgba(255,255,255,0.9)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let j = 1; j < gx; j++) { ctx.moveTo(j * cellW, 0); ctx.lineTo(j * cellW, H); }
      for (let i = 1; i < gy; i++) { ctx.moveTo(0, i * cellH); ctx.lineTo(W, i * cellH); }
      ctx.stroke();
      if (hover) {
        const [i, j] = hover;
        const r = displayRow(i, gy);
        ctx.strokeStyle = "#1976d2";
        ctx.lineWidth = 2;
        ctx.strokeRect(j * cellW + 1, r * cellH + 1, cellW - 2, cellH - 2);
      }
      const z = pending || model.get("clicked");
      if (z) {
        const [fx, fy] = latentToGrid(z[0], z[1], gx, gy, extent());
        const cx = fx * W, cy = fy * H;
        ctx.lineWidth = 3;
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        cross(ctx, cx, cy, 6);
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#e53935";
        cross(ctx, cx, cy, 6);
      }
      ctx.restore();
      drawAxes(ctx, W, H, fg);
    }
    nDraws += 1;
    hooks();
  }

  function cross(ctx, x, y, r) {
    ctx.beginPath();
    ctx.moveTo(x - r, y); ctx.lineTo(x + r, y);
    ctx.moveTo(x, y - r); ctx.lineTo(x, y + r);
    ctx.stroke();
  }

  function drawAxes(ctx, W, H, fg) {
    // latent values at the grid's outer edges
    const [z1l, z2b] = gridToLatent(0, 1, gx, gy, extent());
    const [z1r, z2t] = gridToLatent(1, 0, gx, gy, extent());
    const xTicks = axisTicks(z1l, z1r, 4, (t) => latentToGrid(t, 0, gx, gy, extent())[0] * W);
    const yTicks = axisTicks(z2b, z2t, 4, (t) => latentToGrid(0, t, gx, gy, extent())[1] * H);
    drawAxesOn(ctx, { left: MARGIN.left, top: MARGIN.top, width: W, height: H }, xTicks, yTicks, {
      xlabel: model.get("xlabel") || "", ylabel: model.get("ylabel") || "", bottom: MARGIN.bottom,
      color: fg,
    });
  }

  // polyline of `values` in the box (x0, y0, w, hh), y range `range`
  function drawLine(ctx, values, x0, y0, w, hh, range) {
    const dec = minMaxDecimate(values, Math.max(2, Math.round(w * dpr)));
    const n = values.length;
    const [lo, hi] = range;
    const sx = n > 1 ? w / (n - 1) : 0, sy = hh / (hi - lo);
    ctx.beginPath();
    let pen = false;
    for (let k = 0; k < dec.value.length; k++) {
      const v = dec.value[k];
      if (v - v !== 0) { pen = false; continue; }
      const X = x0 + dec.index[k] * sx, Y = y0 + hh - (v - lo) * sy;
      if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
      pen = true;
    }
    ctx.stroke();
  }

  // ---------------------------------------------------------------- preview
  function drawPreview(values, label, what) {
    const ctx = pctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const PW = preview.width / dpr, PH = preview.height / dpr;
    ctx.clearRect(0, 0, PW, PH);
    const fg = getComputedStyle(root).color || "#222";
    ctx.strokeStyle = "rgba(128,128,128,0.8)";
    ctx.lineWidth = 1;
    ctx.strokeRect(0.5, 0.5, PW - 1, PH - 1);
    if (values) {
      if (kind === "spectra") {
        const r = finiteRange(values);
        let range = yRange;
        if (r) range = [Math.min(range[0], r[0]), Math.max(range[1], r[1])];
        ctx.strokeStyle = what === "decoded" ? "#e53935" : fg;
        ctx.lineWidth = 1.5;
        drawLine(ctx, values, 6, 6, PW - 12, PH - 22, range);
        ctx.fillStyle = fg;
        ctx.font = "10px sans-serif";
        const energy = decodeEnergy();
        const a = energy && energy.length === values.length ? energy[0] : 0;
        const b = energy && energy.length === values.length ? energy[energy.length - 1] : values.length - 1;
        ctx.textBaseline = "bottom";
        ctx.textAlign = "left";
        ctx.fillText(formatNumber(a), 4, PH - 3);
        ctx.textAlign = "right";
        ctx.fillText(formatNumber(b), PW - 4, PH - 3);
      } else {
        const c = document.createElement("canvas");
        c.width = tw;
        c.height = th;
        const cctx = c.getContext("2d");
        const im = cctx.createImageData(tw, th);
        paintTile(values, im.data);
        cctx.putImageData(im, 0, 0);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(c, 1, 1, PW - 2, PH - 2);
      }
    }
    setText(caption, label);
    nPreview += 1;
    if (what === "decoded") nDecoded += 1;
    root.dataset.preview = what;
    hooks();
  }

  function decodeEnergy() {
    try {
      const e = decodeArray(model.get("energy"));
      return e ? e.data : null;
    } catch (err) {
      return null;
    }
  }

  function showRestingPreview() {
    const z = model.get("clicked");
    if (pending) {
      drawPreview(null, `decoding z = (${formatNumber(pending[0])}, ${formatNumber(pending[1])}) …`, "pending");
    } else if (decoded && tiles && decoded.data.length === tileLen) {
      const at = z ? ` at z = (${formatNumber(z[0])}, ${formatNumber(z[1])})` : "";
      drawPreview(decoded.data, `decoded${at}`, "decoded");
    } else {
      drawPreview(null, tiles ? "hover a tile to enlarge it; click to decode a latent point" : "no tiles", "none");
    }
  }

  function tileLabel(i, j) {
    const [z1a, z1b, z2a, z2b] = extent();
    const z1 = gx > 1 ? z1a + (j * (z1b - z1a)) / (gx - 1) : z1a;
    const z2 = gy > 1 ? z2a + (i * (z2b - z2a)) / (gy - 1) : z2a;
    return `tile [${i}, ${j}]: z = (${formatNumber(z1)}, ${formatNumber(z2)})`;
  }

  function hooks() {
    const z = model.get("clicked");
    Object.assign(root.dataset, {
      rendered: String(nDraws),
      previewRendered: String(nPreview),
      decodedRendered: String(nDecoded),
      kind,
      grid: `${gy},${gx}`,
      hover: hover ? hover.join(",") : "",
      clicked: z ? `${z[0]},${z[1]}` : "",
      testid: model.get("_dom_id") || "",
      renderT: String(nowMs()),
    });
  }

  function updateChrome() {
    setText(title, model.get("title") || "");
    title.style.display = model.get("title") ? "" : "none";
    setText(status, model.get("status") || "");
    colorbar.show(kind === "grey" && !!tiles, model.get("colormap"), model.get("clim"));
  }

  // ---------------------------------------------------------------- pointer
  function gridFraction(event) {
    const r = grid.getBoundingClientRect();
    const W = cellW * gx, H = cellH * gy;
    const px = ((event.clientX - r.left) * (grid.width / dpr)) / r.width - MARGIN.left;
    const py = ((event.clientY - r.top) * (grid.height / dpr)) / r.height - MARGIN.top;
    return [px / W, py / H];
  }

  function inside(fx, fy) {
    return fx >= 0 && fx < 1 && fy >= 0 && fy < 1;
  }

  function onMove(event) {
    if (!tiles) return;
    const [fx, fy] = gridFraction(event);
    if (!inside(fx, fy)) { onLeave(); return; }
    const t = tileAt(fx, fy, gx, gy);
    if (hover && hover[0] === t[0] && hover[1] === t[1]) return;
    hover = t;
    drawGrid();
    drawPreview(tileValues(t[0], t[1]), tileLabel(t[0], t[1]), "tile");
  }

  function onLeave() {
    if (!hover) return;
    hover = null;
    drawGrid();
    showRestingPreview();
  }

  function onClick(event) {
    if (!tiles) return;
    const [fx, fy] = gridFraction(event);
    if (!inside(fx, fy)) return;
    const z = gridToLatent(fx, fy, gx, gy, extent());
    const old = model.get("clicked");
    if (!old || old[0] !== z[0] || old[1] !== z[1]) {
      pending = z; // cleared when the kernel's answer (_decode_serial or status) arrives
      model.set("clicked", z);
      model.save_changes();
    }
    hover = null;
    drawGrid();
    showRestingPreview();
  }

  const unlisten = listen(grid, { pointermove: onMove, pointerleave: onLeave, click: onClick });

  // ---------------------------------------------------------------- model events
  const dirty = { tiles: true, image: true, decoded: true };
  const update = coalesce(() => {
    if (dirty.tiles) { load(); dirty.image = true; }
    if (dirty.image) buildTileImage();
    if (dirty.decoded) decodedTile();
    const showDecoded = dirty.decoded;
    for (const k of Object.keys(dirty)) dirty[k] = false;
    updateChrome();
    drawGrid();
    if (showDecoded || !hover) showRestingPreview();
  });
  model.on("change:tiles", () => { dirty.tiles = true; update(); });
  model.on("change:kind", () => { dirty.tiles = true; update(); });
  model.on("change:colormap", () => { dirty.image = true; update(); });
  model.on("change:clim", () => { dirty.image = true; update(); });
  const onDecoded = () => { pending = null; hover = null; dirty.decoded = true; update(); };
  model.on("change:decoded", onDecoded);
  model.on("change:_decode_serial", onDecoded);
  model.on("change:status", () => { if (model.get("status")) pending = null; update(); });
  for (const name of ["extent", "clicked", "energy", "xlabel", "ylabel", "title", "display_size",
    "preview_size", "_dom_id"]) {
    model.on(`change:${name}`, update);
  }
  update();

  return unlisten;
}

export default { render };
