"""Im2Spec throughput and accuracy: 16x16 HAADF windows -> 256-point spectra, latent 10.

Data: the synthetic nanocube array (80x80 pixels, 256 channels, plasmon signal without the
zero-loss tail). 1700 training pairs are drawn from the left half, the right half is the test
region. Reported (one JSON object on stdout):

- training samples/s and seconds per epoch for the 1700 pairs (batch 64), prediction and
  encoding pixels/s, peak resident memory added by ``fit``;
- achieved GFLOP/s (FLOPs of one training step counted by ``torch.utils.flop_counter``,
  times the measured samples/s) as a fraction of torch's own float32 matmul GFLOP/s measured
  in the same run;
- test MSE (normalised units: windows in [0, 1], spectra divided by the training scale, and
  in counts^2) against the mean-spectrum baseline;
- the same for AtomAI 0.8.1's ImSpec on the same normalised pairs, the same epochs and batch
  size, when ``--atomai-python`` names a Python that has ``atomai`` installed (its
  dependencies clash with this project's, so it runs in its own environment through
  ``_atomai_imspec.py``); otherwise the stated reference of ~7 s per epoch is used.

Run ``python bench/bench_im2spec.py [--quick] [--atomai-python PATH]``. On a machine shared
with other busy processes, set ``OMP_WAIT_POLICY=PASSIVE``: with spinning OpenMP threads, two
torch threads that lose their core to another process wait for each other at every operation,
which slows networks made of many small operations (like this one) by up to 10x; the setting
is recorded in the output and applies to the AtomAI run as well.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (  # noqa: E402
    DEFAULT_THREADS,
    PeakMemory,
    emit,
    environment,
    matmul_gflops,
    setup_threads,
)

import eelswidgets as ew  # noqa: E402
from eelswidgets.models.im2spec import Im2Spec, Spec2Im, _im2spec_loss  # noqa: E402
from eelswidgets.models.splits import heldout_mask, left_right_split, window_valid  # noqa: E402

ATOMAI_REFERENCE_S_PER_EPOCH = 7.0  # AtomAI 0.8.1 ImSpec, 1700 pairs, this 2-core machine
N_TRAIN = 1700
WINDOW = 16
BATCH = 64


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--epochs", type=int, default=None, help="default 30 (quick: 2)")
    p.add_argument("--atomai-python", default=None,
                   help="a Python interpreter with atomai==0.8.1 installed")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def make_split(si, seed: int = 0):
    valid = window_valid(si, WINDOW)
    left = left_right_split(si, fraction=0.5)
    pool = np.flatnonzero(left & valid)
    rng = np.random.default_rng(seed)
    train = np.zeros(si.ny * si.nx, dtype=bool)
    train[rng.choice(pool, size=min(N_TRAIN, pool.size), replace=False)] = True
    return train.reshape(si.ny, si.nx), heldout_mask(left, valid)


def train_step_flops(model: Im2Spec, batch: int) -> float:
    """FLOPs of one training step (forward + backward) per sample."""
    net = model._build_module()
    x = torch.rand(batch, 1, WINDOW, WINDOW)
    y = torch.rand(batch, int(model.state_["n_energy"]))
    with FlopCounterMode(display=False) as counter:
        _im2spec_loss(net, (x, y)).backward()
    return counter.get_total_flops() / batch


def windows_of(si, pixels, lo, hi):
    b = WINDOW // 2
    img = (si.haadf.astype(np.float64) - lo) / (hi - lo)
    return np.stack([img[y - b:y - b + WINDOW, x - b:x - b + WINDOW]
                     for y, x in pixels]).astype(np.float32)


def run_atomai(python: str, si, train, test, scale, lo, hi, epochs, threads) -> dict:
    pix_tr, pix_te = np.argwhere(train), np.argwhere(test)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.npz"
        np.savez(path, x_train=windows_of(si, pix_tr, lo, hi),
                 y_train=si.data[train] / np.float32(scale),
                 x_test=windows_of(si, pix_te, lo, hi),
                 y_test=si.data[test] / np.float32(scale), latent_dim=10)
        cmd = [python, str(HERE / "_atomai_imspec.py"), str(path), "--epochs", str(epochs),
               "--batch-size", str(BATCH), "--threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-5:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    args = parse(argv)
    setup_threads(args.threads)
    epochs = args.epochs or (2 if args.quick else 30)
    si = ew.datasets.nanocube_array(seed=0, n_energy=256, zlp_tail=False)
    train, test = make_split(si)
    reference_gflops = matmul_gflops()

    model = Im2Spec(latent_dim=10, window=WINDOW, epochs=epochs, batch_size=BATCH, seed=0,
                    device="cpu")
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        model.fit(si, train=train, progress=False)
        fit_s = time.perf_counter() - t0
    epoch_s = float(np.mean(model.history_["seconds"]))
    t0 = time.perf_counter()
    pred = model.predict(si)
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.encode(si)
    encode_s = time.perf_counter() - t0
    n_pred = int(pred.valid.sum())

    scale = float(model.state_["spec_scale"])
    truth = si.data[test].astype(np.float64)
    mse = float(np.mean((pred.data[test] - truth) ** 2))
    baseline = float(np.mean((si.mean_spectrum(train)[None] - truth) ** 2))
    flops = train_step_flops(model, BATCH)
    train_sps = N_TRAIN / epoch_s
    achieved = flops * train_sps / 1e9
    ours = {
        "n_params": sum(p.numel() for p in model.module_.parameters()),
        "epochs": epochs,
        "batch_size": BATCH,
        "n_train": int(model.state_["n_train"]),
        "seconds_per_epoch": epoch_s,
        "fit_seconds_per_epoch": fit_s / epochs,
        "train_samples_per_s": train_sps,
        "predict_pixels_per_s": n_pred / predict_s,
        "encode_pixels_per_s": n_pred / encode_s,
        "fit_peak_memory_mb": mem.peak / 1e6,
        "train_step_mflop_per_sample": flops / 1e6,
        "achieved_gflops": achieved,
        "fraction_of_matmul": achieved / reference_gflops,
        "test_mse_counts2": mse,
        "test_mse_normalized": mse / scale ** 2,
        "mean_spectrum_baseline_mse_counts2": baseline,
        "test_over_baseline": mse / baseline,
    }
    result = {"benchmark": "im2spec", "quick": args.quick, "data": {
        "shape": list(si.shape), "window": WINDOW, "n_train": int(train.sum()),
        "n_test": int(test.sum())}, "matmul_gflops": reference_gflops, "im2spec": ours}

    if not args.quick:
        sp = Spec2Im(latent_dim=10, window=WINDOW, epochs=3, batch_size=BATCH, seed=0,
                     device="cpu").fit(si, train=train, progress=False)
        s_epoch = float(np.mean(sp.history_["seconds"]))
        t0 = time.perf_counter()
        sp.window_error_map(si)
        result["spec2im"] = {"seconds_per_epoch": s_epoch,
                             "train_samples_per_s": N_TRAIN / s_epoch,
                             "predict_pixels_per_s": n_pred / (time.perf_counter() - t0)}

    if args.atomai_python:
        norm = model.state_["haadf_norm"]
        ref = run_atomai(args.atomai_python, si, train, test, scale, norm["lo"][0],
                         norm["hi"][0], epochs, args.threads)
        result["atomai_imspec"] = ref
        if "seconds_per_epoch" in ref:
            result["speedup_vs_atomai"] = ref["seconds_per_epoch"] / (fit_s / epochs)
            result["mse_over_atomai"] = (ours["test_mse_normalized"]
                                         / ref["test_mse_normalized"])
            result["predict_speedup_vs_atomai"] = (ours["predict_pixels_per_s"]
                                                   / ref["predict_samples_per_s"])
    else:
        result["atomai_imspec"] = {"skipped": "no --atomai-python given; compared with the "
                                              "stated reference",
                                   "seconds_per_epoch": ATOMAI_REFERENCE_S_PER_EPOCH}
        result["speedup_vs_atomai"] = ATOMAI_REFERENCE_S_PER_EPOCH / (fit_s / epochs)
    result["target_2x_met"] = bool(result["speedup_vs_atomai"] >= 2.0
                                   and result.get("mse_over_atomai", 0.0) <= 1.0)
    result["env"] = dict(environment(), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
