// The colour bar under a colour-mapped view: gradient of the colormap between its limits.

import { cssGradient } from "./colormaps.js";
import { formatNumber } from "./geometry.js";
import { h, setText } from "./dom.js";

/**
 * A footer with the low limit, the gradient and the high limit. Returns {footer, show}:
 * show(visible, colormap, clim) hides it or draws `colormap` between clim = [lo, hi].
 */
export function makeColorbar() {
  const bar = h("div", { className: "ew-colorbar" });
  const lo = h("span", { className: "ew-clim-lo" });
  const hi = h("span", { className: "ew-clim-hi" });
  const footer = h("div", { className: "ew-footer" }, lo, bar, hi);
  function show(visible, colormap, clim) {
    footer.style.display = visible ? "" : "none";
    if (!visible) return;
    bar.style.background = cssGradient(colormap);
    setText(lo, formatNumber(clim[0]));
    setText(hi, formatNumber(clim[1]));
  }
  return { footer, show };
}
