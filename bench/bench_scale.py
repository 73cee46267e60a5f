"""Memory and time of every step at scale, eelswidgets against HyperSpy 2.5 (eager and lazy).

For each cube size (``--sizes``; ``N`` is ``N x N x 1024``, ``NxE`` is ``N x N x E``) a synthetic
low-loss cube is written once, chunk by chunk (never whole in memory), to the formats the steps
read: a raw ``.npy``, the own ``.npz``/``.h5``/``.zarr`` and HyperSpy's ``.hspy``/``.zspy``.
Then every (library, step) case runs in a fresh Python process and reports the peak resident
memory above the process's memory just before the step (kernel high-water mark,
``_common.PeakMemory``) as a multiple of the cube's bytes, and the step's wall and CPU time.
Libraries and steps are described in ``_scale_steps.py``: load (each format), construction from
an array, crop + ZLP removal, PCA (k = 8), NMF (k = 6, 50 iterations), one SpectralVAE epoch,
encode and explorer construction.

Both libraries run single-threaded: ``OMP/MKL/OPENBLAS_NUM_THREADS=1``, one torch thread and
dask's ``"synchronous"`` scheduler (every chunk in the calling thread).

``--chain`` runs the lazy chain instead: a ``1024 x 1024 x 2048`` float32 ``.zarr`` (8 GiB;
``--chain-shape``) goes load -> ZLP removal -> PCA -> NMF -> one VAE epoch -> encode -> explorer,
each step in a fresh process on the lazily ZLP-removed cube, against HyperSpy lazy on the same
store; its target is a peak RSS of 3 GB.

The machine is protected: before a case its memory need is estimated (``skipped: needs N GB``
if more than ``--max-gb`` or the memory available now), and a case whose resident memory
exceeds the limit while it runs is killed and reported as such. With ``--log FILE`` every case
is appended there as a JSON line and cases already there are not run again (resumable).
``--repeats N`` runs each case N times (fresh processes) and keeps the one with the least CPU
time (the machine may be shared: compare ratios, not absolute times).
The JSON on stdout holds the cases, the ratios eelswidgets / HyperSpy and the issue's targets,
each with pass/fail. ``--markdown FILE`` prints the tables of a saved run (JSON or log).

Examples::

    PYTHONPATH=. python bench/bench_scale.py --sizes 128 256 --out scale.json
    PYTHONPATH=. python bench/bench_scale.py --markdown scale.json
    PYTHONPATH=. nohup python bench/bench_scale.py --chain --log chain.jsonl &
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# every child process (case or file writer) starts with these, before numpy is imported
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

import numpy as np  # noqa: E402
from _scale_report import markdown, ratios, read_cases, targets  # noqa: E402
from _scale_steps import (  # noqa: E402
    CHAIN_LIBS,
    CHAIN_STEPS,
    LIBS,
    STEPS,
    available,
    energy_axis,
    lowloss_block,
    needed_files,
    step_functions,
)

DEFAULT_SIZES = ("128", "256")
TINY = 8                         # pixels per side of the warm-up cube
BASE_BYTES = 1.2e9               # a process with torch, dask and HyperSpy imported
# estimated extra memory / cube bytes, to skip a case that cannot fit before starting it
ESTIMATE = {"ew": {"construct": 0.1, "preprocess": 2.0, "pca": 1.2, "nmf": 1.5},
            "hs": {"construct": 0.1, "preprocess": 4.5, "pca": 1.0, "nmf": 2.2}}


def parse_size(label: str) -> tuple[int, int, int]:
    """``"512"`` -> (512, 512, 1024); ``"512x4096"`` -> (512, 512, 4096); ``"AxBxC"`` as is."""
    try:
        parts = [int(p) for p in str(label).lower().split("x")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"size {label!r}: write N, NxE or NYxNXxE (positive "
                                         "integers), e.g. 512 or 512x4096")
    if len(parts) == 1:
        return parts[0], parts[0], 1024
    if len(parts) == 2:
        return parts[0], parts[0], parts[1]
    return tuple(parts)


def size_label(shape) -> str:
    return "x".join(str(n) for n in shape)


def _parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=parse_size, default=None,
                   help=f"cube sizes: N (N x N x 1024), NxE or NYxNXxE (default "
                        f"{' '.join(DEFAULT_SIZES)}; the issue's: 128 256 512 1024 512x4096)")
    p.add_argument("--steps", nargs="+", choices=STEPS + CHAIN_STEPS, default=None,
                   help="steps to run (default all)")
    p.add_argument("--libs", nargs="+", choices=LIBS, default=None,
                   help="libraries to run (default all)")
    p.add_argument("--chain", action="store_true", help="run the lazy chain (see above)")
    p.add_argument("--chain-shape", type=parse_size, default=(1024, 1024, 2048),
                   help="cube of the chain (default 1024x1024x2048: 8 GiB)")
    p.add_argument("--max-gb", type=float, default=8.0,
                   help="largest resident memory of one case, GB (default 8)")
    p.add_argument("--repeats", type=int, default=1,
                   help="fresh processes per case; the one with the least CPU time is kept")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="where the cubes are written (default: the system's temporary folder)")
    p.add_argument("--keep-data", action="store_true", help="keep the written cubes")
    p.add_argument("--log", type=Path, default=None,
                   help="append each case as a JSON line; cases already there are skipped")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--markdown", type=Path, default=None, metavar="RESULT",
                   help="print the tables of a saved JSON output or log and exit")
    p.add_argument("--case", help=argparse.SUPPRESS)       # one case, in a child process
    p.add_argument("--prepare", help=argparse.SUPPRESS)    # write files, in a child process
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- files
def _write_files(folder: Path, shape, names) -> None:
    """Write the cube's files named in ``names`` (the ``.zarr`` first; all from it, chunk-wise)."""
    import dask
    import dask.array as da
    from _scale_steps import hs_chain_signal

    import eelswidgets as ew
    from eelswidgets._lazy import default_chunks

    dask.config.set(scheduler="synchronous")
    folder.mkdir(parents=True, exist_ok=True)
    energy = energy_axis(shape[2])
    zarr_path = folder / "si.zarr"
    if not zarr_path.exists():
        cube = da.zeros(shape, chunks=default_chunks(shape), dtype=np.float32).map_blocks(
            lowloss_block, energy, dtype=np.float32)
        ew.SpectrumImage(cube, energy, name="bench_scale").save(zarr_path)
    lazy = ew.load(zarr_path, lazy=True)
    for name in sorted(set(names) - {"si.zarr"}, key=lambda n: n != "cube.npy"):
        path = folder / name
        if path.exists():
            continue
        tmp = path.with_name(f".{name}.tmp{path.suffix}")
        if name == "cube.npy":
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            lazy.data.store(out, lock=False)
            out.flush()
            del out
        elif name in ("si.h5",):
            lazy.save(tmp)
        elif name == "si.npz":
            ew.SpectrumImage(np.load(folder / "cube.npy", mmap_mode="r"), energy).save(tmp)
        else:                                   # .hspy / .zspy through HyperSpy
            hs_chain_signal(zarr_path).save(tmp, overwrite=True)
        os.replace(tmp, path)


def _prepare(folder: Path, shape, names) -> None:
    """Write a size's files and (in ``tiny/``) the warm-up files, in one child process."""
    names = set(names)
    if "si.npz" in names:
        names.add("cube.npy")
    spec = json.dumps({"folder": str(folder), "shape": list(shape), "names": sorted(names)})
    subprocess.run([sys.executable, __file__, "--prepare", spec], check=True,
                   env={**os.environ, **THREAD_ENV}, stdout=sys.stderr)   # stdout: JSON only


# ----------------------------------------------------------------------------- one case
def _run_case(spec: dict) -> dict:
    """Measure one case in this (fresh) process; the warm-up on the tiny files runs first."""
    import gc
    import resource

    import dask
    import torch
    from _common import PeakMemory

    torch.set_num_threads(1)
    dask.config.set(scheduler="synchronous")
    folder = Path(spec["folder"])
    setup, act = step_functions(spec["lib"], spec["step"], spec["chain"])
    names = spec["names"]
    warm = act(setup({n: folder / "tiny" / n for n in names}))
    _close(warm)
    del warm
    data = setup({n: folder / n for n in names})
    gc.collect()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        result = act(data)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    _close(result)
    return {"status": "ok", "peak_extra_bytes": mem.peak, "rss_before_bytes": mem.base,
            "peak_rss_bytes": mem.base + mem.peak, "wall_s": wall,
            "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "memory_method": mem.method}


def _close(obj) -> None:
    close = getattr(obj, "close", None)
    if callable(close) and obj.__class__.__name__.endswith("Explorer"):
        close()


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _available_bytes() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def _watch(cmd, limit: float, timeout: float) -> tuple[dict | None, str, str]:
    """Run ``cmd``; kill it when its RSS passes ``limit`` bytes or it runs past ``timeout``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **THREAD_ENV})
        t0, peak, why = time.perf_counter(), 0, None
        while proc.poll() is None:
            peak = max(peak, _rss(proc.pid))
            if peak > limit:
                why = f"killed: passed the {limit / 1e9:.1f} GB limit (needs more)"
            elif time.perf_counter() - t0 > timeout:
                why = f"timeout: still running after {timeout:.0f} s"
            if why:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        tail = err.read()[-600:]
    if why:
        return None, why, tail
    if proc.returncode != 0 or not lines:
        return None, f"error: exit {proc.returncode}", tail
    return json.loads(lines[-1]), "", tail


def run_case(folder: Path, shape, lib: str, step: str, chain: bool, args) -> dict:
    """One case in a fresh, watched process (or skipped when it cannot fit)."""
    cube_bytes = int(np.prod(shape)) * 4
    base = {"size": size_label(shape), "shape": list(shape), "cube_bytes": cube_bytes,
            "lib": lib, "step": step, "chain": chain}
    limit = min(args.max_gb * 1e9, _available_bytes() - 1e9)
    eager = not lib.endswith("_lazy")
    held = 0 if step.startswith("load") else 1            # the input cube, held before the step
    need = BASE_BYTES + (cube_bytes * (held + ESTIMATE[lib[:2]].get(step, 1.2)) if eager else 0)
    if need > limit:
        return {**base, "status": "skipped",
                "reason": f"needs about {need / 1e9:.1f} GB, limit {limit / 1e9:.1f} GB"}
    names = sorted({"si.zarr"} if chain else needed_files(lib, step))
    spec = json.dumps({"folder": str(folder), "lib": lib, "step": step, "chain": chain,
                       "names": names})
    runs = []
    for _ in range(args.repeats):
        result, why, tail = _watch([sys.executable, __file__, "--case", spec], limit,
                                   args.timeout)
        if result is None:
            status, _, reason = why.partition(": ")
            if status == "error":
                reason += ": " + next((ln for ln in reversed(tail.splitlines()) if ln.strip()),
                                      "")
            return {**base, "status": status, "reason": reason[:300]}
        runs.append(result)
    best = min(runs, key=lambda r: r["cpu_s"])          # the least disturbed run
    best["peak_over_cube"] = best["peak_extra_bytes"] / cube_bytes
    return {**base, **best, "limit_bytes": limit, "repeats": len(runs),
            "cpu_s_all": [r["cpu_s"] for r in runs], "wall_s_all": [r["wall_s"] for r in runs],
            "peak_extra_bytes_all": [r["peak_extra_bytes"] for r in runs]}


# ----------------------------------------------------------------------------- driver
def _cases_to_run(args):
    """``(shape, chain, [(lib, step), ...])`` per cube."""
    libs = args.libs or (CHAIN_LIBS if args.chain else LIBS)
    if args.chain:
        steps = args.steps or CHAIN_STEPS
        return [(args.chain_shape, True, [(lib, s) for lib in libs for s in steps
                                          if available(lib, s, chain=True)])]
    steps = args.steps or STEPS
    sizes = args.sizes or [parse_size(s) for s in DEFAULT_SIZES]
    return [(shape, False, [(lib, s) for s in steps for lib in libs if available(lib, s)])
            for shape in sizes]


def _done(log: Path | None) -> dict:
    if log is None or not log.exists():
        return {}
    return {(c["size"], c["lib"], c["step"], c.get("chain", False)): c
            for c in read_cases(log) if c["status"] in ("ok", "skipped", "killed", "timeout")}


def run(args) -> dict:
    root = args.data_dir or Path(tempfile.gettempdir()) / "eelswidgets_bench_scale"
    done = _done(args.log)
    cases = []
    for shape, chain, todo in _cases_to_run(args):
        label = size_label(shape)
        folder = root / (f"chain_{label}" if chain else label)
        todo = [(lib, s) for lib, s in todo if (label, lib, s, chain) not in done]
        cases += [c for c in done.values() if c["size"] == label and c.get("chain") == chain]
        if todo:
            names = {"si.zarr"} if chain else set().union(*(needed_files(lib, s)
                                                            for lib, s in todo))
            t0 = time.perf_counter()
            _prepare(folder, shape, names)
            print(f"{label}: files written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for lib, step in todo:
            case = run_case(folder, shape, lib, step, chain, args)
            cases.append(case)
            print(json.dumps(case), file=sys.stderr)
            if args.log is not None:
                with open(args.log, "a") as fh:
                    fh.write(json.dumps(case) + "\n")
        if not args.keep_data:
            shutil.rmtree(folder, ignore_errors=True)
    return {"benchmark": "scale",
            "threads": {"blas_omp": 1, "torch": 1, "dask_scheduler": "synchronous"},
            "cases": cases, "ratios_ew_over_hs": ratios(cases), "targets": targets(cases)}


def main(argv=None) -> dict:
    args = _parse(argv)
    if args.prepare:
        spec = json.loads(args.prepare)
        folder, shape = Path(spec["folder"]), tuple(spec["shape"])
        _write_files(folder, shape, spec["names"])
        _write_files(folder / "tiny", (TINY, TINY, shape[2]), spec["names"])
        return {}
    if args.case:
        print(json.dumps(_run_case(json.loads(args.case))))
        return {}
    if args.markdown:
        print(markdown(read_cases(args.markdown)))
        return {}
    from _common import emit, environment, setup_threads

    import eelswidgets as ew

    setup_threads(1)
    t0 = time.perf_counter()
    result = run(args)
    result["seconds"] = time.perf_counter() - t0
    result["eelswidgets"] = str(Path(ew.__file__).resolve().parent.parent.name)
    result["env"] = environment()
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
