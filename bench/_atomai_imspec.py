"""Reference run of AtomAI's ImSpec on the pairs written by ``bench_im2spec.py``.

Runs in a separate Python environment that has ``atomai`` installed (its dependencies clash
with this project's), reading the pairs from an ``.npz`` file and printing one JSON object:
``python _atomai_imspec.py PAIRS.npz --epochs N --batch-size B --threads T``.

AtomAI's own ``fit`` is timed with ``full_epoch=True`` (one training cycle = one pass over
the training pairs, then one pass over the test pairs given to ``fit``, for which a single
mini-batch is passed to keep that overhead small), no stochastic weight averaging and no plot.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pairs")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import atomai
    from atomai.models import ImSpec

    d = np.load(args.pairs)
    x_tr, y_tr = d["x_train"].astype(np.float32), d["y_train"].astype(np.float32)
    x_te, y_te = d["x_test"].astype(np.float32), d["y_test"].astype(np.float32)
    in_dim, out_dim = tuple(x_tr.shape[1:]), tuple(y_tr.shape[1:])
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 (AtomAI shuffles with the global RNG)
    model = ImSpec(in_dim, out_dim, latent_dim=int(d["latent_dim"]))
    n_params = sum(p.numel() for p in model.net.parameters())
    sink = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # AtomAI writes its weights to the working directory
        try:
            with contextlib.redirect_stdout(sink):
                t0 = time.perf_counter()
                model.fit(x_tr, y_tr, x_te[:args.batch_size], y_te[:args.batch_size],
                          training_cycles=args.epochs, batch_size=args.batch_size,
                          full_epoch=True, swa=False, plot_training_history=False,
                          print_loss=10**9)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                pred = model.predict(x_te, norm=False, verbose=False,
                                     num_batches=max(1, len(x_te) // 256))
                pred_s = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    pred = np.asarray(pred, dtype=np.float32).reshape(y_te.shape)
    from torch.utils.flop_counter import FlopCounterMode

    net = model.net.train()
    xb = torch.from_numpy(x_tr[:args.batch_size]).unsqueeze(1)
    yb = torch.from_numpy(y_tr[:args.batch_size]).unsqueeze(1)
    with FlopCounterMode(display=False) as counter:
        torch.mean((net(xb) - yb) ** 2).backward()
    flops = counter.get_total_flops() / len(xb)
    print(json.dumps({
        "atomai_version": atomai.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_params": n_params,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "fit_seconds": fit_s,
        "seconds_per_epoch": fit_s / args.epochs,
        "train_samples_per_s": len(x_tr) * args.epochs / fit_s,
        "predict_samples_per_s": len(x_te) / pred_s,
        "test_mse_normalized": float(np.mean((pred - y_te) ** 2)),
        "train_step_mflop_per_sample": flops / 1e6,
        "achieved_gflops": flops * len(x_tr) * args.epochs / fit_s / 1e9,
    }))


if __name__ == "__main__":
    main()
