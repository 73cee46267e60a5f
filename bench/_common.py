"""Shared helpers of the benchmark scripts: threads, JSON output, peak memory, matmul speed.

Every benchmark prints one JSON object to stdout (and can also write it to a file with
``--out``); ``--quick`` runs a small smoke version.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

DEFAULT_THREADS = 2


def parse_args(description: str, argv=None) -> argparse.Namespace:
    """Common command line: ``--quick``, ``--threads N``, ``--out FILE``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"torch threads (default {DEFAULT_THREADS})")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def setup_threads(n: int = DEFAULT_THREADS) -> int:
    """Use ``n`` torch intra-op threads (and one inter-op thread)."""
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # may be set only once per process
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()


def environment() -> dict:
    """Versions and machine facts recorded with every result."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def emit(result: dict, out: Path | None = None) -> None:
    """Print ``result`` as JSON on stdout (and write it to ``out``)."""
    text = json.dumps(result, indent=2, sort_keys=False, default=float)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    sys.stdout.flush()


def finish(result: dict, t_start: float, out: Path | None = None) -> dict:
    """Add the run's wall time (since ``t_start``) and environment, emit, return ``result``."""
    result["seconds"] = time.perf_counter() - t_start
    result["env"] = environment()
    emit(result, out)
    return result


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """Achieved float32 GFLOP/s of ``torch.mm`` on ``n x n`` matrices (current threads)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    reps = 0
    t0 = time.perf_counter()
    while True:
        torch.mm(a, b, out=c)
        reps += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and reps >= 3:
            break
    return 2.0 * n ** 3 * reps / dt / 1e9


# ----------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Current resident set size in bytes (Linux; falls back to ru_maxrss)."""
    kb = _status_kb("VmRSS")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024


class PeakMemory:
    """Measure the peak resident memory added while the ``with`` block runs.

    Uses the kernel's high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``)
    when possible, else a sampling thread (every millisecond). ``peak`` is the peak RSS
    above the RSS at entry, in bytes; it covers torch allocations, which ``tracemalloc``
    does not see.
    """

    def __enter__(self):
        self.method = "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.method = "sampling"
        self.base = rss_bytes()
        self._max = self.base
        self._stop = threading.Event()
        if self.method == "sampling":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._max = max(self._max, rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.method == "VmHWM":
            hwm = _status_kb("VmHWM")
            self._max = hwm * 1024 if hwm is not None else rss_bytes()
        else:
            self._stop.set()
            self._thread.join()
        self.peak = max(0, self._max - self.base)
        return False


def cube_parser(description: str, cases) -> argparse.ArgumentParser:
    """The options every fresh-process cube benchmark shares.

    ``--quick`` (64 x 64 x 256), ``--shape NY NX NE`` (default 256 x 256 x 1024), ``--out``,
    and the hidden ``--case`` that :func:`run_fresh` passes to a child process.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small smoke run (64 x 64 x 256)")
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("NY", "NX", "NE"),
                   help="cube shape (default 256 256 1024: a 256 MiB cube)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--case", choices=cases, help=argparse.SUPPRESS)   # one case, in a child
    return p


def run_fresh(script: str, cases, *args: str) -> dict:
    """Run ``script --case CASE *args`` in a fresh process per case; their last JSON lines.

    A fresh process per case keeps one case's memory (allocator caches, imported modules)
    out of the next one's peak-RSS measurement.
    """
    out = {}
    for case in cases:
        proc = subprocess.run([sys.executable, script, "--case", case, *args],
                              capture_output=True, text=True, check=True, env=os.environ)
        out[case] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def peak_result(benchmark: str, shape, cases: dict, **fields) -> dict:
    """The JSON of a peak-memory benchmark over ``run_fresh`` cases of one float32 cube.

    ``ratios`` gathers each case's ``peak_over_cube`` (None for a case that failed);
    ``fields`` come after ``cube_mb``.
    """
    return {"benchmark": benchmark, "shape": list(shape),
            "cube_mb": int(math.prod(shape)) * 4 / 1e6, **fields,
            "ratios": {case: None if c["peak_over_cube"] is None else
                       round(c["peak_over_cube"], 3) for case, c in cases.items()},
            "cases": cases, "env": environment()}


def timed(fn, *, repeats: int = 1) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
