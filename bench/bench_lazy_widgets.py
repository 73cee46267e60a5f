"""Click -> spectrum latency and construction cost of the explorer on a lazy cube vs in memory.

A synthetic low-loss cube is written chunk by chunk to a ``.zarr`` store (as in
``bench_lazy.py``). Then, each case in a fresh Python process, a ``SpectrumImageExplorer`` is
built on it and clicked, in Python: ``ex.selection.pixel = (y, x)``, timed until the spectrum
view's ``y`` trait changes (what a click from the browser sets off in the kernel):

- ``in_memory``: ``ew.load(path)`` (the whole cube in RAM), the baseline;
- ``lazy``: ``ew.load(path, lazy=True)`` (dask chunks of about 64 MiB made of whole storage
  chunks); a click reads its spectrum from the one storage chunk holding it (about 1 MiB by
  default, ``--store-chunks``) and checks it.

Clicks are of three kinds: ``cold`` (a pixel in a dask chunk not read yet), ``near`` (the
next pixel, same storage chunk) and, for the baseline, the same pixels.
The lazy case also clicks alternately with an in-memory explorer in its own process, both
under the same load: cached pixels (``near_interleaved_ms``) and cold ones
(``cold_interleaved_ms``: the lazy reader's chunk cache emptied before each). That in-memory
explorer holds one dask chunk's worth of the cube (computed), so the lazy case never holds the
whole cube (a click indexes one spectrum whatever the cube's size); ``--cases lazy`` then
measures a cube larger than memory against it alone.
Also reported: building the explorer (the overview pass over every chunk for a lazy cube; the
total-intensity image for an in-memory one) and an energy-span change (one chunk-wise pass),
with seconds and peak resident memory above the start (``_common.PeakMemory``) over the cube's
bytes. The store is in the OS page cache after writing, so a cold click measures reading and
checking one chunk, not the disk.

Run with the code to measure on the import path, e.g.
``PYTHONPATH=. python bench/bench_lazy_widgets.py [--quick] [--shape NY NX NE]
[--store-chunks SY SX] [--cases lazy]`` (default 512 x 512 x 1024, a 1 GiB cube, written in
chunks of about 64 MiB, stored in the writer's default storage chunks; ``--store-chunks 128
128`` stores whole dask chunks as before); prints JSON with the ratios lazy / in-memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = ("in_memory", "lazy")
ENERGY_SPAN = (14.0, 16.0)


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="small smoke run (64 x 64 x 256, chunks of 16 x 16 pixels)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 512 512 1024: a 1 GiB cube)")
    p.add_argument("--chunks", type=int, nargs=2, default=None, metavar=("CY", "CX"),
                   help="pixels per chunk (default: about 64 MiB chunks)")
    p.add_argument("--store-chunks", type=int, nargs=2, default=None, metavar=("SY", "SX"),
                   help="pixels per storage chunk (default: the .zarr writer's, about 1 MiB)")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                   help="cases to run (default both; 'lazy' alone for a cube beyond memory)")
    p.add_argument("--clicks", type=int, default=12, help="cold clicks per case (default 12)")
    p.add_argument("--threads", type=int, default=2, help="dask threads (default 2)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _click(ex, pixel) -> float:
    """Seconds from setting the selection's pixel to the spectrum view's new ``y``."""
    done = []
    line = ex.spectrum_view.lines["data"]

    def seen(change):
        done.append(time.perf_counter())

    line.observe(seen, names="y")
    t0 = time.perf_counter()
    ex.selection.pixel = pixel
    line.unobserve(seen, names="y")
    if not done:
        raise RuntimeError(f"the spectrum did not change after a click at {pixel}")
    return done[0] - t0


def _pixels(shape, chunks, n: int) -> list[tuple[int, int]]:
    """``n`` pixels in distinct chunks (a seeded shuffle), other than the image centre's."""
    ny, nx = shape[:2]
    cy, cx = chunks[:2]
    inside = [(min(ny - 1, y + cy // 3), min(nx - 1, x + cx // 3 + 1))
              for y in range(0, ny, cy) for x in range(0, nx, cx)]
    rng = np.random.default_rng(0)
    rng.shuffle(inside)
    middle = (ny // 2 // cy, nx // 2 // cx)
    far = [p for p in inside if (p[0] // cy, p[1] // cx) != middle] or inside
    return [far[i % len(far)] for i in range(n)]


def _run_case(case: str, folder: Path, clicks: int, threads: int) -> dict:
    """Measure one case in this (fresh) process; a warm-up keeps imports out of the figures."""
    sys.path.insert(0, str(HERE))
    import dask
    from _common import PeakMemory

    import eelswidgets as ew
    from eelswidgets.widgets import SpectrumImageExplorer

    dask.config.set(scheduler="threads", num_workers=threads)
    path = folder / "cube.zarr"
    small = ew.load(path, lazy=True).crop(0, 4, 0, 4)          # imports, numcodecs, widgets
    SpectrumImageExplorer(small, progress=False).selection.pixel = (1, 1)
    SpectrumImageExplorer(small.compute(), progress=False).selection.pixel = (1, 1)
    lazy = case == "lazy"
    t0 = time.perf_counter()
    with PeakMemory() as load_mem:
        si = ew.load(path, lazy=lazy)
    load_s = time.perf_counter() - t0
    cube_bytes = int(np.prod(si.shape)) * 4
    t0 = time.perf_counter()
    with PeakMemory() as build_mem:
        ex = SpectrumImageExplorer(si, progress=False)
    build_s = time.perf_counter() - t0
    chunks = ew.load(path, lazy=True).chunks                   # the lazy load's chunks
    cold, near = [], []
    for y, x in _pixels(si.shape, chunks, clicks):
        cold.append(_click(ex, (y, x)))
        near.append(_click(ex, (y, max(0, x - 1))))          # the neighbour: same chunk
    t0 = time.perf_counter()
    with PeakMemory() as span_mem:
        ex.selection.energy_range = ENERGY_SPAN
    span_s = time.perf_counter() - t0
    y, x = _pixels(si.shape, chunks, 1)[0]
    interleaved = _interleaved(ex, si, chunks, clicks) if lazy else {}
    reader = ex.cube.reader
    return {**interleaved,
            "storage_chunks": json.loads((path / "data" / ".zarray").read_text())["chunks"],
            "tile_reads": None if reader is None else reader.tile_reads,
            "load_s": load_s, "load_peak_over_cube": load_mem.peak / cube_bytes,
            "build_s": build_s, "build_peak_over_cube": build_mem.peak / cube_bytes,
            "click_cold_ms": 1e3 * statistics.median(cold),
            "click_near_ms": 1e3 * statistics.median(near),
            "click_cold_max_ms": 1e3 * max(cold),
            "energy_span_s": span_s, "energy_span_peak_over_cube": span_mem.peak / cube_bytes,
            "chunks": list(chunks), "chunk_mb": int(np.prod(chunks)) * 4 / 1e6,
            "chunk_reads": None if ex.cube.reader is None else ex.cube.reader.reads,
            "checksum": float(np.sum(ex.spectrum_view.lines["data"].y, dtype=np.float64)),
            "spectrum_checksum": float(np.sum(ex.cube.spectrum(y, x), dtype=np.float64))}


def _interleaved(ex, si, chunks, clicks: int, n: int = 200) -> dict:
    """Clicks on ``ex`` and on an in-memory explorer, alternately (in one process, same load).

    The in-memory explorer holds the cube's first chunk (computed); both click pixels inside
    it. ``near`` clicks alternate between two neighbours; ``cold`` clicks empty the lazy
    reader's chunk cache first. Measured last, after the peaks.
    """
    from eelswidgets.widgets import SpectrumImageExplorer

    cy, cx = chunks[:2]
    other = SpectrumImageExplorer(si.crop(0, cy, 0, cx).compute(), progress=False)
    y, x = cy // 3, cx // 3 + 1                                 # not the initial pixel
    near: dict[str, list[float]] = {"in_memory": [], "lazy": []}
    for k in range(n):
        p = (y, x - k % 2)
        near["lazy"].append(_click(ex, p))
        near["in_memory"].append(_click(other, p))
    cold: dict[str, list[float]] = {"in_memory": [], "lazy": []}
    rng = np.random.default_rng(1)
    for _ in range(max(clicks, 20)):
        p = (int(rng.integers(cy)), int(rng.integers(cx)))
        if p == other.selection.pixel:
            continue
        ex.cube.reader.clear()
        cold["lazy"].append(_click(ex, p))
        cold["in_memory"].append(_click(other, p))
    return {f"{kind}_interleaved_ms": {name: 1e3 * statistics.median(v)
                                       for name, v in times.items()}
            for kind, times in (("near", near), ("cold", cold))}


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape) if args.shape else ((64, 64, 256) if args.quick
                                                  else (512, 512, 1024))
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, args.clicks, args.threads)))
        return {}
    chunks = args.chunks or ((16, 16) if args.quick else None)
    sys.path.insert(0, str(HERE))
    from _common import emit, environment, run_fresh
    from bench_lazy import _write_store

    with tempfile.TemporaryDirectory(prefix="bench_lazy_widgets_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _write_store(folder, shape, chunks, args.store_chunks)
        write_s = time.perf_counter() - t0
        cases = run_fresh(__file__, args.cases, "--dir", str(folder), "--clicks",
                          str(args.clicks), "--threads", str(args.threads))
    lazy = cases.get("lazy", {})
    ratios = {f"click_{kind}_interleaved": round(lazy[f"{kind}_interleaved_ms"]["lazy"]
                                                 / lazy[f"{kind}_interleaved_ms"]["in_memory"],
                                                 2)
              for kind in ("cold", "near") if lazy}
    mem = cases.get("in_memory")
    if mem and lazy:
        ratios.update({"click_cold": round(lazy["click_cold_ms"] / mem["click_cold_ms"], 2),
                       "click_near": round(lazy["click_near_ms"] / mem["click_near_ms"], 2),
                       "build": round(lazy["build_s"] / mem["build_s"], 2),
                       "energy_span": round(lazy["energy_span_s"] / mem["energy_span_s"], 2)})
    result = {
        "benchmark": "lazy_widgets",
        "quick": args.quick,
        "shape": list(shape),
        "cube_mb": int(np.prod(shape)) * 4 / 1e6,
        "write_s": write_s,
        "dask_threads": args.threads,
        "ratios_lazy_over_in_memory": ratios,
        "same_spectra": None if not (mem and lazy) else bool(np.isclose(
            mem["spectrum_checksum"], lazy["spectrum_checksum"], rtol=1e-6)),
        "cases": cases,
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
