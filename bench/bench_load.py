"""Peak memory of loading a spectrum image, per byte of its float32 cube.

Every case runs in a fresh Python process, so that memory one case freed cannot hide the next
one's peak. A case reports the peak resident memory above the process's memory just before
the step (kernel high-water mark, see ``_common.PeakMemory``), divided by the bytes of the
float32 cube ``(ny, nx, ne)``:

- ``npy_baseline``: ``np.load`` of a raw ``.npy`` file: the floor, one cube;
- ``load_npz`` / ``load_h5``: ``ew.load`` of the own format written by ``si.save``;
- ``construct_float32``: ``SpectrumImage(cube)`` from a float32 C-contiguous cube made before
  the step (no copy needed);
- ``construct_float64``: ``SpectrumImage(cube)`` from a float64 cube (one float32 copy needed).

The target for the own formats is 1.3 (one cube plus a little). Run with the code to measure
on the import path, e.g. ``PYTHONPATH=. python bench/bench_load.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = ("npy_baseline", "load_npz", "load_h5", "construct_float32", "construct_float64")
TARGET = 1.3


def _parse(argv=None) -> argparse.Namespace:
    sys.path.insert(0, str(HERE))
    from _common import cube_parser

    p = cube_parser(__doc__.splitlines()[0], CASES)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _cube(shape, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(0).random(shape, dtype=np.float64).astype(dtype)


def _write_files(folder: Path, shape) -> None:
    import eelswidgets as ew

    cube = _cube(shape)
    np.save(folder / "cube.npy", cube)
    si = ew.SpectrumImage(cube, np.linspace(0.1, 3.0, shape[-1]), haadf=cube.sum(-1))
    si.save(folder / "si.npz")
    si.save(folder / "si.h5")
    tiny = ew.SpectrumImage(np.ones((2, 2, 4), np.float32), np.arange(4.0))
    for ext in (".npy", ".npz", ".h5"):
        if ext == ".npy":
            np.save(folder / "tiny.npy", tiny.data)
        else:
            tiny.save(folder / f"tiny{ext}")


def _run_case(case: str, folder: Path, shape) -> dict:
    """Measure one case in this (fresh) process; warm-up steps keep imports out of the peak."""
    sys.path.insert(0, str(HERE))
    from _common import PeakMemory

    import eelswidgets as ew

    energy = np.linspace(0.1, 3.0, shape[-1])
    if case == "npy_baseline":
        np.load(folder / "tiny.npy")
        step = lambda: np.load(folder / "cube.npy")  # noqa: E731
    elif case in ("load_npz", "load_h5"):
        ext = case.removeprefix("load_")
        ew.load(folder / f"tiny.{ext}")
        step = lambda: ew.load(folder / f"si.{ext}")  # noqa: E731
    else:
        cube = _cube(shape, np.float32 if case == "construct_float32" else np.float64)
        ew.SpectrumImage(cube[:2, :2], energy)
        step = lambda: ew.SpectrumImage(cube, energy)  # noqa: E731
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        result = step()
    seconds = time.perf_counter() - t0
    del result
    cube_bytes = int(np.prod(shape)) * 4
    return {"peak_mb": mem.peak / 1e6, "peak_over_cube": mem.peak / cube_bytes,
            "seconds": seconds, "method": mem.method}


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape) if args.shape else ((64, 64, 256) if args.quick
                                                  else (256, 256, 1024))
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, shape)))
        return {}
    sys.path.insert(0, str(HERE))
    from _common import emit, environment, run_fresh

    import eelswidgets as ew

    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        folder = Path(tmp)
        _write_files(folder, shape)
        cases = run_fresh(__file__, CASES, "--dir", str(folder), "--shape", *map(str, shape))
    result = {
        "benchmark": "load",
        "quick": args.quick,
        "shape": list(shape),
        "cube_mb": int(np.prod(shape)) * 4 / 1e6,
        "eelswidgets": str(Path(ew.__file__).resolve().parent.parent.name),
        "ratios": {case: round(c["peak_over_cube"], 3) for case, c in cases.items()},
        "target": TARGET,
        "own_formats_within_target": all(cases[c]["peak_over_cube"] <= TARGET
                                         for c in ("load_npz", "load_h5")),
        "cases": cases,
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
