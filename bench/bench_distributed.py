"""The batch pipeline on one process against a 2-worker LocalCluster: time and peak memory.

Four synthetic low-loss spectrum images (default 128 x 128 x 1024 float32, 64 MiB each; a
zero-loss peak, two plasmons with their own maps, noise) are written as own ``.h5`` files,
and a small SpectralVAE is fitted on one of them and saved. Then, each case in a fresh Python
process, ``ew.run_pipeline`` takes every file through load -> remove_zlp -> clip -> NMF (k=3)
-> VAE encode -> save maps:

- ``single``: no client; dask's threaded scheduler with 2 threads in this process;
- ``cluster``: ``ew.client(n_workers=2, threads_per_worker=1)`` (2 worker processes);
- ``single_chunked`` and ``cluster_chunked``: the same with every file read chunk by chunk
  (``lazy=True``, 4 x 4 chunks of the scan): out-of-core NMF (``MiniBatchNMF`` passes over
  the chunks, ``max_iter`` = 5 passes) and the VAE's chunk-wise ``encode``.

Each case reports the wall time of the pipeline (best of ``--repeats``, default 1; the first
run separately), the cluster's start-up time (starting the workers and importing torch,
scikit-learn and eelswidgets on them, before the timed runs), and the peak resident memory
of every process involved (``VmHWM``: the case's own process, and each worker's),
summed. Every case uses one BLAS/OpenMP thread per worker thread. The maps of the single and
cluster runs are compared (whole with whole, chunked with chunked), and the chunked runs
with the whole ones (latents; the NMF spectra by correlation: a different NMF solver).

Run with the code to measure on the import path, e.g.
``PYTHONPATH=. python bench/bench_distributed.py [--quick]``; prints JSON with the ratios
cluster / single.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = ("single", "cluster", "single_chunked", "cluster_chunked")
STEPS = [("remove_zlp", {"fit_window": (1.0, 2.5)}), ("clip", {"lo": 0.0})]
DECOMPOSE = {"n_components": 3, "method": "nmf", "random_state": 0, "max_iter": 200}
CHUNKED_DECOMPOSE = {"n_components": 3, "method": "nmf", "random_state": 0}   # 5 passes


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (2 x 32 x 32 x 256)")
    p.add_argument("--files", type=int, default=None, help="number of files (default 4)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="shape of each file (default 128 128 1024)")
    p.add_argument("--repeats", type=int, default=1, help="pipeline runs per case (best)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--chunks", type=int, nargs=2, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _cube(seed: int, shape) -> tuple[np.ndarray, np.ndarray]:
    ny, nx, ne = shape
    rng = np.random.default_rng(seed)
    energy = np.linspace(-1.0, 30.0, ne)
    yy, xx = np.mgrid[0:ny, 0:nx] / max(ny, nx)
    m1 = np.exp(-((yy - 0.3 - 0.1 * seed) ** 2 + (xx - 0.5) ** 2) / 0.05)
    m2 = np.exp(-((yy - 0.7) ** 2 + (xx - 0.4 + 0.05 * seed) ** 2) / 0.08)
    p1 = np.exp(-0.5 * ((energy - 8.0) / 1.5) ** 2).astype(np.float32)
    p2 = np.exp(-0.5 * ((energy - 16.0) / 2.5) ** 2).astype(np.float32)
    zlp = (5e3 * np.exp(-0.5 * (energy / 0.3) ** 2) + 100.0 / np.maximum(energy, 0.3))
    cube = np.empty(shape, np.float32)
    for y in range(ny):                                 # row by row: modest memory
        row = (zlp[None, :] + 300.0 * m1[y, :, None] * p1 + 200.0 * m2[y, :, None] * p2)
        cube[y] = rng.poisson(row).astype(np.float32)
    return cube, energy


def _write_inputs(folder: Path, n_files: int, shape) -> None:
    import eelswidgets as ew

    (folder / "in").mkdir()
    for i in range(n_files):
        cube, energy = _cube(i, shape)
        ew.SpectrumImage(cube, energy, name=f"bench {i}").save(folder / "in" / f"scan{i}.h5")
    ref = ew.load(folder / "in" / "scan0.h5")
    for name, kwargs in STEPS:
        ref = getattr(ref, name)(**kwargs)
    vae = ew.SpectralVAE(latent_dim=2, hidden=(64, 32), epochs=2, seed=0)
    vae.fit(ref, progress=False).save(folder / "vae.safetensors")


def _maxrss_mb() -> float:
    """Peak resident memory of this process (``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the process that started this one across ``exec``), in MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up() -> float:
    """Import what the pipeline's tasks need (torch, scikit-learn, h5py); seconds taken."""
    t0 = time.perf_counter()
    import h5py  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import torch  # noqa: F401

    import eelswidgets.models
    import eelswidgets.pipeline  # noqa: F401
    return time.perf_counter() - t0


def _run_case(case: str, folder: Path, repeats: int, chunks) -> dict:
    import dask
    import torch

    import eelswidgets as ew

    torch.set_num_threads(1)
    vae = ew.SpectralVAE.load(folder / "vae.safetensors")
    client, startup = None, 0.0
    if case.startswith("cluster"):
        t0 = time.perf_counter()
        client = ew.client(n_workers=2, threads_per_worker=1)
        client.run(_warm_up)
        startup = time.perf_counter() - t0
    else:
        _warm_up()
        dask.config.set(num_workers=2)
    times = []
    lazy = case.endswith("chunked")
    for r in range(repeats):
        t0 = time.perf_counter()
        summary = ew.run_pipeline(folder / "in", folder / f"out_{case}_{r}", steps=STEPS,
                                  decompose=CHUNKED_DECOMPOSE if lazy else DECOMPOSE,
                                  model=vae, lazy=lazy, chunks=chunks, client=client)
        times.append(time.perf_counter() - t0)
    workers = []
    if client is not None:
        workers = sorted(client.run(_maxrss_mb).values())
        client.close()
    own = _maxrss_mb()
    return {"seconds_first": times[0], "seconds_best": min(times), "startup_seconds": startup,
            "peak_rss_mb_own": own, "peak_rss_mb_workers": workers,
            "peak_rss_mb_total": own + sum(workers),
            "written": [p.name for p in summary.written]}


def _compare(folder: Path, a: str, b: str, keys=None) -> float:
    """The largest absolute difference between the maps files of cases ``a`` and ``b``."""
    import eelswidgets as ew

    worst = 0.0
    for path in sorted((folder / f"out_{a}_0").iterdir()):
        x, _ = ew.load_maps(path)
        y, _ = ew.load_maps(folder / f"out_{b}_0" / path.name)
        for key in x if keys is None else keys:
            d = np.abs(x[key].astype(np.float64) - y[key])
            worst = max(worst, float(np.nanmax(d)) if d.size else 0.0)
    return worst


def _spectra_correlation(folder: Path) -> float:
    """The lowest correlation of a whole run's NMF spectrum with its chunked match."""
    from scipy.optimize import linear_sum_assignment

    import eelswidgets as ew

    worst = 1.0
    for path in sorted((folder / "out_single_0").iterdir()):
        x = ew.load_maps(path)[0]["spectra"]
        y = ew.load_maps(folder / "out_single_chunked_0" / path.name)[0]["spectra"]
        c = np.corrcoef(np.vstack([x, y]))[: len(x), len(x):]
        rows, cols = linear_sum_assignment(-c)
        worst = min(worst, float(c[rows, cols].min()))
    return worst


def main(argv=None) -> dict:
    args = _parse(argv)
    if args.case:
        print(json.dumps(_run_case(args.case, args.dir, args.repeats, tuple(args.chunks))))
        return {}
    n_files = args.files or (2 if args.quick else 4)
    shape = tuple(args.shape) if args.shape else ((32, 32, 256) if args.quick
                                                  else (128, 128, 1024))
    os.environ["OMP_NUM_THREADS"] = "1"            # one BLAS thread per worker thread
    sys.path.insert(0, str(HERE))
    from _common import emit, environment, run_fresh

    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _write_inputs(folder, n_files, shape)
        prepare = time.perf_counter() - t0
        chunks = (max(1, shape[0] // 4), max(1, shape[1] // 4))
        cases = run_fresh(__file__, CASES, "--dir", str(folder), "--repeats",
                          str(args.repeats), "--chunks", *map(str, chunks))
        differences = {
            "single_vs_cluster": _compare(folder, "single", "cluster"),
            "single_vs_cluster_chunked": _compare(folder, "single_chunked", "cluster_chunked"),
            "latent_whole_vs_chunked": _compare(folder, "single", "single_chunked",
                                                ("latent",)),
        }
        correlation = _spectra_correlation(folder)
    single, cluster = cases["single"], cases["cluster"]
    result = {
        "benchmark": "distributed",
        "quick": args.quick,
        "files": n_files,
        "shape": list(shape),
        "cube_mb_each": int(np.prod(shape)) * 4 / 1e6,
        "chain": "load -> remove_zlp -> clip -> NMF(k=3) -> SpectralVAE.encode -> save maps",
        "prepare_seconds": prepare,
        "ratios": {
            "seconds_best_cluster_over_single": cluster["seconds_best"] / single["seconds_best"],
            "seconds_first_cluster_over_single":
                cluster["seconds_first"] / single["seconds_first"],
            "peak_rss_total_cluster_over_single":
                cluster["peak_rss_mb_total"] / single["peak_rss_mb_total"],
            "seconds_best_chunked_cluster_over_single":
                cases["cluster_chunked"]["seconds_best"]
                / cases["single_chunked"]["seconds_best"],
            "seconds_best_chunked_over_whole_single":
                cases["single_chunked"]["seconds_best"] / single["seconds_best"],
            "peak_rss_total_chunked_over_whole_single":
                cases["single_chunked"]["peak_rss_mb_total"] / single["peak_rss_mb_total"],
        },
        "chunks": list(chunks),
        "max_abs_difference_of_maps": differences,
        "min_nmf_spectra_correlation_chunked_vs_whole": correlation,
        "cases": cases,
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
