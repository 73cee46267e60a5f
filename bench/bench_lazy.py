"""Peak memory of the lazy path against the in-memory one, per byte of the float32 cube.

A synthetic low-loss cube (a zero-loss peak, a plasmon and noise) is generated chunk by chunk
and written to a ``.zarr`` store with ``si.save`` (never whole in memory). Then, each case in a
fresh Python process, the same chain runs on it: ``ew.load`` -> ``remove_zlp`` ->
``mean_spectrum``:

- ``lazy``: ``ew.load(path, lazy=True)``; the chain runs chunk by chunk;
- ``in_memory``: ``ew.load(path)``; the chain runs on the whole cube.

A case reports the peak resident memory above the process's memory just before the chain
(``_common.PeakMemory``), divided by the bytes of the cube, and the wall time. dask uses its
threaded scheduler with ``--threads`` workers (the lazy peak grows with the number of chunks
in flight: about ``threads x chunk x`` a few float64 temporaries of the kernel).

Run with the code to measure on the import path, e.g.
``PYTHONPATH=. python bench/bench_lazy.py [--quick]`` (default 512 x 512 x 1024, a 1 GiB
cube, written under the system's temporary folder); prints JSON.
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
CASES = ("lazy", "in_memory")
FIT_WINDOW = (1.5, 4.0)


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (64 x 64 x 256)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 512 512 1024: a 1 GiB cube)")
    p.add_argument("--chunks", type=int, nargs=2, default=None, metavar=("CY", "CX"),
                   help="pixels per chunk (default: about 64 MiB chunks)")
    p.add_argument("--store-chunks", type=int, nargs=2, default=None, metavar=("SY", "SX"),
                   help="pixels per storage chunk of the .zarr store (default: the writer's, "
                        "about 1 MiB; pass the chunk size to store chunk = dask chunk)")
    p.add_argument("--threads", type=int, default=2, help="dask threads (default 2)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _energy(ne: int) -> np.ndarray:
    return np.linspace(-2.0, 50.0, ne)


def _spectra(block: np.ndarray, energy: np.ndarray, block_id=None) -> np.ndarray:
    """One chunk of the synthetic cube (seeded by its position: reproducible)."""
    rng = np.random.default_rng(abs(hash(block_id)) % 2**32)
    cy, cx, _ = block.shape
    shift = rng.normal(0.0, 0.05, (cy, cx, 1))
    zlp = 1e4 * np.exp(-0.5 * ((energy - shift) / 0.4) ** 2)
    plasmon = 300.0 * np.exp(-0.5 * ((energy - 15.0) / 4.0) ** 2)
    tail = 200.0 / np.maximum(energy, 0.5)
    return (zlp + plasmon + tail + rng.random((cy, cx, energy.size)) * 10.0).astype(np.float32)


def _write_store(folder: Path, shape, chunks, storage=None) -> Path:
    """Write the synthetic cube (dask ``chunks``) to ``folder/cube.zarr`` (``storage`` chunks)."""
    import dask.array as da

    import eelswidgets as ew
    from eelswidgets._lazy import default_chunks

    block = (*chunks, shape[2]) if chunks else default_chunks(shape)
    energy = _energy(shape[2])
    cube = da.zeros(shape, chunks=block, dtype=np.float32).map_blocks(
        _spectra, energy, dtype=np.float32)
    path = folder / "cube.zarr"
    ew.SpectrumImage(cube, energy, name="bench").save(path, chunks=storage)
    return path


def zarr_chunks(path: Path) -> tuple[int, ...]:
    """The storage chunks of the cube in the store ``path``."""
    return tuple(json.loads((path / "data" / ".zarray").read_text())["chunks"])


def _run_case(case: str, folder: Path, shape, threads: int) -> dict:
    """Measure one case in this (fresh) process; a warm-up keeps imports out of the peak."""
    sys.path.insert(0, str(HERE))
    import dask
    from _common import PeakMemory

    import eelswidgets as ew

    dask.config.set(scheduler="threads", num_workers=threads)
    lazy = case == "lazy"
    path = folder / "cube.zarr"
    warm = ew.load(path, lazy=True).crop(0, 2, 0, 2)          # imports, numcodecs, scipy
    warm.compute().remove_zlp(FIT_WINDOW).mean_spectrum()
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        si = ew.load(path, lazy=lazy)
        mean = si.remove_zlp(FIT_WINDOW).mean_spectrum()
    seconds = time.perf_counter() - t0
    cube_bytes = int(np.prod(shape)) * 4
    return {"peak_mb": mem.peak / 1e6, "peak_over_cube": mem.peak / cube_bytes,
            "seconds": seconds, "method": mem.method, "chunks": list(si.chunks or si.shape),
            "storage_chunks": list(zarr_chunks(path)),
            "mean_checksum": float(np.sum(mean, dtype=np.float64))}


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape) if args.shape else ((64, 64, 256) if args.quick
                                                  else (512, 512, 1024))
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, shape, args.threads)))
        return {}
    sys.path.insert(0, str(HERE))
    from _common import emit, environment, run_fresh

    import eelswidgets as ew

    with tempfile.TemporaryDirectory(prefix="bench_lazy_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _write_store(folder, shape, args.chunks, args.store_chunks)
        write_seconds = time.perf_counter() - t0
        cases = run_fresh(__file__, CASES, "--dir", str(folder), "--shape", *map(str, shape),
                          "--threads", str(args.threads))
    same = np.isclose(cases["lazy"]["mean_checksum"], cases["in_memory"]["mean_checksum"],
                      rtol=1e-5)
    result = {
        "benchmark": "lazy",
        "quick": args.quick,
        "shape": list(shape),
        "cube_mb": int(np.prod(shape)) * 4 / 1e6,
        "chain": f"load -> remove_zlp({FIT_WINDOW}) -> mean_spectrum",
        "dask_threads": args.threads,
        "write_zarr_seconds": write_seconds,
        "eelswidgets": str(Path(ew.__file__).resolve().parent.parent.name),
        "ratios": {case: round(c["peak_over_cube"], 3) for case, c in cases.items()},
        "same_result": bool(same),
        "cases": cases,
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
