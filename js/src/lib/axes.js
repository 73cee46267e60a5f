// Axes around a plot area: nice ticks with labels, axis labels and a frame.
//
// axisTicks() is the pure part (which values, where, with which text); drawAxes() draws
// them on a 2-D canvas context whose transform is in CSS pixels.

import { niceStep, niceTicks } from "./geometry.js";

/** Text of tick value `v` on an axis with tick spacing `step`: as many decimals as the step. */
export function tickLabel(v, step) {
  if (v === 0) return "0";
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (Math.abs(v) >= 1e5 || (step < 1e-4 && v !== 0)) return v.toExponential(2);
  return v.toFixed(Math.min(10, digits));
}

/**
 * About `n` nice ticks over the values from `lo` to `hi` (either order): [{value, pos, label}],
 * where pos = toPos(value) is the tick's position along the axis in CSS pixels.
 */
export function axisTicks(lo, hi, n, toPos) {
  const step = niceStep(Math.abs(hi - lo), n);
  return niceTicks(lo, hi, n).map((value) => ({ value, pos: toPos(value), label: tickLabel(value, step) }));
}

/**
 * Draw a frame around the plot box {left, top, width, height}, the x ticks below it and the
 * y ticks left of it (tick positions relative to the box), `xlabel` centred at `bottom` CSS
 * pixels below the box and `ylabel` rotated at the left edge, in the colour `color`.
 */
export function drawAxes(ctx, box, xTicks, yTicks, { xlabel = "", ylabel = "", bottom = 34, color = "#222" } = {}) {
  const { left, top, width, height } = box;
  ctx.strokeStyle = "rgba(128,128,128,0.8)";
  ctx.lineWidth = 1;
  ctx.strokeRect(left - 0.5, top - 0.5, width + 1, height + 1);
  ctx.fillStyle = color;
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of xTicks) {
    ctx.fillRect(left + t.pos - 0.5, top + height, 1, 4);
    ctx.fillText(t.label, left + t.pos, top + height + 6);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of yTicks) {
    ctx.fillRect(left - 4, top + t.pos - 0.5, 4, 1);
    ctx.fillText(t.label, left - 6, top + t.pos);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(xlabel, left + width / 2, top + height + bottom);
  ctx.save();
  ctx.translate(10, top + height / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(ylabel, 0, 0);
  ctx.restore();
}
