// ImageView: anywidget front end of eelswidgets.widgets.ImageView.
//
// The kernel sends the map at display resolution (`_data`, float32 (hy, hx), or `_rgba`,
// uint8 (hy, hx, 4)) with its block size `_factor` and the full-resolution `shape`. The map is
// coloured here (colormap, clim; NaN transparent) into an offscreen canvas, the selection
// (full-resolution flat indices) into a second one, and both are composited with the
// crosshair, the window box, the scale bar and the rubber band on the visible canvas.
// Every pixel coordinate sent back (`pixel`, `selection`) is full resolution.

import { colorize, parseColor } from "../lib/colormaps.js";
import { decodeArray, encodeArray } from "../lib/codec.js";
import { makeColorbar } from "../lib/colorbar.js";
import {
  capturePointer, coalesce, ensureStyle, eventFraction, h, listen, nowMs, releasePointer, setText,
  sizeCanvas, throttle,
} from "../lib/dom.js";
import {
  displaySize, formatNumber, fractionToContinuous, polygonIndices, rectIndices,
  scaleBar, unionSorted, windowBox,
} from "../lib/geometry.js";
import { Gesture, escapeAction, gestureKind } from "../lib/gesture.js";
import { paintSelection as paintSelectionPixels } from "../lib/paint.js";
import { CLEAR_ACTION, makeToolbar, showMode } from "../lib/toolbar.js";

const MODES = ["pixel", "rect", "lasso"];

function render({ model, el }) {
  ensureStyle();
  const title = h("div", { className: "ew-title" });
  const toolbar = h("div", { className: "ew-toolbar" });
  const canvas = h("canvas", { className: "ew-canvas", tabIndex: 0 });
  const stage = h("div", { className: "ew-stage" }, canvas);
  const colorbar = makeColorbar();
  const readout = h("span", { className: "ew-readout" });
  const root = h("div", { className: "ew-widget ew-image-view", dataset: { rendered: "0" } },
    title, toolbar, stage, colorbar.footer, readout);
  el.appendChild(root);
  const ctx = canvas.getContext("2d");

  const imageCanvas = document.createElement("canvas"); // display-resolution colours
  const selCanvas = document.createElement("canvas"); // full-resolution selection overlay

  let nDraws = 0;
  let img = null; // {data, shape} display image (float32) or null
  let rgba = null; // {data, shape} display RGBA (uint8) or null
  let selection = new Int32Array(0);
  let cssW = 0, cssH = 0, dpr = 1;
  let drag = null; // current Gesture (points in continuous pixel coordinates [x, y])
  let hoverPix = null;

  // ---------------------------------------------------------------- geometry helpers
  const fullShape = () => model.get("shape") || [0, 0];
  const factor = () => Math.max(1, model.get("_factor") || 1);
  function displayShape() {
    const src = rgba || img;
    return src ? [src.shape[0], src.shape[1]] : [0, 0];
  }
  // full-resolution extent covered by the canvas (>= shape when blocks do not divide it)
  function extent() {
    const [hy, hx] = displayShape();
    return [hy * factor(), hx * factor()];
  }

  // ---------------------------------------------------------------- data -> offscreen
  function decodeData() {
    try {
      img = decodeArray(model.get("_data"));
      rgba = decodeArray(model.get("_rgba"));
    } catch (err) {
      console.error("ImageView: bad image buffer", err);
      img = null;
      rgba = null;
    }
  }

  function paintImage() {
    const [hy, hx] = displayShape();
    if (!hy || !hx) return;
    imageCanvas.width = hx;
    imageCanvas.height = hy;
    const ictx = imageCanvas.getContext("2d");
    const im = ictx.createImageData(hx, hy);
    if (rgba) {
      im.data.set(rgba.data.subarray(0, hx * hy * 4));
    } else {
      const [lo, hi] = model.get("clim");
      colorize(img.data, lo, hi, model.get("colormap"), im.data);
    }
    ictx.putImageData(im, 0, 0);
  }

  function decodeSelection() {
    try {
      const s = decodeArray(model.get("selection"));
      selection = s ? s.data : new Int32Array(0);
    } catch (err) {
      console.error("ImageView: bad selection buffer", err);
      selection = new Int32Array(0);
    }
  }

  function paintSelection() {
    const [ny, nx] = fullShape();
    if (!ny || !nx) return;
    selCanvas.width = nx;
    selCanvas.height = ny;
    const sctx = selCanvas.getContext("2d");
    sctx.clearRect(0, 0, nx, ny);
    if (selection.length === 0) return;
    const im = sctx.createImageData(nx, ny);
    const u32 = new Uint32Array(im.data.buffer);
    const [r, g, b] = parseColor(model.get("overlay_color"));
    const a = Math.round(255 * Math.min(1, Math.max(0, model.get("overlay_alpha"))));
    const fill = ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
    const edge = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
    paintSelectionPixels(selection, ny, nx, fill, edge, u32);
    sctx.putImageData(im, 0, 0);
  }

  // ---------------------------------------------------------------- composite
  function layout() {
    const [ey, ex] = extent();
    const size = Math.max(16, model.get("display_size") || 320);
    [cssW, cssH] = displaySize(ey, ex, size); // thin scans are stretched to stay visible
    dpr = sizeCanvas(canvas, cssW, cssH);
    stage.style.width = `${cssW}px`;
    stage.style.height = `${cssH}px`;
    root.style.width = `${Math.max(cssW, 200) + 4}px`;
  }

  function strokeTwice(path, width = 1) {
    // dark halo + light line: visible on any colormap
    ctx.lineWidth = (width + 2) * dpr;
    ctx.strokeStyle = "rgba(0,0,0,0.65)";
    ctx.stroke(path);
    ctx.lineWidth = width * dpr;
    ctx.strokeStyle = "rgba(255,255,255,0.95)";
    ctx.stroke(path);
  }

  function composite() {
    layout();
    const W = canvas.width, H = canvas.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const [ny, nx] = fullShape();
    const [ey, ex] = extent();
    if (!ny || !nx || !ey || !ex) {
      ctx.fillStyle = "rgba(128,128,128,0.15)";
      ctx.fillRect(0, 0, W, H);
      finish();
      return;
    }
    const sx = W / ex, sy = H / ey; // device px per full-resolution pixel
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(imageCanvas, 0, 0, W, H);
    if (selection.length) ctx.drawImage(selCanvas, 0, 0, nx * sx, ny * sy);

    // window box and crosshair at the current pixel
    const [py, px] = model.get("pixel") || [0, 0];
    const win = model.get("window") | 0;
    if (win > 0) {
      const [y0, x0] = windowBox(py, px, win);
      const p = new Path2D();
      p.rect(x0 * sx, y0 * sy, win * sx, win * sy);
      strokeTwice(p, 1);
    }
    if (model.get("show_crosshair")) {
      const cx = (px + 0.5) * sx, cy = (py + 0.5) * sy;
      const gap = Math.max(4 * dpr, 0.5 * Math.max(sx, sy) + 2 * dpr);
      const p = new Path2D();
      p.moveTo(0, cy); p.lineTo(cx - gap, cy);
      p.moveTo(cx + gap, cy); p.lineTo(W, cy);
      p.moveTo(cx, 0); p.lineTo(cx, cy - gap);
      p.moveTo(cx, cy + gap); p.lineTo(cx, H);
      ctx.save();
      ctx.globalAlpha = 0.8;
      strokeTwice(p, 1);
      ctx.restore();
      const box = new Path2D();
      box.rect(px * sx, py * sy, Math.max(sx, 2 * dpr), Math.max(sy, 2 * dpr));
      strokeTwice(box, 1);
    }
    if (model.get("show_scalebar")) drawScaleBar(W, H, ex);
    drawRubberBand(sx, sy);
    finish();
  }

  function drawScaleBar(W, H, ex) {
    if (cssW < 120 || cssH < 40) return; // no room (a thin scan): the hover readout has units
    const bar = scaleBar(ex, cssW, model.get("pixel_size"), 0.25);
    if (!bar) return;
    const len = bar.px * dpr;
    const m = 8 * dpr;
    const label = `${formatNumber(bar.length)} ${model.get("unit")}`;
    ctx.font = `${11 * dpr}px sans-serif`;
    const tw = ctx.measureText(label).width;
    const boxW = Math.max(len, tw) + 8 * dpr;
    const x = W - m - boxW, y = H - m - 20 * dpr;
    ctx.fillStyle = "rgba(0,0,0,0.45)";
    ctx.fillRect(x, y, boxW, 20 * dpr);
    ctx.fillStyle = "#fff";
    ctx.fillRect(x + (boxW - len) / 2, y + 14 * dpr, len, 3 * dpr);
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    ctx.fillText(label, x + boxW / 2, y + 11 * dpr);
  }

  function drawRubberBand(sx, sy) {
    const shape = drag && drag.outline();
    if (!shape) return;
    const p = new Path2D();
    if (shape.kind === "rect") {
      const [ya, xa] = pixelAt(shape.start), [yb, xb] = pixelAt(shape.end);
      const y0 = Math.min(ya, yb), x0 = Math.min(xa, xb);
      p.rect(x0 * sx, y0 * sy, (Math.abs(xb - xa) + 1) * sx, (Math.abs(yb - ya) + 1) * sy);
    } else {
      shape.ys.forEach((y, i) => {
        if (i === 0) p.moveTo(shape.xs[i] * sx, y * sy);
        else p.lineTo(shape.xs[i] * sx, y * sy);
      });
      p.closePath();
    }
    ctx.save();
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    strokeTwice(p, 1);
    ctx.restore();
  }

  function finish() {
    nDraws += 1;
    const [y, x] = model.get("pixel") || [0, 0];
    const [ny, nx] = fullShape();
    Object.assign(root.dataset, {
      rendered: String(nDraws),
      pixel: `${y},${x}`,
      selectionCount: String(selection.length),
      shape: `${ny},${nx}`,
      factor: String(factor()),
      mode: model.get("mode"),
      testid: model.get("_dom_id") || "",
      renderT: String(nowMs()),
    });
    updateReadout();
  }

  // ---------------------------------------------------------------- decorations
  function updateChrome() {
    setText(title, model.get("title") || "");
    title.style.display = model.get("title") ? "" : "none";
    toolbar.style.display = model.get("show_toolbar") ? "" : "none";
    showMode(toolbar, model.get("mode"));
    colorbar.show(!!(model.get("show_colorbar") && img && !rgba), model.get("colormap"),
      model.get("clim"));
    canvas.style.cursor = model.get("mode") === "pixel" ? "crosshair" : "cell";
  }

  function valueAt(y, x) {
    const f = factor();
    const [hy, hx] = displayShape();
    const by = Math.floor(y / f), bx = Math.floor(x / f);
    if (by < 0 || bx < 0 || by >= hy || bx >= hx) return "";
    if (rgba) {
      const k = 4 * (by * hx + bx);
      return `rgb ${rgba.data[k]},${rgba.data[k + 1]},${rgba.data[k + 2]}`;
    }
    if (img) {
      const v = img.data[by * hx + bx];
      return Number.isFinite(v) ? `${f > 1 ? "≈" : ""}${formatNumber(v, 4)}` : "NaN";
    }
    return "";
  }

  function updateReadout() {
    const [ny] = fullShape();
    if (!ny) { setText(readout, ""); return; }
    const [y, x] = hoverPix || model.get("pixel") || [0, 0];
    const ps = model.get("pixel_size");
    const unit = model.get("unit");
    const sel = selection.length ? `   ${selection.length} selected` : "";
    setText(readout, `(${y}, ${x}) = ${valueAt(y, x)}\n` +
      `(${formatNumber(y * ps, 4)}, ${formatNumber(x * ps, 4)}) ${unit}${sel}`);
  }

  // ---------------------------------------------------------------- sending
  // A view tied to a Selection (`_tied`) leaves sending to it: the selection's front-end relay
  // sends one message for all its views and the kernel sets this view's traits from it.
  const sendPixel = throttle(() => model.save_changes(), 30);

  function setPixel(y, x) {
    const [cy, cx] = model.get("pixel") || [-1, -1];
    if (cy === y && cx === x) return;
    model.set("pixel", [y, x]);
    if (!model.get("_tied")) sendPixel();
  }

  function setSelection(indices) {
    selection = indices;
    model.set("selection", encodeArray(indices));
    if (!model.get("_tied")) model.save_changes();
    paintSelection();
    composite();
  }

  // ---------------------------------------------------------------- pointer
  // continuous full-resolution coordinates [x, y] under the pointer
  function pointOf(event) {
    const [fx, fy] = eventFraction(event, canvas);
    const [ey, ex] = extent();
    const [yc, xc] = fractionToContinuous(fx, fy, ey, ex);
    return [xc, yc];
  }

  // the pixel [y, x] that holds a continuous point, clamped inside the image
  function pixelAt([xc, yc]) {
    const [ny, nx] = fullShape();
    return [Math.min(Math.max(0, Math.floor(yc)), ny - 1), Math.min(Math.max(0, Math.floor(xc)), nx - 1)];
  }

  function onDown(event) {
    const [ny] = fullShape();
    if (!ny || event.button !== 0) return;
    capturePointer(canvas, event);
    const kind = gestureKind(model.get("mode"), event, true);
    drag = new Gesture(kind, event.clientX, event.clientY, pointOf(event), event.ctrlKey || event.metaKey);
    if (kind === "pixel") setPixel(...pixelAt(drag.start));
    event.preventDefault();
  }

  const scheduleComposite = coalesce(composite);

  function onMove(event) {
    const [ny] = fullShape();
    if (!ny) return;
    const at = pointOf(event);
    hoverPix = pixelAt(at);
    if (!drag) {
      updateReadout();
      return;
    }
    drag.move(event.clientX, event.clientY, at);
    if (drag.kind === "pixel") setPixel(...hoverPix);
    scheduleComposite();
  }

  function onUp(event) {
    if (!drag) return;
    const result = drag.result();
    drag = null;
    releasePointer(canvas, event);
    const [ny, nx] = fullShape();
    if (result.kind === "click" || result.kind === "pixel") {
      setPixel(...pixelAt(result.at));
      sendPixel.flush();
      composite();
      return;
    }
    let idx;
    if (result.kind === "rect") {
      const [ya, xa] = pixelAt(result.start), [yb, xb] = pixelAt(result.end);
      idx = rectIndices(ya, xa, yb, xb, ny, nx);
    } else {
      idx = polygonIndices(result.xs, result.ys, ny, nx);
    }
    setSelection(result.add ? unionSorted(selection, idx) : idx);
  }

  function onLeave() {
    hoverPix = null;
    updateReadout();
  }

  function onKey(event) {
    if (event.key !== "Escape") return;
    const action = escapeAction(drag, selection.length);
    if (action === "cancel") { drag = null; composite(); }
    if (action === "clear") setSelection(new Int32Array(0));
  }

  const unlisten = listen(canvas, {
    pointerdown: onDown, pointermove: onMove, pointerup: onUp, pointercancel: onUp,
    pointerleave: onLeave, keydown: onKey,
  });

  // ---------------------------------------------------------------- model events
  let dirtyImage = true, dirtySel = true;
  const redraw = coalesce(() => {
    if (dirtyImage) { decodeData(); paintImage(); }
    if (dirtySel) { decodeSelection(); paintSelection(); }
    dirtyImage = dirtySel = false;
    updateChrome();
    composite();
  });
  const onImage = () => { dirtyImage = true; dirtySel = true; redraw(); };
  const onSel = () => { dirtySel = true; redraw(); };
  const onColors = () => { dirtyImage = true; redraw(); };
  model.on("change:_data", onImage);
  model.on("change:_rgba", onImage);
  model.on("change:_factor", onImage);
  model.on("change:shape", onImage);
  model.on("change:colormap", onColors);
  model.on("change:clim", onColors);
  model.on("change:selection", onSel);
  model.on("change:overlay_color", onSel);
  model.on("change:overlay_alpha", onSel);
  for (const name of ["pixel", "window", "display_size", "pixel_size", "unit", "title", "mode",
    "show_scalebar", "show_crosshair", "show_colorbar", "show_toolbar", "_dom_id"]) {
    model.on(`change:${name}`, redraw);
  }

  makeToolbar(toolbar, model, MODES,
    [{ ...CLEAR_ACTION, onclick: () => setSelection(new Int32Array(0)) }]);
  redraw();

  return () => {
    sendPixel.cancel();
    unlisten();
  };
}

export default { render };
