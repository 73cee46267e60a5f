"""Peak memory and time of one SpectralVAE epoch, in memory and streamed from a lazy cube.

The synthetic low-loss cube of ``bench_lazy.py`` is written chunk by chunk to a ``.zarr`` store.
Then, each case in a fresh Python process (a tiny fit first, so that imports and torch's set-up
stay out of the peak):

- ``in_memory``: ``si = ew.load(path)`` (outside the measurement), then
  ``SpectralVAE(epochs=1).fit(si)`` (normalisation statistics, one epoch, latent summary);
- ``lazy``: ``si = ew.load(path, lazy=True)``, then the same fit, streamed chunk by chunk
  through the shuffle buffer (``--buffer-mb``, default that of ``models/_samples.py``).

A case reports the peak resident memory the first fit adds (``_common.PeakMemory``: covers
torch's allocations) divided by the cube's bytes, and the median wall time of ``--repeats``
fits; ``time_ratio`` is the lazy time over the in-memory time of the same run. The target is
``in_memory <= 1.2`` (extra peak memory as a multiple of the cube); the lazy peak is bounded
by the buffer, not the cube.
With an older eelswidgets on the import path the script measures that version (the
baseline: it copied and normalised the whole cube, and computed a lazy one).

Run with the code to measure on the import path, e.g.
``OMP_NUM_THREADS=1 PYTHONPATH=. python bench/bench_train.py [--quick]`` (default
256 x 256 x 1024, a 256 MiB cube, chunks of 64 x 64 pixels); prints JSON.
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
CASES = ("in_memory", "lazy")


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (64 x 64 x 256)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 256 256 1024: a 256 MiB cube)")
    p.add_argument("--chunks", type=int, nargs=2, default=(64, 64), metavar=("CY", "CX"),
                   help="pixels per chunk (default 64 64)")
    p.add_argument("--buffer-mb", type=float, default=None,
                   help="shuffle buffer in MiB (default: the library's)")
    p.add_argument("--threads", type=int, default=1, help="torch and dask threads (default 1)")
    p.add_argument("--repeats", type=int, default=3,
                   help="fits per case; the time is their median (default 3)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _run_case(case: str, folder: Path, shape, threads: int, buffer_mb: float | None,
              repeats: int) -> dict:
    """Measure one case in this (fresh) process."""
    sys.path.insert(0, str(HERE))
    import dask
    import torch
    from _common import PeakMemory, setup_threads

    import eelswidgets as ew

    try:
        from eelswidgets.models import _samples
    except ImportError:  # a version before streamed training: measured as it is
        _samples = None
    setup_threads(threads)
    dask.config.set(scheduler="threads", num_workers=threads)
    if buffer_mb is not None and _samples is not None:
        _samples.BUFFER_BYTES = int(buffer_mb * 2**20)
    path = folder / "cube.zarr"
    options = dict(epochs=1, seed=0, device="cpu")
    ew.SpectralVAE(**options).fit(ew.load(path, lazy=True).crop(0, 4, 0, 4).compute(),
                                  progress=False)
    si = ew.load(path, lazy=case == "lazy")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    try:
        with PeakMemory() as mem:
            vae = ew.SpectralVAE(**options).fit(si, progress=False)
    except Exception as err:  # e.g. an older version that cannot fit lazy data
        return {"error": f"{type(err).__name__}: {err}"[:300], "peak_over_cube": None,
                "seconds": None}
    seconds = [time.perf_counter() - t0]
    for _ in range(repeats - 1):  # timing only: the peak above is the first fit's
        t0 = time.perf_counter()
        ew.SpectralVAE(**options).fit(si, progress=False)
        seconds.append(time.perf_counter() - t0)
    cube_bytes = int(np.prod(shape)) * 4
    return {"peak_mb": mem.peak / 1e6, "peak_over_cube": mem.peak / cube_bytes,
            "seconds": float(np.median(seconds)), "all_seconds": seconds, "method": mem.method,
            "loss": vae.history_["loss"][-1],
            "n_train": vae.state_["n_train"], "chunks": list(si.chunks or si.shape),
            "buffer_mb": None if _samples is None else _samples.BUFFER_BYTES / 2**20}


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape) if args.shape else ((64, 64, 256) if args.quick
                                                  else (256, 256, 1024))
    chunks = tuple(min(c, n) for c, n in zip(args.chunks, shape[:2], strict=True))
    if args.quick:
        chunks = (16, 16)
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, shape, args.threads, args.buffer_mb,
                                   args.repeats)))
        return {}
    sys.path.insert(0, str(HERE))
    from _common import emit, peak_result, run_fresh
    from bench_lazy import _write_store

    extra = ["--buffer-mb", str(args.buffer_mb)] if args.buffer_mb is not None else []
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        folder = Path(tmp)
        _write_store(folder, shape, chunks)
        cases = run_fresh(__file__, CASES, "--dir", str(folder), "--shape", *map(str, shape),
                          "--threads", str(args.threads), "--repeats", str(args.repeats),
                          *extra)
    result = peak_result(
        "train", shape, cases, quick=args.quick, step="SpectralVAE(epochs=1).fit(si)",
        time_ratio=(round(cases["lazy"]["seconds"] / cases["in_memory"]["seconds"], 3)
                    if cases["lazy"]["seconds"] and cases["in_memory"]["seconds"] else None))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
