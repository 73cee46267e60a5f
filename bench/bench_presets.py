"""Paper presets against the defaults: accuracy and speed of Im2Spec, Spec2Im and the rVAE.

``Model.from_preset("paper")`` sets each model as the papers describe it (Im2Spec: the
dilated pyramid on the full-length spectrum, no sub-pixel shuffle, 64 filters; Spec2Im: the
full-resolution pyramid at 64 channels; the rVAE: no translation latents, a fixed sigma).
This benchmark measures what that costs and gains against the default settings, on
``ew.datasets.nanocube_film`` with the papers' metric (``ew.analysis.scaled_mse_percent``):

- **Im2Spec / Spec2Im**: the data and split of ``bench_latents.py`` (film cropped to
  0.3-1.3 eV and binned, train on the left half, test on the right half, windows inside the
  image), ``latent_dim=10``; the test error is the mean over the test pixels of the per-pixel
  (im2spec) or per-window (spec2im) error against the measured data.
- **rVAE**: the first three NMF abundance maps of the same film (``ew.decompose(..., 4)``),
  10x10 windows, trained on the windows centred in the left half and tested on the right
  half: the reconstruction error of each window (encoded, decoded at its encoded pose) in %
  of the windows normalised to [0, 1] per channel, i.e. ``scaled_mse_percent`` of the
  normalised windows.

For each model and preset, several seeds: the test error (per seed, mean, standard deviation
with ddof 1, min, max), the training error, and the seconds per epoch; then the ratios
paper / default of the mean test error and of the mean seconds per epoch.

Run ``OMP_WAIT_POLICY=PASSIVE python bench/bench_presets.py [--quick] [--models rvae]``;
JSON on stdout (``--out FILE`` to keep it). ``--quick`` is a smoke run of about two minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import DEFAULT_THREADS, finish, setup_threads  # noqa: E402
from bench_latents import fit_and_score, make_data, parse_models, summary  # noqa: E402

import eelswidgets as ew  # noqa: E402
from eelswidgets.models.splits import left_right_split  # noqa: E402

PRESETS = ("default", "paper")
KINDS = ("im2spec", "spec2im", "rvae")
LATENT = 10                 # Im2Spec / Spec2Im latent size (paper 2's larger one)
RVAE_WINDOW = 10
RVAE_CHANNELS = 3


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run (~2 min)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--models", default=",".join(KINDS), help="comma-separated")
    p.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 2)")
    p.add_argument("--epochs-im2spec", type=int, default=None, help="default 10 (quick: 1)")
    p.add_argument("--epochs-spec2im", type=int, default=None, help="default 10 (quick: 1)")
    p.add_argument("--epochs-rvae", type=int, default=None, help="default 20 (quick: 2)")
    p.add_argument("--bin", type=int, default=4, help="energy binning (default 4)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def rvae_data(low):
    """NMF maps ``(3, ny, nx)`` of the film and the left-half training mask."""
    dec = ew.decompose(low, RVAE_CHANNELS + 1, method="nmf", random_state=0)
    return dec.maps[:RVAE_CHANNELS].astype(np.float32), left_right_split(low)


def fit_rvae(maps, train, *, preset, seed, epochs, batch):
    """Train one rVAE; return (test error, train error, final loss, fit seconds)."""
    model = ew.MultichannelRVAE.from_preset(preset, window=RVAE_WINDOW, epochs=epochs,
                                            batch_size=batch, seed=seed, device="cpu")
    t0 = time.perf_counter()
    model.fit(maps, mask=train, progress=False)
    seconds = time.perf_counter() - t0
    print(f"rvae {preset} seed={seed}: {seconds:.0f} s", file=sys.stderr, flush=True)
    err = 100.0 * model.reconstruction_error(maps)        # % of windows scaled to [0, 1]
    ok = np.isfinite(err)
    return (float(np.mean(err[ok & ~train])), float(np.mean(err[ok & train])),
            float(model.history_["loss"][-1]), seconds)


def block(runs, epochs: int) -> dict:
    """Summaries of ``runs`` ``[(test, train, loss, seconds), ...]`` of one preset."""
    return {"test": summary([r[0] for r in runs]), "train": summary([r[1] for r in runs]),
            "final_loss": summary([r[2] for r in runs]),
            "seconds_per_epoch": summary([r[3] / epochs for r in runs])}


def ratios(rows: dict) -> dict:
    """paper / default of the mean test error and of the mean seconds per epoch."""
    d, p = rows["default"], rows["paper"]
    return {"test_error": p["test"]["mean"] / d["test"]["mean"],
            "seconds_per_epoch": (p["seconds_per_epoch"]["mean"]
                                  / d["seconds_per_epoch"]["mean"])}


def main(argv=None) -> dict:
    args = parse(argv)
    setup_threads(args.threads)
    seeds = list(range(args.seeds or (2 if args.quick else 3)))
    epochs = {"im2spec": args.epochs_im2spec or (1 if args.quick else 10),
              "spec2im": args.epochs_spec2im or (1 if args.quick else 10),
              "rvae": args.epochs_rvae or (2 if args.quick else 20)}
    kinds = parse_models(args.models, KINDS)
    t_start = time.perf_counter()
    low, _, fit, test = make_data(args.bin, args.quick)
    result = {"benchmark": "presets", "quick": args.quick,
              "metric": "scaled_mse_percent against the measured data (mean over test "
                        "pixels); rVAE: reconstruction MSE in % of the windows normalised "
                        "to [0, 1] per channel",
              "data": {"generator": "nanocube_film(seed=0, zlp_tail=False)",
                       "shape": list(low.shape), "energy_bin": args.bin,
                       "n_fit": int(fit.sum()), "n_test": int(test.sum())},
              "seeds": seeds, "epochs": {k: epochs[k] for k in kinds},
              "batch_size": args.batch_size,
              "presets": {name: {k: dict(cls.presets[name]) for k, cls in (
                  ("im2spec", ew.Im2Spec), ("spec2im", ew.Spec2Im),
                  ("rvae", ew.MultichannelRVAE))} for name in PRESETS}}
    maps = None
    for kind in kinds:
        rows = {}
        for preset in PRESETS:
            if kind == "rvae":
                if maps is None:
                    maps, train = rvae_data(low)
                runs = [fit_rvae(maps, train, preset=preset, seed=s, epochs=epochs[kind],
                                 batch=args.batch_size) for s in seeds]
            else:
                runs = [fit_and_score(kind, low, fit, test, latent=LATENT, width=None,
                                      seed=s, epochs=epochs[kind], batch=args.batch_size,
                                      binning=args.bin, preset=preset) for s in seeds]
            rows[preset] = block(runs, epochs[kind])
        rows["paper_over_default"] = ratios(rows)
        result[kind] = rows
    return finish(result, t_start, args.out)


if __name__ == "__main__":
    main()
