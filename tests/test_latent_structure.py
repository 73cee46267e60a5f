"""Measures of latent structure: each checked on maps and codes whose answer is known."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import eelswidgets as ew
from eelswidgets import latent_structure as ls


def framed(m, border=3):
    """``m`` with a NaN frame, as a windowed model returns its maps."""
    out = np.full((m.shape[0] + 2 * border, m.shape[1] + 2 * border), np.nan)
    out[border:-border, border:-border] = m
    return out


def smooth_noise(sigma, shape=(64, 64), seed=0):
    return gaussian_filter(np.random.default_rng(seed).normal(size=shape), sigma, mode="wrap")


def test_public_name():
    assert ew.latent_structure.dominant_period is ls.dominant_period


def test_latent_kl_zero_at_the_prior_and_analytic_otherwise():
    n = 100
    z = np.zeros((n, 2))
    s = np.ones((n, 2))
    z[:, 1], s[:, 1] = 2.0, 0.5
    kl = ls.latent_kl(z, s)
    assert kl[0] == pytest.approx(0.0, abs=1e-12)
    assert kl[1] == pytest.approx(0.5 * (4 + 0.25 - 1 - 2 * np.log(0.5)))
    maps = np.full((5, 6, 2), np.nan)                # NaN rows (the border) are skipped
    maps[1:4, 1:5] = 1.0
    assert np.allclose(ls.latent_kl(maps, np.ones_like(maps)), 0.5)


def test_latent_kl_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        ls.latent_kl(np.zeros((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="positive"):
        ls.latent_kl(np.zeros((4, 2)), np.zeros((4, 2)))


def test_variance_ratio_sees_a_collapsed_latent():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 2)) * [1.0, 0.05]
    assert ls.variance_ratio(z) == pytest.approx(0.0025, rel=0.3)
    assert ls.variance_ratio(rng.normal(size=(500, 2))) > 0.8
    with pytest.raises(ValueError, match="2 latents"):
        ls.variance_ratio(rng.normal(size=(50, 1)))


def test_smooth_fraction_and_correlation_length_grow_with_the_feature_scale():
    fine, coarse = smooth_noise(1.0), smooth_noise(6.0)
    # white noise smoothed at sigma, then at 2 px: variance ratio sigma^2 / (sigma^2 + 4)
    assert ls.smooth_fraction(framed(coarse)) == pytest.approx(0.9, abs=0.07)
    assert ls.smooth_fraction(framed(fine)) == pytest.approx(0.2, abs=0.07)
    lf, lc = ls.correlation_length(framed(fine)), ls.correlation_length(framed(coarse))
    # Gaussian-smoothed white noise: autocorrelation exp(-r^2 / 4 sigma^2), 1/e at 2 sigma
    assert lf == pytest.approx(2.0, rel=0.25)
    assert lc == pytest.approx(12.0, rel=0.3)


def test_maps_must_have_one_finite_rectangle():
    m = framed(smooth_noise(2.0))
    m[30, 30] = np.nan
    with pytest.raises(ValueError, match="rectangle"):
        ls.correlation_length(m)
    with pytest.raises(ValueError, match="no finite"):
        ls.smooth_fraction(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="sigma"):
        ls.smooth_fraction(smooth_noise(2.0), sigma=0)


def test_cluster_silhouette_separates_two_blobs_from_one_cloud():
    rng = np.random.default_rng(1)
    blobs = np.concatenate([rng.normal(-3, 0.5, (300, 2)), rng.normal(3, 0.5, (300, 2))])
    s2, labels = ls.cluster_silhouette(blobs)
    assert s2 > 0.7
    assert labels.shape == (600,) and len(set(labels[:300])) == 1 != len(set(labels))
    s1, _ = ls.cluster_silhouette(rng.normal(size=(600, 2)))
    assert s1 < 0.45
    with pytest.raises(ValueError, match="clusters"):
        ls.cluster_silhouette(blobs[:2])


def test_density_modes_counts_peaks_of_a_kde():
    rng = np.random.default_rng(2)
    two = np.concatenate([rng.normal(-3, 0.6, (400, 2)), rng.normal(3, 0.6, (400, 2))])
    one = rng.normal(size=(800, 2))
    for pts, n in ((two, 2), (one, 1)):
        _, _, density = ew.analysis.latent_kde(pts, grid=60)
        assert ls.density_modes(density) == n
    assert ls.density_modes(np.zeros((10, 10))) == 0
    with pytest.raises(ValueError, match="threshold"):
        ls.density_modes(np.ones((10, 10)), threshold=1.5)


@pytest.mark.parametrize("period", [5.0, 7.81, 12.0])
def test_dominant_period_of_a_column_lattice(period):
    yy, xx = np.mgrid[:50, :64]
    rng = np.random.default_rng(3)
    m = np.cos(2 * np.pi * xx / period) + 0.3 * rng.normal(size=xx.shape) + 0.02 * yy
    res = ls.dominant_period(framed(m), axis=1)
    assert res["period"] == pytest.approx(period, rel=0.04)
    assert res["contrast"] > 10
    flat = ls.dominant_period(framed(m), axis=0)     # nothing periodic along y
    assert flat["contrast"] < res["contrast"] / 5
    with pytest.raises(ValueError, match="axis"):
        ls.dominant_period(m, axis=2)
