"""Memory and CPU time of ``ew.decompose`` against HyperSpy 2.5 on the same cube.

A synthetic float32 cube (``--shape``, default 256 x 256 x 1024: 256 MiB) of four
non-negative components with noise is decomposed, each case in a fresh Python process,
single-threaded (``OMP_NUM_THREADS=1``, threadpoolctl, dask's synchronous scheduler):

- ``ew_pca`` / ``hs_pca``: ``ew.decompose(si, 8, "pca")`` / ``s.decomposition(algorithm="SVD",
  output_dimension=8)``;
- ``ew_nmf`` / ``hs_nmf``: NMF with 6 components and 50 iterations (scikit-learn ``NMF``
  in both); ``*_nmf_poisson`` the same Poisson-weighted (``poisson=True`` /
  ``normalize_poissonian_noise=True``);
- ``*_lazy``: the same on a dask cube in 64 x 64 pixel chunks (HyperSpy's lazy signal:
  ``MiniBatchNMF``, one pass; eelswidgets: up to 5 passes of ``MiniBatchNMF.partial_fit``).

Each case reports the peak resident memory added by the decomposition over the cube's bytes
(``extra_per_cube``, ``_common.PeakMemory``) and its CPU seconds (with ``--repeats N``: the
least CPU and the largest memory of N fresh processes); the top level adds the ratios
eelswidgets / HyperSpy of both (the baseline of the same run).

``PYTHONPATH=. OMP_NUM_THREADS=1 python bench/bench_decompose.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = ("ew_pca", "hs_pca", "ew_nmf", "hs_nmf", "ew_nmf_poisson", "hs_nmf_poisson",
         "ew_pca_lazy", "hs_pca_lazy", "ew_nmf_lazy", "hs_nmf_lazy")
CHUNK = 64


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (64 x 64 x 256)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 256 256 1024)")
    p.add_argument("--repeats", type=int, default=1,
                   help="fresh processes per case; the least CPU time and the largest memory "
                        "are kept (default 1)")
    p.add_argument("--only", choices=("eager", "lazy"), default=None,
                   help="run only the in-memory or only the lazy cases")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)   # one case, in a child
    return p.parse_args(argv)


def _cube(shape) -> np.ndarray:
    ny, nx, ne = shape
    rng = np.random.default_rng(0)
    e = np.linspace(0.0, 1.0, ne, dtype=np.float32)
    spectra = np.stack([np.exp(-0.5 * ((e - c) / 0.05) ** 2) for c in (0.2, 0.4, 0.6, 0.8)])
    maps = rng.random((ny * nx, 4), dtype=np.float32)
    cube = maps @ (100 * spectra.astype(np.float32))
    cube += rng.random(cube.shape, dtype=np.float32) * 10
    return cube.reshape(ny, nx, ne)


def _run(case: str, cube: np.ndarray):
    """A function that runs ``case`` on ``cube`` (everything it needs already imported)."""
    lazy = case.endswith("_lazy")
    method = case.split("_")[1]
    k, kw = (8, {}) if method == "pca" else (6, {"max_iter": 50})
    poisson = case.endswith("_poisson")
    data = cube
    if lazy:
        import dask.array as da

        data = da.from_array(cube, chunks=(CHUNK, CHUNK, cube.shape[2]))
    if case.startswith("ew"):
        import eelswidgets as ew

        si = ew.SpectrumImage(data, np.arange(cube.shape[2], dtype=float))
        return lambda: ew.decompose(si, k, method, poisson=poisson, **({} if lazy else kw))
    import hyperspy.api as hs

    s = hs.signals.Signal1D(data)
    s = s.as_lazy() if lazy else s
    algorithm = "SVD" if method == "pca" else "NMF"
    extra = {} if lazy else kw
    return lambda: s.decomposition(algorithm=algorithm, output_dimension=k, print_info=False,
                                   normalize_poissonian_noise=poisson, **extra)


def run_case(case: str, shape) -> dict:
    """One case in this process: warm up on a small cube, then measure on the real one."""
    import dask
    from _common import PeakMemory
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    dask.config.set(scheduler="synchronous")
    warnings.simplefilter("ignore")
    _run(case, _cube((16, 16, shape[2])))()            # imports and first-call costs
    cube = _cube(shape)
    fn = _run(case, cube)
    t0, c0 = time.perf_counter(), time.process_time()
    with PeakMemory() as mem:
        fn()
    return {"extra_per_cube": mem.peak / cube.nbytes, "cpu_s": time.process_time() - c0,
            "wall_s": time.perf_counter() - t0, "cube_bytes": cube.nbytes,
            "memory_method": mem.method}


def main(argv=None) -> dict:
    args = _parse(argv)
    shape = tuple(args.shape or ((64, 64, 256) if args.quick else (256, 256, 1024)))
    sys.path.insert(0, str(HERE))
    if args.case:
        print(json.dumps(run_case(args.case, shape)))
        return {}
    from _common import emit, environment, run_fresh

    os.environ["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    chosen = [c for c in CASES if args.only is None or c.endswith("_lazy") == (args.only == "lazy")]
    runs = [run_fresh(__file__, chosen, "--shape", *map(str, shape))
            for _ in range(max(1, args.repeats))]
    cases = {c: {**runs[0][c], "cpu_s": min(r[c]["cpu_s"] for r in runs),
                 "wall_s": min(r[c]["wall_s"] for r in runs),
                 "extra_per_cube": max(r[c]["extra_per_cube"] for r in runs),
                 "repeats": len(runs)} for c in chosen}
    ratios = {}
    for name in ("pca", "nmf", "nmf_poisson", "pca_lazy", "nmf_lazy"):
        if f"ew_{name}" not in cases:
            continue
        ew_, hs_ = cases[f"ew_{name}"], cases[f"hs_{name}"]
        ratios[name] = {"cpu_ew_over_hs": ew_["cpu_s"] / hs_["cpu_s"],
                        "extra_memory_ew_over_hs": ew_["extra_per_cube"]
                        / max(hs_["extra_per_cube"], 1e-9)}
    result = {"benchmark": "decompose", "shape": shape, "threads": 1, "cases": cases,
              "ratios": ratios, "seconds": time.perf_counter() - t0, "env": environment()}
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
