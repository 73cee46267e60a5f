"""Paper 1's rVAE studies measured directly, over several seeds (JSON out, not run in CI).

Roccapriore, Ziatdinov, Kalinin et al., "Discovering invariant spatial features in electron
energy loss spectroscopy images": a multichannel rotationally invariant VAE on windows of NMF
abundance maps. Every model is ``MultichannelRVAE.from_preset("paper")`` (no translation
latents, fixed sigma 0.1, tiles on one absolute colour scale), 2 content latents, with the
fast decoder by default (``--decoder spatial`` for the paper's; about 8x slower). Data: the
synthetic nanowires (``ew.datasets.nanowires(seed=0)``, 64x80 px of 3 nm), zero-loss tail
removed, NMF into the six plasmon modes; channels 0, 1, 2 (R, G, B) are the n=1 modes of both
wires and the n=2 mode of the long one. Seeds vary the training (initial weights, batches);
the data stay fixed.

Measures (``eelswidgets.latent_structure``; on the posterior means ``z`` over the pixels whose
window fits; each latent map measured on its own and the two averaged):

- **spread**: standard deviation of each latent (largest first);
- **KL per latent**: mean KL divergence of the posterior from N(0, 1) in nats (largest first);
  about 0 for a collapsed latent;
- **variance ratio**: variance of the least over the most variable latent (0: one collapsed);
- **smooth fraction**: share of a latent map's variance left after a Gaussian smoothing of
  2 px (1: smooth, smeared maps; low: structure at the pixel scale);
- **correlation length**: px at which a latent map's radially averaged autocorrelation falls
  to 1/e (localisation: short for localised features, long for smeared ones);
- **silhouette**: of a 2-cluster k-means of ``z`` (clustering: > ~0.5 well separated
  clusters, <= ~0.35 one continuous cloud);
- **KDE modes**: local maxima above 5 % of the peak of ``analysis.latent_kde(z, grid=80)``;
- **tile channel means**: mean R, G, B of ``model.rgb_tiles(model.manifold(8), gap=0)`` (the
  decoded manifold as the paper shows it, absolute scale); **green share** = G / (R + G + B).

Studies:

(a) windows 6, 10, 16, 30 px (the paper's): spread, smooth fraction, correlation length,
    silhouette, KDE modes, all on the same pixels (those the 30 px window sees: a smaller
    region alone would shorten the measurable correlation length);
(b) number of channels 1 ([0]), 2 ([0, 1]), 3 ([0, 1, 2]) at 10 px: KL per latent,
    variance ratio, and ``collapsed``: the fraction of seeds in which the weaker latent's KL
    is below a tenth of the stronger one's;
(c) separate (``normalize="channel"``, the paper's) vs joint (``"joint"``) normalisation,
    3 channels at 10 px: tile channel means and their balance (min / max), KL, silhouette;
(d) the second channel (green) normalised to [0, 2] (``ranges``) vs all to [0, 1], 3
    channels at 10 px: tile channel means and green share on the absolute scale;
(e) the interface (``ew.datasets.perovskite_interface(seed=0)``; background fitted before
    the Ti edge removed, 440-880 eV, NMF into 3 components as the channels), window 8 px (one
    unit cell): the dominant period of each latent map along x, parallel to the interface
    (``latent_structure.dominant_period``; the column spacing along a row is the lattice
    parameter, ``truth["lattice"] / pixel_size`` = 7.81 px) and its contrast; the KDE mode
    count; the silhouette of a 2-cluster k-means on ``z`` and its agreement with the side of
    the interface (``truth["film_mask"]``; fraction of pixels, the better of the two label
    assignments).

Every number: per seed, mean, standard deviation (ddof 1), min, max. Run
``OMP_NUM_THREADS=1 python bench/bench_paper1.py [--quick] [--out FILE]`` (about 5 minutes on
one thread with the defaults; ``--quick`` a smoke run of well under a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import finish, setup_threads  # noqa: E402
from bench_latents import summary  # noqa: E402

import eelswidgets as ew  # noqa: E402
from eelswidgets import latent_structure as ls  # noqa: E402

WINDOWS = (6, 10, 16, 30)               # the paper's window study
BASE_WINDOW = 10
CHANNEL_SETS = {"1": [0], "2": [0, 1], "3": [0, 1, 2]}
BOOST = [(0, 1), (0, 2), (0, 1)]        # the second channel (green) to [0, 2]
INTERFACE_WINDOW = 8
COLLAPSE_KL_FRACTION = 0.1              # a latent with less KL than this times the other's


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 2)")
    p.add_argument("--epochs", type=int, default=None, help="default 40 (quick: 2)")
    p.add_argument("--decoder", default="fast", choices=("fast", "spatial"))
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def wire_maps(quick: bool) -> np.ndarray:
    si = ew.datasets.nanowires(seed=0, n_energy=192 if quick else 384, keep_clean=False)
    low = si.remove_zlp(fit_window=si.truth["zlp_fit_window"]).crop_energy(0.4, 3.0).clip(0)
    return ew.decompose(low, n_components=6, method="nmf", random_state=0).maps


def interface_maps(quick: bool):
    si = ew.datasets.perovskite_interface(seed=0, n_energy=256 if quick else 512,
                                          keep_clean=False)
    t = si.truth
    core = si.remove_background(window=t["background_windows"]["Ti L2,3"])
    core = core.crop_energy(440, 880).clip(0)
    maps = ew.decompose(core, n_components=3, method="nmf", random_state=0).maps
    return maps, t["film_mask"], t["lattice"] / si.pixel_size


def latent_measures(model, stack, region=None) -> dict:
    """Spread, KL, variance ratio, smoothness, correlation length, clusters of one model.

    ``region``: measure only these pixels (the others set to NaN).
    """
    enc = model.encode(stack, return_std=True)
    z, s = enc["z"], enc["z_std"]
    if region is not None:
        z = np.where(region[..., None], z, np.nan)
        s = np.where(region[..., None], s, np.nan)
    d = z.shape[-1]
    _, _, density = ew.analysis.latent_kde(z, grid=80)
    sil, _ = ls.cluster_silhouette(z, 2, seed=0)
    out = {"spread": sorted(np.nanstd(z.reshape(-1, d), axis=0).tolist(), reverse=True),
           "kl": sorted(ls.latent_kl(z, s).tolist(), reverse=True),
           "smooth_fraction": float(np.mean([ls.smooth_fraction(z[..., k]) for k in range(d)])),
           "correlation_length": float(np.nanmean([ls.correlation_length(z[..., k])
                                                   for k in range(d)])),
           "silhouette": sil, "kde_modes": ls.density_modes(density)}
    out["variance_ratio"] = ls.variance_ratio(z) if d > 1 else float("nan")
    out["collapsed"] = float(out["kl"][-1] < COLLAPSE_KL_FRACTION * out["kl"][0])
    return out


def tile_means(model) -> dict:
    """Mean R, G, B of the decoded manifold on the model's tile scale, and the green share."""
    rgb = model.rgb_tiles(model.manifold(grid=8), gap=0)
    m = rgb.reshape(-1, 3).mean(axis=0)
    return {"rgb": m.tolist(), "green_share": float(m[1] / m.sum()),
            "balance": float(m.min() / m.max())}


def interface_measures(model, stack, film, lattice_px) -> dict:
    enc = model.encode(stack)
    z = enc["z"]
    per = [ls.dominant_period(z[..., k], axis=1, min_period=3, max_period=20)
           for k in range(z.shape[-1])]
    best = max(per, key=lambda r: r["contrast"])
    _, _, density = ew.analysis.latent_kde(z, grid=80)
    sil, labels = ls.cluster_silhouette(z, 2, seed=0)
    ok = np.all(np.isfinite(z), axis=-1)
    agree = float(np.mean(labels == film[ok]))
    return {"period_px": best["period"], "period_over_lattice": best["period"] / lattice_px,
            "period_contrast": best["contrast"], "kde_modes": ls.density_modes(density),
            "silhouette": sil, "side_agreement": max(agree, 1.0 - agree)}


def collect(runs: list[dict]) -> dict:
    """Per-seed dicts of numbers (or lists of numbers) into summaries."""
    out = {}
    for key, first in runs[0].items():
        if isinstance(first, list):
            out[key] = [summary([r[key][i] for r in runs]) for i in range(len(first))]
        else:
            out[key] = summary([r[key] for r in runs])
    return out


def one_seed(seed: int, args, wires, iface) -> dict:
    def fit(stack, window=BASE_WINDOW, **kw):
        return ew.MultichannelRVAE.from_preset(
            "paper", latent_dim=2, window=window, decoder=args.decoder, epochs=args.epochs,
            seed=seed, **kw).fit(stack, progress=False)

    rgb = wires[[0, 1, 2]]
    res = {"windows": {}, "channels": {}, "normalisation": {}, "range": {}}
    models = {w: fit(rgb, window=w) for w in WINDOWS}
    region = np.isfinite(models[max(WINDOWS)].encode(rgb)["angle"])
    for w, model in models.items():
        res["windows"][w] = latent_measures(model, rgb, region)
    base = models[BASE_WINDOW]
    for name, chans in CHANNEL_SETS.items():
        model = base if len(chans) == 3 else fit(wires[chans])
        res["channels"][name] = latent_measures(model, wires[chans])
    joint = fit(rgb, normalize="joint")
    res["normalisation"]["separate"] = {**tile_means(base), **res["channels"]["3"]}
    res["normalisation"]["joint"] = {**tile_means(joint), **latent_measures(joint, rgb)}
    res["range"]["all [0, 1]"] = tile_means(base)
    res["range"]["green [0, 2]"] = tile_means(fit(rgb, ranges=BOOST))
    maps, film, lattice_px = iface
    res["interface"] = interface_measures(fit(maps, window=INTERFACE_WINDOW), maps, film,
                                          lattice_px)
    return res


def main(argv=None) -> dict:
    args = parse(argv)
    args.seeds = args.seeds or (2 if args.quick else 3)
    args.epochs = args.epochs or (2 if args.quick else 40)
    setup_threads(args.threads)
    t0 = time.perf_counter()
    wires, iface = wire_maps(args.quick), interface_maps(args.quick)
    runs = [one_seed(s, args, wires, iface) for s in range(args.seeds)]
    result = {"benchmark": "paper1", "settings": {k: v for k, v in vars(args).items()
                                                  if k != "out"}}
    for study in ("windows", "channels", "normalisation", "range"):
        result[study] = {str(k): collect([r[study][k] for r in runs]) for k in runs[0][study]}
    result["interface"] = collect([r["interface"] for r in runs])
    result["interface"]["lattice_px"] = iface[2]
    return finish(result, t0, args.out)


if __name__ == "__main__":
    main()
