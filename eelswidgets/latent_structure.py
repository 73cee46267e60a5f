"""Measures of the structure of latent maps and codes: spread, smoothness, extent, clusters.

Arrays in, numbers out (nothing here plots or imports the models). They turn the papers'
visual statements about latent maps ("a large window smears the features", "a latent
collapses", "the latent maps are periodic along the columns", "the latent density has two
clusters") into numbers a notebook or a benchmark can print. Latent maps are ``(ny, nx)``
images with NaN where a windowed model has no value (a frame around the image: the finite
pixels form one rectangle); codes are ``(n, d)`` or ``(ny, nx, d)`` with NaN rows skipped.

- :func:`latent_kl`: mean KL divergence of each latent's posterior from the N(0, 1) prior
  (about 0 for a collapsed latent that carries no information).
- :func:`variance_ratio`: variance of the least over the most variable latent.
- :func:`smooth_fraction`: share of a map's variance that survives a Gaussian smoothing
  (near 1 for maps smooth on that scale, low for localised, fine-grained maps).
- :func:`correlation_length`: distance at which a map's autocorrelation falls to 1/e.
- :func:`cluster_silhouette`: silhouette of a k-means clustering of the codes.
- :func:`density_modes`: number of local maxima of a gridded density (a KDE).
- :func:`dominant_period`: strongest spatial period of a map along one axis.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_int

__all__ = [
    "cluster_silhouette",
    "correlation_length",
    "density_modes",
    "dominant_period",
    "latent_kl",
    "smooth_fraction",
    "variance_ratio",
]


def _finite_block(latent_map, name: str = "latent_map", min_size: int = 4) -> np.ndarray:
    """The finite rectangle of a 2D map (its NaN frame cut off), float64."""
    m = as_float_array(latent_map, name, ndim=2, dtype=np.float64)
    ok = np.isfinite(m)
    if not ok.any():
        raise ValueError(f"{name} has no finite pixel")
    rows, cols = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
    block = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    if not np.isfinite(block).all():
        raise ValueError(f"the finite pixels of {name} do not form one rectangle; pass a map "
                         f"whose only NaNs are a border frame (as the windowed models return)")
    if min(block.shape) < min_size:
        raise ValueError(f"the finite part of {name} is {block.shape}; at least "
                         f"{min_size}x{min_size} pixels are needed")
    return block


def _codes(z, name: str) -> np.ndarray:
    arr = as_float_array(z, name, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = arr.reshape(-1, arr.shape[-1])
    return arr[np.all(np.isfinite(arr), axis=1)]


def latent_kl(z, z_std) -> np.ndarray:
    """Mean KL divergence of each latent's Gaussian posterior from the N(0, 1) prior.

    ``KL = 0.5 (mu^2 + s^2 - 1 - log s^2)`` per pixel, averaged over the finite pixels. A
    latent the encoder ignores (posterior equal to the prior everywhere) has KL 0: the
    usual test for posterior collapse.

    Parameters
    ----------
    z, z_std : array_like, shape (n, d) or (ny, nx, d)
        Posterior means and standard deviations (e.g. ``encode(..., return_std=True)``).

    Returns
    -------
    numpy.ndarray, shape (d,)
        In nats per pixel.
    """
    mu = as_float_array(z, "z", dtype=np.float64)
    s = as_float_array(z_std, "z_std", dtype=np.float64)
    if mu.shape != s.shape:
        raise ValueError(f"z and z_std must have the same shape, got {mu.shape} and {s.shape}")
    mu, s = mu.reshape(-1, mu.shape[-1]), s.reshape(-1, s.shape[-1])
    ok = np.all(np.isfinite(mu), axis=1) & np.all(np.isfinite(s), axis=1)
    if not ok.any():
        raise ValueError("z has no finite row")
    if np.any(s[ok] <= 0):
        raise ValueError("z_std must be positive (posterior standard deviations)")
    mu, s = mu[ok], s[ok]
    return np.mean(0.5 * (mu**2 + s**2 - 1.0 - 2.0 * np.log(s)), axis=0)


def variance_ratio(z) -> float:
    """Variance of the least variable latent divided by that of the most variable one.

    1 when the latents are used alike; near 0 when one latent has collapsed.

    Parameters
    ----------
    z : array_like, shape (n, d) or (ny, nx, d), d >= 2
        Codes (NaN rows skipped).
    """
    c = _codes(z, "z")
    if c.shape[1] < 2 or c.shape[0] < 2:
        raise ValueError(f"variance_ratio needs at least 2 latents and 2 codes, got {c.shape}")
    v = c.var(axis=0)
    return float(v.min() / v.max()) if v.max() > 0 else float("nan")


def smooth_fraction(latent_map, sigma: float = 2.0) -> float:
    """Share of a map's variance left after a Gaussian smoothing of width ``sigma`` pixels.

    ``var(G_sigma * m) / var(m)`` over the finite rectangle (edges reflected): near 1 when the
    map varies only on scales well above ``sigma`` (smeared features), low when it holds
    structure at the pixel scale (localised features, or noise).

    Parameters
    ----------
    latent_map : array_like, shape (ny, nx)
        NaN only in a border frame.
    sigma : float
        Smoothing width in pixels (> 0).
    """
    from scipy.ndimage import gaussian_filter

    if not sigma > 0:
        raise ValueError(f"sigma must be a positive width in pixels, got {sigma!r}")
    m = _finite_block(latent_map)
    v = m.var()
    if v == 0:
        return float("nan")
    return float(gaussian_filter(m, sigma, mode="reflect").var() / v)


def correlation_length(latent_map) -> float:
    """Distance (pixels) at which a map's radially averaged autocorrelation falls to 1/e.

    The autocorrelation of the mean-free finite rectangle (zero padded, so no wrap-around;
    each lag normalised by its number of overlapping pixel pairs) is averaged over rings of
    unit width and the first crossing of ``1/e`` is interpolated linearly. Short for maps of
    localised features, long for smeared ones. NaN if the map is constant or never
    decorrelates within half the rectangle.

    Parameters
    ----------
    latent_map : array_like, shape (ny, nx)
        NaN only in a border frame.
    """
    m = _finite_block(latent_map)
    m = m - m.mean()
    if not np.any(m):
        return float("nan")
    ny, nx = m.shape
    shape = (2 * ny, 2 * nx)
    spec = np.fft.rfft2(m, shape)
    acf = np.fft.irfft2(np.abs(spec) ** 2, shape)
    pairs = np.fft.irfft2(np.abs(np.fft.rfft2(np.ones_like(m), shape)) ** 2, shape)
    acf = np.fft.fftshift(acf / np.maximum(np.round(pairs), 1.0))
    acf /= acf[ny, nx]
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    r = np.hypot(yy - ny, xx - nx)
    rmax = min(ny, nx) // 2
    ring = np.round(r).astype(int)
    keep = ring <= rmax
    prof = np.bincount(ring[keep], acf[keep]) / np.bincount(ring[keep])
    below = np.flatnonzero(prof < np.exp(-1.0))
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    a, b = prof[k - 1], prof[k]
    return float(k - 1 + (a - np.exp(-1.0)) / (a - b))


def cluster_silhouette(z, n_clusters: int = 2, *, seed: int = 0,
                       sample: int = 2000) -> tuple[float, np.ndarray]:
    """Silhouette score of a k-means clustering of the codes.

    The silhouette (in [-1, 1]) compares each code's mean distance to its own cluster with
    that to the nearest other one: above ~0.5 the codes form well separated clusters, near
    0.3 or below they form one continuous cloud cut in pieces.

    Parameters
    ----------
    z : array_like, shape (n, d) or (ny, nx, d)
        Codes (NaN rows skipped), in their own units (no rescaling).
    n_clusters : int
        Number of clusters (>= 2).
    seed : int
        Seed of k-means and of the subsample.
    sample : int
        At most this many codes enter the silhouette (its cost is quadratic).

    Returns
    -------
    silhouette : float
    labels : numpy.ndarray of int, shape (n_finite,)
        Cluster of every finite code, in input order.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    k = check_int(n_clusters, "n_clusters", low=2)
    c = _codes(z, "z")
    if c.shape[0] <= k:
        raise ValueError(f"{c.shape[0]} finite codes cannot form {k} clusters")
    labels = KMeans(k, n_init=4, random_state=seed).fit_predict(c)
    if np.unique(labels).size < 2:
        return float("nan"), labels
    n = min(int(sample), c.shape[0])
    return float(silhouette_score(c, labels, sample_size=n, random_state=seed)), labels


def density_modes(density, threshold: float = 0.05, size: int = 5) -> int:
    """Number of local maxima of a gridded density above ``threshold`` times its maximum.

    Parameters
    ----------
    density : array_like, shape (gy, gx)
        E.g. the third output of :func:`eelswidgets.analysis.latent_kde`.
    threshold : float
        Minor peaks below this fraction of the highest one are not counted.
    size : int
        A maximum must be the largest value in its ``size x size`` neighbourhood.
    """
    from scipy.ndimage import maximum_filter

    d = as_float_array(density, "density", ndim=2, dtype=np.float64)
    if not np.isfinite(d).all():
        raise ValueError("density must be finite")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a fraction in [0, 1), got {threshold!r}")
    top = d.max()
    if top <= 0:
        return 0
    peak = (d == maximum_filter(d, size=check_int(size, "size", low=3), mode="constant",
                                cval=-np.inf)) & (d > threshold * top)
    return int(peak.sum())


def dominant_period(latent_map, axis: int = 1, *, min_period: float = 2.0,
                    max_period: float | None = None, pad: int = 1024) -> dict:
    """Strongest spatial period of a map along ``axis`` (e.g. along a row of atomic columns).

    Every line of the finite rectangle along ``axis`` is made mean-free, tapered with a Hann
    window and Fourier transformed (zero padded to ``pad`` points, which interpolates the
    spectrum); the power spectra of all lines are averaged and the highest peak between
    ``1 / max_period`` and ``1 / min_period`` is taken.

    Parameters
    ----------
    latent_map : array_like, shape (ny, nx)
        NaN only in a border frame.
    axis : {0, 1}
        0: along the columns (y), 1: along the rows (x).
    min_period, max_period : float
        Band searched, in pixels (default up to half the line length).
    pad : int
        FFT length (>= the line length).

    Returns
    -------
    dict
        ``period`` (pixels) and ``contrast``: the power at that period over the mean power
        in the band (about 1 for a featureless spectrum, large for a periodic map).
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (y) or 1 (x), got {axis!r}")
    m = _finite_block(latent_map)
    lines = m if axis == 1 else m.T
    n = lines.shape[1]
    hi = n / 2 if max_period is None else float(max_period)
    if not 2.0 <= min_period < hi:
        raise ValueError(f"need 2 <= min_period < max_period (<= half the line, {n / 2:g} px); "
                         f"got {min_period!r} and {hi!r}")
    nfft = max(check_int(pad, "pad", low=8), n)
    x = (lines - lines.mean(axis=1, keepdims=True)) * np.hanning(n)
    power = (np.abs(np.fft.rfft(x, nfft, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(nfft)
    band = (f >= 1.0 / hi) & (f <= 1.0 / min_period)
    if not band.any() or power[band].mean() == 0:
        return {"period": float("nan"), "contrast": float("nan")}
    k = np.flatnonzero(band)[np.argmax(power[band])]
    return {"period": float(1.0 / f[k]), "contrast": float(power[k] / power[band].mean())}
