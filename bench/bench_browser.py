"""Browser benchmark of the explorers: real JupyterLab + headless Chromium, JSON out.

Measured on a 256 x 256 x 1024 cube (``--quick``: 64 x 64 x 256):

- **click -> spectrum drawn**: pointer-down on the SpectrumImageExplorer's image until the
  bqplot path of the spectrum changes (MutationObserver), median over clicks; compared with a
  baseline in the same run: a plain canvas anywidget whose click makes a Python observer set the
  same 1024-point bqplot line (the minimal round trip any such widget pays);
- **brush over 65k latent points -> map highlight drawn**: pointer-up of a brush on a
  LatentExplorer's scatter (256 x 256 = 65,536 points) until a latent map has redrawn its
  selection overlay (front-end links, no kernel in the loop); compared with the click baseline;
- **250k-point scatter, first frame**: from asking the kernel for a new 250,000-point
  LatentScatter until the browser has drawn it;
- **memory of the tab** (CDP ``Performance.getMetrics`` JSHeapUsedSize after a forced GC) with
  every explorer open, against the same page before the cells ran.

Run: ``python bench/bench_browser.py [--quick] [--out bench/results/browser.json]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import emit, environment, parse_args  # noqa: E402
from browser.harness import (  # noqa: E402
    chromium,
    kjson,
    lab_server,
    open_notebook,
    view,
    wait_rendered,
    write_notebook,
)

TARGETS = {"click_to_spectrum_ms": 50.0, "brush_to_highlight_ms": 100.0,
           "scatter_250k_first_frame_ms": 1000.0}


def cells(n: int, ne: int) -> list[str]:
    return [
        # data: a lazy cube object (no SpectrumImage copy of 256 MB), plus a tiny model
        f"""import numpy as np, anywidget, traitlets, bqplot, ipywidgets as W, torch
torch.set_num_threads(1)
import eelswidgets as ew
from eelswidgets.widgets import (SpectrumImageExplorer, LatentExplorer, DecompositionExplorer,
                                 Im2SpecExplorer, LatentScatter)
N, NE = {n}, {ne}
E = np.linspace(0.1, 3.0, NE)
yy, xx = np.mgrid[0:N, 0:N] / N
rng = np.random.default_rng(0)
data = np.empty((N, N, NE), np.float32)
for r in range(N):   # two plasmon-like peaks whose energy and weight vary across the field
    c1 = (0.6 + 0.8 * xx[r])[:, None]; c2 = (1.8 + 0.5 * yy[r])[:, None]
    data[r] = (100 * np.exp(-((E - c1) / 0.08) ** 2) * (1 + yy[r])[:, None]
               + 60 * np.exp(-((E - c2) / 0.12) ** 2) * (1 + xx[r])[:, None]
               + rng.normal(0, 3, (N, NE)))
class Cube:
    pass
cube = Cube(); cube.data, cube.energy, cube.haadf = data, E, (xx + yy).astype(np.float32)
cube.pixel_size, cube.pixel_unit, cube.name = 0.5, "nm", "bench cube"
W1 = np.exp(-((E - 0.9) / 0.3) ** 2); W2 = np.exp(-((E - 2.0) / 0.3) ** 2)
P = np.stack([W1 / np.linalg.norm(W1), W2 / np.linalg.norm(W2)], 1).astype(np.float32)
class Projection:   # stand-in 2-latent model: encode = projection, decode = back-projection
    latent_dim = 2
    def encode(self, si):
        return np.einsum('yxe,ed->yxd', si.data, P) / 100
    def decode(self, z):
        return (np.asarray(z, np.float32) * 100) @ P.T
class Dec:          # stand-in 4-component decomposition of the same cube
    method = 'nmf'; scree = np.geomspace(0.5, 1e-4, 20)
    spectra = np.stack([W1, W2, W1 * W2, np.ones_like(E)]).astype(np.float32)
    maps = np.stack([xx, yy, xx * yy, np.ones_like(xx)]).astype(np.float32)
small = ew.datasets.nanocube_array(seed=0, shape=(32, 32), n_energy=64)
tr = np.zeros((32, 32), bool); tr[:, :16] = True
im2 = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(small, train=tr, progress=False)
""",
        "sx = SpectrumImageExplorer(cube)\nsx",
        # baseline: a bare canvas whose click sets the same bqplot line from Python
        """class Baseline(anywidget.AnyWidget):
    _esm = '''export default { render({ model, el }) {
      const c = document.createElement('canvas'); c.width = 256; c.height = 256;
      c.className = 'bl-canvas'; c.style.width = '256px'; c.style.height = '256px';
      el.appendChild(c); const g = c.getContext('2d');
      g.fillStyle = '#88a'; g.fillRect(0, 0, 256, 256);
      c.addEventListener('pointerdown', (e) => { const r = c.getBoundingClientRect();
        model.set('click', [Math.floor(e.clientY - r.top), Math.floor(e.clientX - r.left)]);
        model.save_changes(); });
    } }'''
    click = traitlets.List([0, 0]).tag(sync=True)
bl = Baseline()
bxs, bys = bqplot.LinearScale(), bqplot.LinearScale()
bline = bqplot.Lines(x=E.astype(np.float32), y=data[0, 0], scales={'x': bxs, 'y': bys})
bfig = bqplot.Figure(marks=[bline], animation_duration=0,
                     layout=W.Layout(width='460px', height='300px'))
bfig.add_class('bl-figure')
def _bl(change):
    y, x = change['new']   # canvas pixel (0..255) -> cube pixel, like an image view
    bline.y = data[min(y * N // 256, N - 1), min(x * N // 256, N - 1)]
bl.observe(_bl, names='click')
W.HBox([bl, bfig])""",
        "lx = LatentExplorer(cube, Projection(), manifold_grid=6)\nlx",
        "dx = DecompositionExplorer(cube, Dec())\ndx",
        "ix = Im2SpecExplorer(small, im2, train=tr)\nix",
        "big = W.VBox([])\nbig",
    ]


WATCH = """(sel) => {
  window.__mut = [];
  const path = document.querySelector(sel);
  new MutationObserver(() => window.__mut.push(performance.timeOrigin + performance.now()))
    .observe(path, {attributes: true, attributeFilter: ['d']});
}"""
MARK_DOWN = """(sel) => {
  window.__down = [];
  document.querySelector(sel).addEventListener('pointerdown',
    () => window.__down.push(performance.timeOrigin + performance.now()), true);
}"""
MARK_UP = """(sel) => {
  window.__up = [];
  document.querySelector(sel).addEventListener('pointerup',
    () => window.__up.push(performance.timeOrigin + performance.now()), true);
}"""


def _stats(values: list[float]) -> dict:
    v = sorted(values)
    return {"median": round(statistics.median(v), 1), "p90": round(v[int(0.9 * (len(v) - 1))], 1),
            "min": round(v[0], 1), "n": len(v)}


def click_latency(page, canvas_sel: str, path_sel: str, n: int, size: tuple[int, int]) -> dict:
    """Median ms from pointer-down on ``canvas_sel`` to the next change of ``path_sel``."""
    page.locator(canvas_sel).first.scroll_into_view_if_needed()
    page.evaluate(WATCH, path_sel)
    page.evaluate(MARK_DOWN, canvas_sel)
    box = page.locator(canvas_sel).first.bounding_box()
    out = []
    for i in range(n):
        page.wait_for_timeout(150)          # let the previous click's messages drain
        page.evaluate("() => { window.__mut = []; window.__down = []; }")
        fx, fy = 0.1 + 0.8 * ((i * 7) % n) / n, 0.1 + 0.8 * ((i * 3) % n) / n
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_function("() => window.__mut.length > 0 && window.__down.length > 0",
                               timeout=30_000)
        t_down, t_mut = page.evaluate("() => [window.__down[0], window.__mut[0]]")
        out.append(t_mut - t_down)
    return _stats(out)


def brush_latency(page, scatter_id: str, map_id: str, n: int) -> dict:
    """Median ms from the pointer-up of a brush on the scatter to the map's redraw."""
    sc = view(page, scatter_id)
    plot = sc.locator(".ew-scatter-plot")
    plot.scroll_into_view_if_needed()
    overlay_sel = f"[data-testid='{scatter_id}'] .ew-scatter-overlay"
    page.evaluate(MARK_UP, overlay_sel)
    box = plot.bounding_box()
    out, counts = [], []
    for i in range(n):
        page.wait_for_timeout(200)
        before = int(view(page, map_id).get_attribute("data-rendered"))
        page.evaluate("() => { window.__up = []; }")
        a = 0.15 + 0.25 * (i % 4) / 4
        b = 0.55 + 0.35 * ((i * 3) % 5) / 5
        page.mouse.move(box["x"] + a * box["width"], box["y"] + a * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + b * box["width"], box["y"] + b * box["height"], steps=4)
        page.mouse.up()
        wait_rendered(page, map_id, before)
        t_up = page.evaluate("() => window.__up[0]")
        t_draw = float(view(page, map_id).get_attribute("data-render-t"))
        out.append(t_draw - t_up)
        counts.append(int(view(page, map_id).get_attribute("data-selection-count")))
    res = _stats(out)
    res["selected_pixels_median"] = int(statistics.median(counts))
    return res


def scatter_first_frame(page, n_points: int) -> dict:
    """From the request in the kernel to the first drawn frame of an n-point scatter."""
    t0 = page.evaluate("() => performance.timeOrigin + performance.now()")
    mid = kjson(page, f"""(lambda sc: (setattr(big, 'children', [sc]), sc.model_id)[1])(
        LatentScatter(*np.random.default_rng(1).standard_normal((2, {n_points}), np.float32),
                      color=np.random.default_rng(2).random({n_points}, np.float32),
                      display_size=400, title='{n_points} points'))""")
    page.locator(f"[data-testid='{mid}']").scroll_into_view_if_needed()
    wait_rendered(page, mid)
    el = view(page, mid)
    t1 = float(el.get_attribute("data-render-t"))
    return {"ms": round(t1 - t0, 1), "draw_ms": float(el.get_attribute("data-draw-ms")),
            "renderer": el.get_attribute("data-renderer"), "points": n_points,
            "bytes_sent": n_points * 4 * 4}


def heap(page, cdp) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return round(metrics["JSHeapUsedSize"] / 2**20, 1)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    n, ne = (64, 256) if args.quick else (256, 1024)
    reps = 5 if args.quick else 15
    clicks = 10 if args.quick else 40   # medians of 40 clicks: a click is noisier than a brush
    n_big = 20_000 if args.quick else 250_000
    result = {"benchmark": "browser", "quick": args.quick, "cube": [n, n, ne],
              "environment": environment(), "targets_ms": TARGETS}
    t_start = time.perf_counter()
    with lab_server() as srv, chromium() as browser:
        name = "bench_browser.ipynb"
        write_notebook(srv["root"], name, cells(n, ne))
        nbp = open_notebook(browser, srv, name, viewport=(1500, 1300), run_all=False)
        page = nbp.page
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        heap_before = heap(page, cdp)
        t0 = time.perf_counter()
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function("""() => {
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
            return k && k.status === 'idle'; }""")
        result["run_all_s"] = round(time.perf_counter() - t0, 1)
        ids = nbp.kjson("dict(sx=sx.image_view.model_id, lsc=lx.scatter.model_id, "
                        "lmap=lx.map_views['z1'].model_id, n_points=int(lx.scatter.x.size))")
        wait_rendered(page, ids["sx"])
        wait_rendered(page, ids["lsc"])
        result["latent_points"] = ids["n_points"]
        heap_all = heap(page, cdp)
        result["memory_mb"] = {"js_heap_before_cells": heap_before,
                               "js_heap_every_explorer_open": heap_all,
                               "explorers": ["SpectrumImageExplorer 256x256x1024",
                                             "LatentExplorer 65k points",
                                             "DecompositionExplorer 4 maps",
                                             "Im2SpecExplorer 32x32"]}
        sx_canvas = f"[data-testid='{ids['sx']}'] canvas"
        sx_path = ".ew-si-explorer .ew-spectrum-view path.line"
        result["click_to_spectrum_ms"] = click_latency(page, sx_canvas, sx_path, clicks, (n, n))
        result["baseline_click_to_line_ms"] = click_latency(
            page, ".bl-canvas", ".bl-figure path.line", clicks, (256, 256))
        result["brush_to_highlight_ms"] = brush_latency(page, ids["lsc"], ids["lmap"],
                                                        max(5, reps - 5))
        result["scatter_250k_first_frame_ms" if not args.quick else
               "scatter_first_frame_ms"] = scatter_first_frame(page, n_big)
        result["memory_mb"]["js_heap_after_benchmark"] = heap(page, cdp)
        base = result["baseline_click_to_line_ms"]["median"]
        result["ratios_to_baseline_click"] = {
            "click_to_spectrum": round(result["click_to_spectrum_ms"]["median"] / base, 2),
            "brush_to_highlight": round(result["brush_to_highlight_ms"]["median"] / base, 2),
        }
        result["console_errors"] = nbp.real_errors()
        page.context.close()
    checks = {"click_to_spectrum_ms": result["click_to_spectrum_ms"]["median"],
              "brush_to_highlight_ms": result["brush_to_highlight_ms"]["median"]}
    if not args.quick:
        checks["scatter_250k_first_frame_ms"] = result["scatter_250k_first_frame_ms"]["ms"]
    result["meets_targets"] = {k: v <= TARGETS[k] for k, v in checks.items()}
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
