"""Peak memory of lazy windows: 16x16 windows around every pixel of a 256x256x9 stack.

Materialising every window would take ``N * 9 * 16 * 16 * 4`` bytes (about 560 MB for the
58 081 windows that fit); the lazy :class:`eelswidgets.patches.Windows` keeps one normalised
float32 copy of the stack and cuts one batch at a time. The benchmark creates the windows and
runs every batch through an rVAE encoder (the model), measuring the peak resident memory
added, and checks it against the budget ``1.5 * stack bytes + model bytes``.

Run ``python bench/bench_patches.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import os

# A shared machine: threads that spin while waiting for the other steal its CPU time; wait
# passively instead (applies to every run of this script, the AtomAI baseline included).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, emit, environment, parse_args, setup_threads

from eelswidgets.models._rvae_nets import RVAEEncoder
from eelswidgets.patches import Windows


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    setup_threads(args.threads)
    size, channels, window = (96, 9, 16) if args.quick else (256, 9, 16)
    batch = 64
    rng = np.random.default_rng(0)
    stack = rng.random((channels, size, size), dtype=np.float32)
    model = RVAEEncoder(channels * window * window, 5, 128, 2).eval()
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    # warm-up on a different small stack: library initialisation is not the windows' cost
    warm = Windows(rng.random((channels, 32, 32), dtype=np.float32), window)
    with torch.inference_mode():
        for _, xb in warm.batches(batch):
            model(xb)
    del warm

    t0 = time.perf_counter()
    with PeakMemory() as mem, torch.inference_mode():
        win = Windows(stack, window)
        checksum = 0.0
        for _, xb in win.batches(batch):
            mu, _ = model(xb)
            checksum += float(mu.sum())
    seconds = time.perf_counter() - t0
    stack_bytes = stack.nbytes
    materialized = win.nbytes_materialized
    budget = 1.5 * stack_bytes + model_bytes
    result = {
        "benchmark": "patches",
        "quick": args.quick,
        "stack_shape": [channels, size, size],
        "window": window,
        "n_windows": len(win),
        "batch_size": batch,
        "stack_mb": stack_bytes / 1e6,
        "model_mb": model_bytes / 1e6,
        "materialized_mb_computed": materialized / 1e6,
        "peak_added_mb": mem.peak / 1e6,
        "peak_method": mem.method,
        "budget_mb": budget / 1e6,
        "peak_over_stack_plus_model": mem.peak / (stack_bytes + model_bytes),
        "peak_over_materialized": mem.peak / materialized,
        "within_budget": bool(mem.peak < budget),
        "windows_per_s": len(win) / seconds,
        "seconds": seconds,
        "checksum": checksum,
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
