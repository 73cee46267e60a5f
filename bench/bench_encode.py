"""Peak memory of SpectralVAE inference, in memory and lazy, per byte of the float32 cube.

The synthetic low-loss cube of ``bench_lazy.py`` is written chunk by chunk to a ``.zarr``
store; a SpectralVAE is fitted (one epoch) on a 32 x 32 corner of it and saved. Then, each
case in a fresh Python process (``_common.run_fresh``), with the cube loaded before the
measurement where the case works in memory:

- ``baseline``: the previous in-memory encode, kept here as the reference of the same run:
  the valid spectra copied out, normalised into a second copy, encoded in one pass;
- ``in_memory``: ``vae.encode(si)`` (batched: one batch of normalised spectra at a time);
- ``in_memory_reconstruct``: ``vae.reconstruct(si)``; its output is a new cube, reported
  separately (``peak_over_cube`` minus 1 is the extra beyond the output);
- ``lazy``: ``vae.encode(ew.load(path, lazy=True)).compute()``, the load included;
- ``lazy_reconstruct``: ``vae.reconstruct(lazy).mean_spectrum()`` (the reconstruction
  streamed chunk by chunk into a reduction, never whole in memory).

A case reports the peak resident memory above the process's memory just before the step
(``_common.PeakMemory``), divided by the bytes of the cube, and the wall time; the lazy and
in-memory latent maps are compared.

Run with the code to measure on the import path, e.g.
``PYTHONPATH=. python bench/bench_encode.py [--quick]`` (default 256 x 256 x 1024, a 256 MiB
cube; ``--shape NY NX NE`` for others, ``--cases`` for a subset); prints JSON.
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
CASES = ("baseline", "in_memory", "in_memory_reconstruct", "lazy", "lazy_reconstruct")


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (64 x 64 x 256)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 256 256 1024: a 256 MiB cube)")
    p.add_argument("--threads", type=int, default=1, help="torch and dask threads (default 1)")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                   help="cases to run (default all; the baseline takes 3x the cube)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _baseline_encode(vae, si):
    """The in-memory encode before batching: two copies of the valid spectra, one pass."""
    import torch

    x = vae._normalise(si.data[si.valid])
    enc = vae._apply(x, lambda t: torch.cat(vae.module_.encode(t), dim=1))
    out = np.full((*si.shape[:2], int(vae.latent_dim)), np.nan, np.float32)
    out[si.valid] = enc[:, :int(vae.latent_dim)]
    return out


def _run_case(case: str, folder: Path, shape, threads: int) -> dict:
    """Measure one case in this (fresh) process; a warm-up keeps imports out of the peak."""
    sys.path.insert(0, str(HERE))
    import dask
    from _common import PeakMemory, setup_threads

    import eelswidgets as ew

    setup_threads(threads)
    dask.config.set(scheduler="threads", num_workers=threads)
    path = folder / "cube.zarr"
    vae = ew.SpectralVAE.load(folder / "vae.eelsmodel")
    warm = ew.load(path, lazy=True).crop(0, 2, 0, 2)
    vae.encode(warm).compute()
    vae.reconstruct(warm.compute())
    si = None if case.startswith("lazy") else ew.load(path)
    codes = None
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        if case == "baseline":
            codes = _baseline_encode(vae, si)
        elif case == "in_memory":
            codes = vae.encode(si)
        elif case == "in_memory_reconstruct":
            rec = vae.reconstruct(si)
        elif case == "lazy":
            codes = vae.encode(ew.load(path, lazy=True)).compute()
        else:
            rec = vae.reconstruct(ew.load(path, lazy=True)).mean_spectrum()
    seconds = time.perf_counter() - t0
    cube_bytes = int(np.prod(shape)) * 4
    out = {"peak_mb": mem.peak / 1e6, "peak_over_cube": mem.peak / cube_bytes,
           "seconds": seconds, "method": mem.method}
    if codes is not None:
        out["codes_checksum"] = float(np.nansum(codes, dtype=np.float64))
    else:
        out["output_checksum"] = float(np.nansum(np.asarray(rec.data if hasattr(rec, "data")
                                                            else rec), dtype=np.float64))
    return out


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape) if args.shape else ((64, 64, 256) if args.quick
                                                  else (256, 256, 1024))
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, shape, args.threads)))
        return {}
    sys.path.insert(0, str(HERE))
    from _common import finish, run_fresh, setup_threads
    from bench_lazy import _write_store

    import eelswidgets as ew

    t_start = time.perf_counter()
    setup_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_encode_") as tmp:
        folder = Path(tmp)
        path = _write_store(folder, shape, None)
        corner = ew.load(path, lazy=True).crop(0, 32, 0, 32).compute()
        ew.SpectralVAE(latent_dim=2, epochs=1, seed=0, device="cpu").fit(
            corner, progress=False).save(folder / "vae.eelsmodel")
        cases = run_fresh(__file__, args.cases, "--dir", str(folder), "--shape", *map(str, shape),
                          "--threads", str(args.threads))
    sums = [c["codes_checksum"] for c in cases.values() if "codes_checksum" in c]
    result = {
        "benchmark": "encode",
        "quick": args.quick,
        "shape": list(shape),
        "cube_mb": int(np.prod(shape)) * 4 / 1e6,
        "threads": args.threads,
        "ratios": {case: round(c["peak_over_cube"], 3) for case, c in cases.items()},
        "in_memory_over_baseline": (round(cases["in_memory"]["peak_mb"]
                                          / max(cases["baseline"]["peak_mb"], 1e-9), 3)
                                    if {"in_memory", "baseline"} <= set(cases) else None),
        "same_codes": bool(np.allclose(sums, sums[:1], rtol=1e-4)),
        "cases": cases,
    }
    return finish(result, t_start, args.out)


if __name__ == "__main__":
    main()
