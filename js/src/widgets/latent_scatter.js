// LatentScatter: anywidget front end of eelswidgets.widgets.LatentScatter.
//
// Points arrive once as float32 buffers (x, y, color) with the int32 pixel of every point.
// Brush (rectangle) and lasso selections are hit-tested here in data space and sent back as
// *pixel* indices plus the region itself (selection_region); a pixel selection set from Python
// highlights the points of those pixels. Pan (drag in pan mode), zoom (wheel), reset (double
// click). The points are drawn by WebGL or, where WebGL is software-emulated, by a Canvas2D
// renderer; axes, the rubber band and the current-pixel rings are on a 2-D overlay.

import { axisTicks, drawAxes as drawAxesOn } from "../lib/axes.js";
import { packRGBA, packedColors } from "../lib/colormaps.js";
import { decodeArray, encodeArray } from "../lib/codec.js";
import { makeColorbar } from "../lib/colorbar.js";
import {
  capturePointer, coalesce, ensureStyle, h, listen, nowMs, releasePointer, setText, sizeCanvas,
} from "../lib/dom.js";
import {
  dataBounds, dataToScreen, formatNumber, nearestPoint, panView, pixelsToPointMask,
  pointsInPolygon, pointsInRect, pointsOfPixel, pointsToPixels, screenToData, unionSorted,
  zoomView,
} from "../lib/geometry.js";
import { Gesture, escapeAction, selectionRegion } from "../lib/gesture.js";
import { CLEAR_ACTION, makeToolbar, showMode } from "../lib/toolbar.js";
import {
  CanvasRenderer, STATE_DIM, STATE_HIDDEN, STATE_NORMAL, STATE_SELECTED, createRenderer,
} from "../lib/scatter_renderers.js";

const MARGIN = { left: 48, right: 10, top: 8, bottom: 36 };
const MODES = ["rect", "lasso", "pan"];
const SINGLE_COLOR = [49, 104, 180];

function autoPointSize(n) {
  if (n <= 2000) return 5;
  if (n <= 20000) return 3;
  return 2;
}

function render({ model, el }) {
  ensureStyle();
  const title = h("div", { className: "ew-title" });
  const toolbar = h("div", { className: "ew-toolbar" });
  const axes = h("canvas", { className: "ew-scatter-axes" });
  let points = h("canvas", { className: "ew-scatter-points" });
  const overlay = h("canvas", { className: "ew-scatter-overlay", tabIndex: 0 });
  const plot = h("div", { className: "ew-scatter-plot" }, points, overlay);
  const stage = h("div", { className: "ew-stage" }, axes, plot);
  const colorbar = makeColorbar();
  const readout = h("span", { className: "ew-readout" });
  const root = h("div", { className: "ew-widget ew-latent-scatter", dataset: { rendered: "0" } },
    title, toolbar, stage, colorbar.footer, readout);
  for (const c of [points, overlay]) Object.assign(c.style, { position: "absolute", left: "0", top: "0" });
  Object.assign(axes.style, { position: "absolute", left: "0", top: "0" });
  Object.assign(plot.style, { position: "absolute", left: `${MARGIN.left}px`, top: `${MARGIN.top}px`, background: "var(--jp-layout-color0, #fff)" });
  el.appendChild(root);
  const octx = overlay.getContext("2d");
  const actx = axes.getContext("2d");

  let renderer = null;
  let x = new Float32Array(0), y = new Float32Array(0);
  let pointPixel = new Int32Array(0);
  let colorValues = null;
  let state = new Uint8Array(0); // per point: normal / dim / selected / hidden
  let selection = new Int32Array(0); // pixels
  let nSelectedPoints = 0;
  let currentPoints = new Int32Array(0);
  let view = { x0: -1, x1: 1, y0: -1, y1: 1 };
  let home = view;
  let P = 360, dpr = 1; // plot side (CSS px), device pixel ratio
  let nDraws = 0;
  let drag = null; // current Gesture (points in data coordinates [x, y])
  let hover = -1;
  let nValid = 0;

  // ---------------------------------------------------------------- renderer
  function makeRenderer() {
    const pref = model.get("renderer") || "auto";
    if (renderer) renderer.destroy();
    const fresh = h("canvas", { className: "ew-scatter-points" });
    Object.assign(fresh.style, { position: "absolute", left: "0", top: "0" });
    plot.replaceChild(fresh, points);
    points = fresh;
    sizeCanvas(points, P, P);
    renderer = createRenderer(points, pref);
    if (!renderer) {
      const again = h("canvas", { className: "ew-scatter-points" });
      Object.assign(again.style, { position: "absolute", left: "0", top: "0" });
      plot.replaceChild(again, points);
      points = again;
      sizeCanvas(points, P, P);
      renderer = new CanvasRenderer(points);
    }
    renderer.setPoints(x, y);
    renderer.setColors(colors());
    renderer.setState(state);
    root.dataset.renderer = renderer.kind;
  }

  // ---------------------------------------------------------------- data
  function decode(name, fallback) {
    try {
      const a = decodeArray(model.get(name));
      return a ? a.data : fallback;
    } catch (err) {
      console.error(`LatentScatter: bad ${name} buffer`, err);
      return fallback;
    }
  }

  function loadPoints() {
    x = decode("x", new Float32Array(0));
    y = decode("y", new Float32Array(0));
    const n = Math.min(x.length, y.length);
    const pp = decode("point_pixel", null);
    if (pp && pp.length >= n) {
      pointPixel = pp;
    } else {
      pointPixel = new Int32Array(n);
      for (let i = 0; i < n; i++) pointPixel[i] = i;
    }
    home = dataBounds(x, y, 0.05);
    view = home;
  }

  let colorCache = null;
  function colors() {
    if (colorCache) return colorCache;
    const n = Math.min(x.length, y.length);
    colorValues = decode("color", null);
    if (colorValues && colorValues.length >= n) {
      const [lo, hi] = model.get("clim");
      colorCache = packedColors(colorValues.subarray(0, n), lo, hi, model.get("colormap"));
    } else {
      colorValues = null;
      colorCache = new Uint32Array(n).fill(packRGBA(...SINGLE_COLOR, 255));
    }
    return colorCache;
  }

  function updateState() {
    const n = Math.min(x.length, y.length);
    state = new Uint8Array(n);
    selection = decode("selection", new Int32Array(0));
    const mask = selection.length ? pixelsToPointMask(selection, pointPixel.subarray(0, n)) : null;
    nSelectedPoints = 0;
    nValid = 0;
    for (let i = 0; i < n; i++) {
      const a = x[i], b = y[i];
      if (a - a !== 0 || b - b !== 0) { state[i] = STATE_HIDDEN; continue; }
      nValid++;
      if (!mask) state[i] = STATE_NORMAL;
      else if (mask[i]) { state[i] = STATE_SELECTED; nSelectedPoints++; }
      else state[i] = STATE_DIM;
    }
    renderer.setState(state);
  }

  function updateCurrent() {
    const n = Math.min(x.length, y.length);
    currentPoints = pointsOfPixel(model.get("current"), pointPixel.subarray(0, n));
  }

  // ---------------------------------------------------------------- drawing
  function layout() {
    P = Math.max(16, model.get("display_size") || 360);
    const W = MARGIN.left + P + MARGIN.right, H = MARGIN.top + P + MARGIN.bottom;
    stage.style.width = `${W}px`;
    stage.style.height = `${H}px`;
    root.style.width = `${W + 4}px`;
    plot.style.width = `${P}px`;
    plot.style.height = `${P}px`;
    sizeCanvas(axes, W, H);
    dpr = sizeCanvas(points, P, P);
    sizeCanvas(overlay, P, P);
  }

  function pointSizeDevice() {
    const s = model.get("point_size") || autoPointSize(nValid);
    return s * dpr;
  }

  function drawPoints() {
    const t0 = performance.now();
    renderer.draw(view, pointSizeDevice());
    const ms = performance.now() - t0;
    nDraws += 1;
    drawAxes();
    drawOverlay();
    const cur = model.get("current");
    const [ny, nx] = model.get("image_shape") || [0, 0];
    Object.assign(root.dataset, {
      rendered: String(nDraws),
      pixel: cur < 0 ? "" : nx ? `${Math.floor(cur / nx)},${cur % nx}` : String(cur),
      current: String(cur),
      selectionCount: String(selection.length),
      selectedPoints: String(nSelectedPoints),
      points: String(nValid),
      view: [view.x0, view.x1, view.y0, view.y1].join(","),
      mode: model.get("mode"),
      drawMs: ms.toFixed(2),
      testid: model.get("_dom_id") || "",
      renderT: String(nowMs()),
    });
  }

  function drawAxes() {
    actx.setTransform(dpr, 0, 0, dpr, 0, 0);
    actx.clearRect(0, 0, axes.width, axes.height);
    const xTicks = axisTicks(view.x0, view.x1, 5, (t) => dataToScreen(view, t, 0, P, P)[0]);
    const yTicks = axisTicks(view.y0, view.y1, 5, (t) => dataToScreen(view, 0, t, P, P)[1]);
    drawAxesOn(actx, { left: MARGIN.left, top: MARGIN.top, width: P, height: P }, xTicks, yTicks, {
      xlabel: model.get("xlabel") || "", ylabel: model.get("ylabel") || "", bottom: MARGIN.bottom,
      color: getComputedStyle(root).color || "#333",
    });
  }

  function ring(ctx, i, radius, inner, outer) {
    const [sx, sy] = dataToScreen(view, x[i], y[i], P, P);
    ctx.beginPath();
    ctx.arc(sx * dpr, sy * dpr, radius * dpr, 0, 2 * Math.PI);
    ctx.lineWidth = 3.5 * dpr;
    ctx.strokeStyle = outer;
    ctx.stroke();
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeStyle = inner;
    ctx.stroke();
  }

  function drawOverlay() {
    octx.setTransform(1, 0, 0, 1, 0, 0);
    octx.clearRect(0, 0, overlay.width, overlay.height);
    const r = Math.max(4, pointSizeDevice() / dpr / 2 + 3);
    for (const i of currentPoints) ring(octx, i, r + 1, "#ff2d55", "rgba(255,255,255,0.9)");
    if (hover >= 0 && hover < x.length) ring(octx, hover, r, "#111", "rgba(255,255,255,0.8)");
    const shape = drag && drag.outline();
    if (shape) {
      octx.save();
      octx.setLineDash([4 * dpr, 3 * dpr]);
      octx.lineWidth = 1.5 * dpr;
      octx.strokeStyle = "#1976d2";
      octx.fillStyle = "rgba(25,118,210,0.08)";
      octx.beginPath();
      if (shape.kind === "rect") {
        const [ax, ay] = dataToScreen(view, ...shape.start, P, P);
        const [bx, by] = dataToScreen(view, ...shape.end, P, P);
        octx.rect(Math.min(ax, bx) * dpr, Math.min(ay, by) * dpr, Math.abs(bx - ax) * dpr, Math.abs(by - ay) * dpr);
      } else {
        shape.xs.forEach((vx, i) => {
          const [sx, sy] = dataToScreen(view, vx, shape.ys[i], P, P);
          if (i === 0) octx.moveTo(sx * dpr, sy * dpr);
          else octx.lineTo(sx * dpr, sy * dpr);
        });
        octx.closePath();
      }
      octx.fill();
      octx.stroke();
      octx.restore();
    }
  }

  function updateChrome() {
    setText(title, model.get("title") || "");
    title.style.display = model.get("title") ? "" : "none";
    showMode(toolbar, model.get("mode"));
    colorbar.show(!!colorValues, model.get("colormap"), model.get("clim"));
    overlay.style.cursor = model.get("mode") === "pan" ? "grab" : "crosshair";
    updateReadout();
  }

  function pixelLabel(p) {
    const [, nx] = model.get("image_shape") || [0, 0];
    return nx ? `(${Math.floor(p / nx)}, ${p % nx})` : `#${p}`;
  }

  function updateReadout() {
    const sel = selection.length ? `${selection.length} px selected (${nSelectedPoints} points)` : "";
    if (hover >= 0 && hover < x.length) {
      const v = colorValues ? `  value ${formatNumber(colorValues[hover], 4)}` : "";
      setText(readout, `${model.get("xlabel")}=${formatNumber(x[hover], 4)}  ` +
        `${model.get("ylabel")}=${formatNumber(y[hover], 4)}${v}\npixel ${pixelLabel(pointPixel[hover])}`);
    } else {
      setText(readout, `${nValid} points\n${sel}`);
    }
  }

  // ---------------------------------------------------------------- toolbar
  function resetView() {
    view = home;
    scheduleDraw();
  }

  // ---------------------------------------------------------------- sending
  function sendSelection(pixels, region) {
    model.set("selection", encodeArray(pixels));
    model.set("selection_region", region);
    model.save_changes();
  }

  // ---------------------------------------------------------------- pointer
  function local(event) {
    const r = overlay.getBoundingClientRect();
    return [((event.clientX - r.left) * P) / r.width, ((event.clientY - r.top) * P) / r.height];
  }

  function onDown(event) {
    if (event.button !== 0) return;
    capturePointer(overlay, event);
    const [sx, sy] = local(event);
    const mode = model.get("mode");
    drag = new Gesture(mode, event.clientX, event.clientY, screenToData(view, sx, sy, P, P),
      event.ctrlKey || event.metaKey);
    press = { view, sx, sy };
    if (mode === "pan") overlay.style.cursor = "grabbing";
    event.preventDefault();
  }

  let hoverPending = false;
  let press = null; // view and screen position of the last press (pan, click)
  function onMove(event) {
    if (!drag) {
      if (hoverPending) return;
      hoverPending = true;
      const ev = { clientX: event.clientX, clientY: event.clientY };
      requestAnimationFrame(() => {
        hoverPending = false;
        const [sx, sy] = local(ev);
        const i = nearestPoint(x, y, view, P, P, sx, sy, 6);
        if (i !== hover) {
          hover = i;
          drawOverlay();
        }
        updateReadout();
      });
      return;
    }
    const [sx, sy] = local(event);
    if (!drag.move(event.clientX, event.clientY, screenToData(view, sx, sy, P, P))) return;
    if (drag.kind === "pan") {
      view = panView(press.view, sx - press.sx, sy - press.sy, P, P);
      scheduleDraw();
      return;
    }
    scheduleOverlay();
  }

  function onUp(event) {
    if (!drag) return;
    const result = drag.result();
    drag = null;
    releasePointer(overlay, event);
    overlay.style.cursor = model.get("mode") === "pan" ? "grab" : "crosshair";
    if (result.kind === "click") {
      // a click: pick the nearest point as the current pixel
      const i = nearestPoint(x, y, view, P, P, press.sx, press.sy, 6);
      if (i >= 0) {
        model.set("current", pointPixel[i]);
        model.save_changes();
      }
      drawOverlay();
      return;
    }
    if (result.kind === "pan") return;
    const region = selectionRegion(result);
    const pts = region.kind === "rect"
      ? pointsInRect(x, y, region.x0, region.x1, region.y0, region.y1)
      : pointsInPolygon(x, y, region.xs, region.ys);
    let pixels = pointsToPixels(pts, pointPixel);
    if (result.add) pixels = unionSorted(selection, pixels);
    sendSelection(pixels, region);
  }

  function onWheel(event) {
    event.preventDefault();
    const [sx, sy] = local(event);
    const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.002));
    view = zoomView(view, sx, sy, P, P, factor);
    scheduleDraw();
  }

  function onLeave() {
    if (hover !== -1) {
      hover = -1;
      drawOverlay();
    }
    updateReadout();
  }

  function onKey(event) {
    if (event.key !== "Escape") return;
    const action = escapeAction(drag, selection.length);
    if (action === "cancel") { drag = null; drawOverlay(); }
    if (action === "clear") sendSelection(new Int32Array(0), null);
  }

  const unlisten = listen(overlay, {
    pointerdown: onDown, pointermove: onMove, pointerup: onUp, pointercancel: onUp,
    pointerleave: onLeave, wheel: [onWheel, { passive: false }], dblclick: resetView,
    keydown: onKey,
  });

  // ---------------------------------------------------------------- model events
  let frame = 0;
  function scheduleDraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; drawPoints(); });
  }
  let oframe = 0;
  function scheduleOverlay() {
    if (oframe) return;
    oframe = requestAnimationFrame(() => { oframe = 0; drawOverlay(); });
  }

  const dirty = { points: true, colors: true, state: true, current: true, renderer: true, layout: true };
  const update = coalesce(() => {
    const t0 = performance.now();
    if (dirty.layout) layout();
    if (dirty.points) { loadPoints(); dirty.colors = true; dirty.state = true; dirty.current = true; }
    if (dirty.colors) colorCache = null;
    if (dirty.renderer) {
      makeRenderer(); // uploads points, colours and state
    } else {
      if (dirty.points) renderer.setPoints(x, y);
      if (dirty.colors) renderer.setColors(colors());
    }
    if (dirty.state) updateState();
    if (dirty.current) updateCurrent();
    for (const k of Object.keys(dirty)) dirty[k] = false;
    updateChrome();
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    drawPoints();
    root.dataset.updateMs = (performance.now() - t0).toFixed(2);
  });
  const mark = (...keys) => () => { for (const k of keys) dirty[k] = true; update(); };
  model.on("change:x", mark("points"));
  model.on("change:y", mark("points"));
  model.on("change:point_pixel", mark("points"));
  model.on("change:color", mark("colors"));
  model.on("change:colormap", mark("colors"));
  model.on("change:clim", mark("colors"));
  model.on("change:selection", mark("state"));
  model.on("change:current", mark("current"));
  model.on("change:renderer", mark("renderer"));
  model.on("change:display_size", mark("layout"));
  for (const name of ["mode", "title", "xlabel", "ylabel", "point_size", "image_shape", "_dom_id"]) {
    model.on(`change:${name}`, update);
  }

  makeToolbar(toolbar, model, MODES, [
    { label: "⟲ reset view", title: "show all points (double click)", className: "ew-reset",
      onclick: resetView },
    { ...CLEAR_ACTION, onclick: () => sendSelection(new Int32Array(0), null) },
  ]);
  update();

  return () => {
    if (frame) cancelAnimationFrame(frame);
    if (oframe) cancelAnimationFrame(oframe);
    unlisten();
    if (renderer) renderer.destroy();
  };
}

export default { render };
