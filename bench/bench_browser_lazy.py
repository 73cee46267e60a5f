"""Browser click -> spectrum drawn on a lazy ``.zarr`` cube against the same cube in memory.

Real JupyterLab + headless Chromium, as ``bench_browser.py`` (its data cell, its in-memory
``SpectrumImageExplorer`` and its baseline widget, with its ``click_latency``): the cube
(256 x 256 x 1024, ``--quick`` 64 x 64 x 256) is also saved to a ``.zarr`` store (default
storage chunks, in a temporary folder removed afterwards) and loaded with
``ew.load(path, lazy=True)``; a second explorer on it is clicked the same way. Every click on
the lazy explorer reads its spectrum from the file. Reported: median/p90 ms from pointer-down
to the spectrum's path redrawn (statistics over the medians of blocks of clicks, the three
kinds alternated block by block so that all see the same machine load) and the ratio
lazy / in memory.

Run: ``PYTHONPATH=. python bench/bench_browser_lazy.py [--quick] [--out FILE]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import emit, environment, parse_args  # noqa: E402
from bench_browser import _stats, cells, click_latency  # noqa: E402
from browser.harness import (  # noqa: E402
    chromium,
    lab_server,
    open_notebook,
    wait_rendered,
    write_notebook,
)

LAZY_CELL = """import tempfile, os, shutil
_tmp = tempfile.mkdtemp(prefix='bench_browser_lazy_')
ew.SpectrumImage(data, E, name='lazy cube').save(os.path.join(_tmp, 'cube.zarr'))
lazy = ew.load(os.path.join(_tmp, 'cube.zarr'), lazy=True)
lz = SpectrumImageExplorer(lazy, progress=False)
W.Box([lz]).add_class('bench-lazy')"""


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    n, ne = (64, 256) if args.quick else (256, 1024)
    blocks, per_block = (2, 5) if args.quick else (4, 10)
    data_cell, sx_cell, baseline_cell = cells(n, ne)[:3]
    result = {"benchmark": "browser_lazy", "quick": args.quick, "cube": [n, n, ne],
              "environment": environment()}
    t_start = time.perf_counter()
    with lab_server() as srv, chromium() as browser:
        name = "bench_browser_lazy.ipynb"
        write_notebook(srv["root"], name, [data_cell, sx_cell, LAZY_CELL, baseline_cell])
        nbp = open_notebook(browser, srv, name, viewport=(1500, 1300))
        page = nbp.page
        ids = nbp.kjson("dict(sx=sx.image_view.model_id, lz=lz.image_view.model_id, "
                        "chunks=list(lazy.chunks), storage=list(lazy.storage.block))")
        wait_rendered(page, ids["sx"])
        wait_rendered(page, ids["lz"])
        targets = {
            "in_memory": (f"[data-testid='{ids['sx']}'] canvas",
                          ".ew-si-explorer .ew-spectrum-view path.line"),
            "lazy": (f"[data-testid='{ids['lz']}'] canvas",
                     ".bench-lazy .ew-spectrum-view path.line"),
            "baseline": (".bl-canvas", ".bl-figure path.line"),
        }
        runs: dict[str, list[float]] = {k: [] for k in targets}
        for _ in range(blocks):   # medians of blocks of clicks, the three kinds alternated
            for key, (canvas, path) in targets.items():
                runs[key].append(click_latency(page, canvas, path, per_block, (n, n))["median"])
        result.update({f"{k}_click_to_spectrum_ms": _stats(v) for k, v in runs.items()})
        result["lazy_tile_reads"] = nbp.kjson("lz.cube.reader.tile_reads")
        result["lazy_chunk_reads"] = nbp.kjson("lz.cube.reader.reads")
        result["lazy_chunks"], result["storage_chunks"] = ids["chunks"], ids["storage"]
        nbp.kjson("shutil.rmtree(_tmp)")
        result["console_errors"] = nbp.real_errors()
        page.context.close()
    med = {k: result[f"{k}_click_to_spectrum_ms"]["median"] for k in targets}
    result["ratio_lazy_over_in_memory"] = round(med["lazy"] / med["in_memory"], 2)
    result["within_2x"] = med["lazy"] <= 2 * med["in_memory"]
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
