"""Runtime and peak memory of every notebook, each executed alone in a fresh kernel, JSON out.

Each notebook runs in its own subprocess (nbclient, a fresh ``python3`` kernel, outputs kept in
memory only); its wall time and the peak resident memory of that process tree (the kernel
dominates) are recorded. Full settings by default, the CI settings with ``--quick``
(``EELSWIDGETS_FAST=1``). Ratios compare with the limits the notebooks must respect: Binder's
2 GB per notebook and, for ``--quick``, 10 minutes for all notebooks together in CI.

Run: ``python bench/bench_notebooks.py [--quick] [--out FILE] [notebooks/01_*.ipynb ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, environment  # noqa: E402

REPO = HERE.parent
BINDER_MEMORY_MB = 2048
CI_BUDGET_S = 600

RUNNER = r"""
import json, os, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
t0 = time.perf_counter()
NotebookClient(nb, timeout=3600, kernel_name="python3",
               resources={"metadata": {"path": os.path.dirname(path)}}).execute()
wall = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": round(wall, 1), "kernel_peak_mb": round(peak_kb / 1024, 1)}))
"""


def run_one(path: Path, fast: bool) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("EELSWIDGETS_FIGURES", None)
    if fast:
        env["EELSWIDGETS_FAST"] = "1"
    else:
        env.pop("EELSWIDGETS_FAST", None)
    r = subprocess.run([sys.executable, "-c", RUNNER, str(path)], capture_output=True,
                       text=True, env=env, cwd=REPO, check=False)
    if r.returncode:
        return {"error": (r.stderr or r.stdout)[-2000:]}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["peak_over_binder_limit"] = round(res["kernel_peak_mb"] / BINDER_MEMORY_MB, 3)
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", type=Path,
                   help="notebooks to run (default: every notebooks/*.ipynb)")
    p.add_argument("--quick", action="store_true", help="CI settings (EELSWIDGETS_FAST=1)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    result = {"benchmark": "notebooks", "settings": "ci (fast)" if args.quick else "full",
              "environment": environment(), "notebooks": {}}
    t0 = time.perf_counter()
    for path in paths:
        result["notebooks"][path.name] = run_one(path.resolve(), args.quick)
    done = [r for r in result["notebooks"].values() if "wall_s" in r]
    total = sum(r["wall_s"] for r in done)
    result["total_wall_s"] = round(total, 1)
    result["max_kernel_peak_mb"] = max((r["kernel_peak_mb"] for r in done), default=None)
    if args.quick:
        result["total_over_ci_budget"] = round(total / CI_BUDGET_S, 3)
    result["failed"] = sorted(k for k, r in result["notebooks"].items() if "error" in r)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)
