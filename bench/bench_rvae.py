"""rVAE training/encoding throughput: spatial (paper-faithful) and fast decoders vs AtomAI.

Workload (issue 3): 4000 windows of 3 x 16 x 16 (rotated copies of a 3-channel motif from
:func:`eelswidgets.datasets.rotated_motifs`), batch 100, 2 content latents, translation on,
the AtomAI-sized network (MLP encoder and decoder with 2 hidden layers of 128 tanh units).
Reports per epoch seconds, training and encoding samples/s, peak memory added by training,
FLOPs counted by ``torch.utils.flop_counter`` for one training step and the achieved GFLOP/s
as a fraction of ``torch.mm`` GFLOP/s measured in the same run.

The AtomAI 0.8.1 baseline (``atomai.models.rVAE.fit`` on the same windows and batch size) runs
when ``--atomai-python`` names a Python interpreter that has atomai 0.8.1 installed (keep it
in its own virtual environment: it pins other versions). Its epochs are interleaved with ours
(one AtomAI epoch after each of our epochs) so that both see the same load on a shared
machine; speed-ups are medians of the paired epoch-time ratios. Without it the stated
reference of about 5 s per epoch on a 2-core machine is used and flagged as such.

Run ``python bench/bench_rvae.py [--quick] [--atomai-python PATH]``; prints JSON.
"""

from __future__ import annotations

import os

# A shared machine: threads that spin while waiting for the other steal its CPU time; wait
# passively instead (applies to every run of this script, the AtomAI baseline included).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_THREADS,
    PeakMemory,
    emit,
    environment,
    matmul_gflops,
    setup_threads,
)

from eelswidgets.datasets import rotated_motifs
from eelswidgets.models import MultichannelRVAE
from eelswidgets.patches import ArrayWindows

ATOMAI_STATED_S_PER_EPOCH = 5.0

_ATOMAI_SCRIPT = textwrap.dedent("""
    # AtomAI's own rVAE.fit, paused before every epoch until the parent asks for it, so
    # that its epochs interleave with ours and both see the same machine load.
    import json, sys, time
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[3]))
    import atomai
    from atomai.models import rVAE
    x = np.load(sys.argv[1])                       # (n, h, w, c) as AtomAI expects
    state = {"t0": None, "ready": False}
    def report():
        if state["t0"] is not None:
            print("TIME", time.perf_counter() - state["t0"], flush=True)
            state["t0"] = None
    class Paced(rVAE):
        def train_epoch(self):                     # the epoch = train + stats + save
            report()
            if not state["ready"]:
                print("READY", json.dumps({"atomai": atomai.__version__,
                                           "torch": torch.__version__,
                                           "threads": torch.get_num_threads()}), flush=True)
                state["ready"] = True
            if sys.stdin.readline().strip() != "epoch":
                sys.exit(0)
            state["t0"] = time.perf_counter()
            return super().train_epoch()
    model = Paced(x.shape[1:], latent_dim=2, translation=True, seed=0)
    model.fit(x, training_cycles=int(sys.argv[2]), batch_size=100, rotation_prior=0.1)
    report()
""")


class AtomAIServer:
    """AtomAI 0.8.1's rVAE training in another interpreter, one epoch per request."""

    def __init__(self, python: str, windows: np.ndarray, epochs: int, threads: int):
        self.tmp = tempfile.TemporaryDirectory()
        data = Path(self.tmp.name) / "windows.npy"
        np.save(data, np.ascontiguousarray(windows.transpose(0, 2, 3, 1)))
        script = Path(self.tmp.name) / "atomai_rvae.py"
        script.write_text(_ATOMAI_SCRIPT)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen([python, str(script), str(data), str(epochs),
                                      str(threads)], cwd=self.tmp.name, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.info = json.loads(self._wait("READY"))
        self.times: list[float] = []

    def _wait(self, tag: str) -> str:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read().strip().splitlines()[-5:]
                raise RuntimeError(f"the AtomAI process ended: {err}")
            if line.startswith(tag):
                return line[len(tag):].strip()

    def epoch(self) -> float:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        self.times.append(float(self._wait("TIME")))
        return self.times[-1]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.tmp.cleanup()


class _Interleave:
    """Trainer callback: after each of our epochs, let AtomAI run one epoch."""

    def __init__(self, server: AtomAIServer | None):
        self.server = server
        self.atomai: list[float] = []

    def on_epoch_end(self, trainer, info):
        if self.server is not None:
            self.atomai.append(self.server.epoch())


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default 5)")
    p.add_argument("--atomai-python", default=None,
                   help="interpreter of a virtual environment with atomai==0.8.1")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def make_windows(n: int) -> tuple[np.ndarray, np.ndarray]:
    side = int(np.ceil(np.sqrt(n)))
    st = rotated_motifs(n_side=side, spacing=16, channels=3, symmetry=1, seed=0)
    return st.windows(16)[:n], st.angles[:n]


def step_flops(model: MultichannelRVAE, windows: np.ndarray, batch: int) -> int:
    """FLOPs of one training step (forward + backward) on a batch, counted by torch.

    Counted on the plain autograd version of the decoder: the fused spatial decoder computes
    the same function (and gradients) with ``out=``/in-place kernels the counter skips.
    """
    module = model.module_
    if hasattr(module.decoder, "fused"):
        module.decoder.fused = False
    module.train()
    x = ArrayWindows(windows[:batch], normalization=model.state_["normalization"]).data
    counter = FlopCounterMode(display=False)
    with counter:
        mu, logvar = module.encoder(x)
        lat = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        out = module.decode(*module.split(lat))
        loss = (out - x).pow(2).mean() + logvar.mean()
        loss.backward()
    module.zero_grad(set_to_none=True)
    module.eval()
    if hasattr(module.decoder, "fused"):
        module.decoder.fused = True
    return int(counter.get_total_flops())


def run_ours(decoder: str, windows: np.ndarray, angles: np.ndarray, epochs: int,
             server: AtomAIServer | None) -> dict:
    n = len(windows)
    model = MultichannelRVAE(window=16, latent_dim=2, decoder=decoder, epochs=epochs,
                             batch_size=100, seed=0, device="cpu")
    pace = _Interleave(server)
    matmul = matmul_gflops(1024, 1.0)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        model.fit(windows, progress=False, callbacks=[pace])
        fit_s = time.perf_counter() - t0
    matmul = 0.5 * (matmul + matmul_gflops(1024, 1.0))
    ours = model.history_["seconds"]
    per_epoch = float(np.median(ours))
    t0 = time.perf_counter()
    enc = model.encode(windows)
    enc_s = time.perf_counter() - t0
    flops = step_flops(model, windows, 100)
    steps = int(np.ceil(n / 100))
    gflops = flops * steps / per_epoch / 1e9
    r = float(np.abs(np.mean(np.exp(1j * (enc["angle"] - angles)))))
    paired = ({"atomai_epoch_seconds": pace.atomai,
               "speedup_vs_atomai_paired": float(np.median(np.array(pace.atomai)
                                                           / np.array(ours)))}
              if pace.atomai else {})
    return {
        "decoder": decoder,
        "epochs": epochs,
        "seconds_per_epoch": per_epoch,
        "epoch_seconds": model.history_["seconds"],
        "fit_seconds_including_atomai_epochs": fit_s,
        "matmul_gflops": matmul,
        "train_samples_per_s": n / per_epoch,
        "encode_samples_per_s": n / enc_s,
        "peak_memory_added_mb": mem.peak / 1e6,
        "flops_per_train_step": flops,
        "achieved_gflops": gflops,
        "fraction_of_matmul": gflops / matmul,
        "final_loss": model.history_["loss"][-1],
        "angle_resultant_after_training": r,
        **paired,
    }


def main(argv=None) -> dict:
    args = parse(argv)
    setup_threads(args.threads)
    n = 400 if args.quick else 4000
    epochs = args.epochs or (2 if args.quick else 5)
    windows, angles = make_windows(n)
    server = None
    atomai: dict = {"measured": False, "error": "no --atomai-python given"}
    if args.atomai_python:
        try:
            server = AtomAIServer(args.atomai_python, windows, 2 * epochs, args.threads)
        except (OSError, RuntimeError, ValueError) as err:
            atomai = {"measured": False, "error": str(err)}
    try:
        spatial = run_ours("spatial", windows, angles, epochs, server)
        fast = run_ours("fast", windows, angles, epochs, server)
    finally:
        if server is not None:
            server.close()
    if server is not None:
        times = server.times
        atomai = {**server.info, "measured": True, "epoch_seconds": times,
                  "seconds_per_epoch": float(np.median(times)),
                  "train_samples_per_s": n / float(np.median(times))}
        sp_spatial = spatial["speedup_vs_atomai_paired"]
        sp_fast = fast["speedup_vs_atomai_paired"]
    else:
        base = ATOMAI_STATED_S_PER_EPOCH * n / 4000
        sp_spatial = base / spatial["seconds_per_epoch"]
        sp_fast = base / fast["seconds_per_epoch"]
    result = {
        "benchmark": "rvae",
        "quick": args.quick,
        "workload": {"n_windows": n, "channels": 3, "window": 16, "batch_size": 100,
                     "latent_dim": 2, "translation": True, "hidden": 128, "layers": 2},
        "spatial": spatial,
        "fast": fast,
        "atomai": atomai,
        "atomai_baseline": ("measured, epochs interleaved with ours" if server is not None
                            else f"stated ~{ATOMAI_STATED_S_PER_EPOCH} s/epoch"),
        "speedup_spatial_vs_atomai": sp_spatial,
        "speedup_fast_vs_atomai": sp_fast,
        "speedup_fast_vs_spatial": spatial["seconds_per_epoch"] / fast["seconds_per_epoch"],
        "targets": {"spatial_vs_atomai": 2.0, "fast_vs_atomai": 10.0},
        "env": environment(),
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
