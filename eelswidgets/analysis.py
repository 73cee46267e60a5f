"""The one home of latent-space maths: ranges, grids, maps, densities, errors, composites.

Arrays in, arrays out: nothing here plots, and nothing here imports the models or the
widgets (the models use these functions; see ``docs/design.md``). Pixels without a value are
NaN in every map.

Conventions (one of each, used by every model and view):

- **Latent range**: the 2nd to 98th percentile of each latent over the training codes
  (:data:`RANGE_PERCENTILES`, :func:`latent_ranges`); the latents a grid does not vary are
  held at the median of the training codes (:func:`latent_center`).
- **Grid orientation**: ``grid[i, j]`` varies ``dims[0]`` with the column ``j`` and
  ``dims[1]`` with the row ``i``, both increasing; row 0 is drawn at the *bottom*, so the
  second latent points up (:func:`manifold_grid`, :func:`tile_mosaic`).
- **Relative error**: ``100 * sum (pred - true)^2 / sum true^2`` in percent, NaN where the
  true values are all zero (:func:`relative_error`).
- **RGB composite**: three channels, each mapped to [0, 1] by its own finite minimum and
  maximum, or by fixed limits (:func:`rgb_composite`).
- **Window geometry** lives in :mod:`eelswidgets.patches`.
"""

from __future__ import annotations

import numpy as np

from . import _lazy
from ._checks import as_float_array, check_choice, check_finite, check_int, check_mask
from .spectrum_image import SpectrumImage

__all__ = [
    "RANGE_PERCENTILES",
    "error_haadf_correlation",
    "error_map",
    "histograms",
    "latent_center",
    "latent_kde",
    "latent_maps",
    "latent_ranges",
    "manifold_grid",
    "relative_error",
    "rgb_composite",
    "scaled_mse_percent",
    "rgb_tiles",
    "tile_mosaic",
    "window_error_map",
]

#: percentiles of the training codes that span a latent axis (robust to a few outliers,
#: yet covering nearly all codes): the span of every decoded manifold
RANGE_PERCENTILES = (2.0, 98.0)


# ----------------------------------------------------------------------------- latent space
def latent_maps(codes, mask, fill: float = np.nan) -> np.ndarray:
    """Place flat latent codes back on the pixel grid.

    Parameters
    ----------
    codes : array_like, shape (n, d) or (n,)
        One code per True pixel of ``mask``, in row-major (C) order, i.e. the order of
        ``np.argwhere(mask)``.
    mask : array_like of bool, shape (ny, nx)
        Pixels the codes belong to.
    fill : float
        Value of the other pixels (NaN by default).

    Returns
    -------
    numpy.ndarray, shape (ny, nx, d) (or (ny, nx) for 1D codes), float32
    """
    z = as_float_array(codes, "codes", ndim=(1, 2))
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2D (ny, nx) boolean array, got shape {m.shape}")
    m = check_mask(m, m.shape, "mask")
    n = int(m.sum())
    if z.shape[0] != n:
        raise ValueError(f"codes has {z.shape[0]} rows but the mask selects {n} pixels; "
                         f"pass one code per True pixel of the mask")
    out = np.full(m.shape + z.shape[1:], fill, dtype=np.float32)
    out[m] = z
    return out


def _codes_2d(z, name: str = "z") -> np.ndarray:
    """Flatten codes or latent maps ``(..., d)`` to ``(n, d)`` finite rows."""
    arr = as_float_array(z, name, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim < 2:
        raise ValueError(f"{name} must be (n, d) codes or (ny, nx, d) maps, got shape "
                         f"{arr.shape}")
    arr = arr.reshape(-1, arr.shape[-1])
    keep = np.all(np.isfinite(arr), axis=1)
    arr = arr[keep]
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no finite code (all NaN?); encode valid pixels first")
    return arr


def latent_ranges(z, percentiles: tuple[float, float] = RANGE_PERCENTILES) -> np.ndarray:
    """Per-dimension ``(lo, hi)`` percentiles of latent codes (NaN rows ignored).

    This is the span of every decoded manifold (the models store it as ``latent_ranges_``).

    Parameters
    ----------
    z : array_like, shape (n, d) or (ny, nx, d)
        Codes or latent maps.
    percentiles : (float, float)
        Lower and upper percentile (default :data:`RANGE_PERCENTILES`).

    Returns
    -------
    numpy.ndarray, shape (d, 2), float64
    """
    arr = _codes_2d(z)
    lo, hi = (float(p) for p in percentiles)
    if not 0 <= lo < hi <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= lo < hi <= 100, got {percentiles}")
    return np.percentile(arr, [lo, hi], axis=0).T


def latent_center(z) -> np.ndarray:
    """Per-dimension median of latent codes (NaN rows ignored), shape ``(d,)``.

    The value at which a manifold holds the latents it does not vary (the models store it
    as ``latent_center_``).
    """
    return np.median(_codes_2d(z), axis=0)


def latent_kde(z, grid: int = 100, bandwidth=None, *, dims: tuple[int, int] = (0, 1),
               ranges=None, pad: float = 0.1):
    """Gaussian kernel density estimate of a 2D latent distribution on a regular grid.

    Uses :class:`scipy.stats.gaussian_kde`.

    Parameters
    ----------
    z : array_like, shape (n, d) or (ny, nx, d)
        Codes or latent maps; rows with NaN (e.g. the border) are ignored.
    grid : int
        Number of grid points per axis.
    bandwidth : str, float or None
        ``bw_method`` of ``gaussian_kde`` (None: Scott's rule).
    dims : (int, int)
        The two latent dimensions to use.
    ranges : ((float, float), (float, float)), optional
        Grid extent per dimension; default: data range padded by ``pad`` times its span.
    pad : float
        Relative padding of the default ranges.

    Returns
    -------
    xs : numpy.ndarray, shape (grid,)
        Coordinates along ``dims[0]``.
    ys : numpy.ndarray, shape (grid,)
        Coordinates along ``dims[1]``.
    density : numpy.ndarray, shape (grid, grid)
        ``density[i, j]`` is the density at ``(xs[j], ys[i])`` (image convention).
    """
    from scipy.stats import gaussian_kde

    arr = _codes_2d(z)
    grid = check_int(grid, "grid", low=2)
    d = arr.shape[1]
    if len(dims) != 2 or any(not 0 <= int(k) < d for k in dims) or dims[0] == dims[1]:
        raise ValueError(f"dims must be two different latent dimensions in [0, {d}), "
                         f"got {dims!r}")
    pts = arr[:, [int(dims[0]), int(dims[1])]]
    if pts.shape[0] < 3:
        raise ValueError(f"latent_kde needs at least 3 finite codes, got {pts.shape[0]}")
    if np.any(pts.std(axis=0) == 0):
        raise ValueError("the codes do not vary along one of the chosen dimensions, so no "
                         "2D density exists; pick other dims")
    if ranges is None:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = hi - lo
        ranges = np.stack([lo - pad * span, hi + pad * span], axis=1)
    rng = np.asarray(ranges, dtype=np.float64)
    if rng.shape != (2, 2) or not np.all(rng[:, 1] > rng[:, 0]):
        raise ValueError(f"ranges must be ((lo0, hi0), (lo1, hi1)) with lo < hi, got {ranges}")
    try:
        kde = gaussian_kde(pts.T, bw_method=bandwidth)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"the codes are degenerate (collinear), so no 2D density exists "
                         f"({err})") from None
    xs = np.linspace(rng[0, 0], rng[0, 1], grid)
    ys = np.linspace(rng[1, 0], rng[1, 1], grid)
    gx, gy = np.meshgrid(xs, ys)
    density = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(grid, grid)
    return xs, ys, density


def histograms(values, bins: int = 50, ranges=None, axis: int | None = -1):
    """Histograms of several variables (e.g. latent dimensions), ignoring NaN.

    Parameters
    ----------
    values : array_like
        Variables along ``axis`` (default: the last axis, e.g. latent maps ``(ny, nx, d)``);
        every other axis holds samples. ``axis=None`` treats the whole array as one variable
        (e.g. an angle map ``(ny, nx)``).
    bins : int
        Number of bins.
    ranges : sequence of (float, float), optional
        Range per variable (or one ``(lo, hi)`` for all); default: each variable's finite range.
    axis : int or None
        Axis that indexes the variables.

    Returns
    -------
    counts : numpy.ndarray of int64, shape (d, bins)
    edges : numpy.ndarray, shape (d, bins + 1)
    """
    arr = as_float_array(values, "values", dtype=np.float64)
    bins = check_int(bins, "bins", low=1)
    if axis is None:
        cols = arr.reshape(-1, 1)
    else:
        if arr.ndim < 1:
            raise ValueError("values must be an array, got a scalar")
        try:
            cols = np.moveaxis(arr, axis, -1).reshape(-1, arr.shape[axis])
        except np.exceptions.AxisError:
            raise ValueError(f"axis {axis} is out of range for values of shape "
                             f"{arr.shape}") from None
    d = cols.shape[1]
    if ranges is None:
        rlist = [None] * d
    else:
        r = np.asarray(ranges, dtype=np.float64)
        if r.shape == (2,):
            r = np.tile(r, (d, 1))
        if r.shape != (d, 2):
            raise ValueError(f"ranges must be (lo, hi) or one (lo, hi) per variable "
                             f"({d}), got shape {r.shape}")
        rlist = [tuple(x) for x in r]
    counts = np.zeros((d, bins), dtype=np.int64)
    edges = np.zeros((d, bins + 1), dtype=np.float64)
    for k in range(d):
        col = cols[:, k]
        col = col[np.isfinite(col)]
        if col.size == 0:
            raise ValueError(f"variable {k} has no finite value; nothing to histogram")
        counts[k], edges[k] = np.histogram(col, bins=bins, range=rlist[k])
    return counts, edges


def manifold_grid(ranges, grid: int = 8, *, dims: tuple[int, int] = (0, 1), fixed=None
                  ) -> np.ndarray:
    """Latent coordinates of a regular ``grid x grid`` lattice, for decoding a manifold.

    Parameters
    ----------
    ranges : array_like, shape (2, 2) or (d, 2)
        ``(lo, hi)`` of the two varied dimensions (shape (2, 2)), or of every dimension
        (shape (d, 2), e.g. from :func:`latent_ranges`), in which case ``dims`` picks two.
    grid : int
        Points per axis.
    dims : (int, int)
        Varied dimensions (when ``ranges`` covers all d dimensions or ``fixed`` is given).
    fixed : array_like, shape (d,), optional
        Values of all d dimensions (e.g. :func:`latent_center`); the two ``dims`` are then
        overwritten by the grid. Default: the middle of ``ranges`` when ``ranges`` has d
        rows; not needed for d = 2.

    Returns
    -------
    numpy.ndarray, shape (grid, grid, d)
        ``out[i, j]`` varies ``dims[0]`` with ``j`` (columns) and ``dims[1]`` with ``i`` (rows),
        both increasing: row 0 holds the lowest ``dims[1]`` and is drawn at the bottom.
    """
    grid = check_int(grid, "grid", low=1)
    r = as_float_array(ranges, "ranges", ndim=2, dtype=np.float64)
    if r.shape[1] != 2 or r.shape[0] < 2:
        raise ValueError(f"ranges must have shape (2, 2) or (d, 2), got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("ranges contains NaN/Inf; compute it from finite codes")
    a, b = int(dims[0]), int(dims[1])
    if fixed is not None:
        base = as_float_array(fixed, "fixed", ndim=1, dtype=np.float64)
    else:
        base = r.mean(axis=1)
    d = base.size
    if not (0 <= a < d and 0 <= b < d and a != b):
        raise ValueError(f"dims must be two different dimensions in [0, {d}), got {dims!r}")
    if r.shape[0] == d:
        ra, rb = r[a], r[b]
    elif r.shape[0] == 2:
        ra, rb = r[0], r[1]
    else:
        raise ValueError(f"ranges has {r.shape[0]} rows but the codes have {d} dimensions; "
                         f"pass (2, 2) ranges for dims or (d, 2) ranges for all")
    za = np.linspace(ra[0], ra[1], grid)
    zb = np.linspace(rb[0], rb[1], grid)
    out = np.tile(base, (grid, grid, 1))
    out[:, :, a] = za[None, :]
    out[:, :, b] = zb[:, None]
    return out


# ----------------------------------------------------------------------------- errors
def _cube_and_valid(x, name: str):
    if isinstance(x, SpectrumImage):
        return x.data, x.valid
    arr = np.asarray(x)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a SpectrumImage or a (ny, nx, ne) array, got shape "
                         f"{arr.shape}")
    arr = as_float_array(arr, name, ndim=3, copy=False)
    return arr, np.all(np.isfinite(arr), axis=-1)


def relative_error(true, pred, axis) -> np.ndarray:
    """Relative squared error in percent: ``100 * sum (pred - true)^2 / sum true^2``.

    The one error kernel of the package (spectra, windows). NaN where the true values are
    all zero.

    Parameters
    ----------
    true, pred : array_like, same shape
        True and predicted values.
    axis : int or tuple of int
        The axes summed over (e.g. the energy axis, or the two window axes).

    Returns
    -------
    numpy.ndarray, float64
        The input shape without ``axis``.
    """
    t = np.asarray(true, dtype=np.float64)
    g = np.asarray(pred, dtype=np.float64)
    if t.shape != g.shape:
        raise ValueError(f"true has shape {t.shape} but pred has shape {g.shape}")
    den = np.sum(t * t, axis=axis)
    num = np.sum((g - t) ** 2, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100.0 * num / den, np.nan)


def error_map(si, pred) -> np.ndarray:
    """Per-pixel relative squared error of a predicted cube, in percent.

    ``100 * sum_E (pred - true)^2 / sum_E true^2`` at every pixel (:func:`relative_error`);
    NaN where either input has no value (``valid`` False or NaN) or where the true spectrum
    is all zeros.

    Parameters
    ----------
    si : SpectrumImage or array_like, shape (ny, nx, ne)
        The observed (or noise-free) spectra.
    pred : SpectrumImage or array_like, shape (ny, nx, ne)
        The prediction (e.g. ``Im2Spec.predict(si)``).

    Returns
    -------
    numpy.ndarray, shape (ny, nx), float32
    """
    true, v1 = _cube_and_valid(si, "si")
    guess, v2 = _cube_and_valid(pred, "pred")
    if true.shape != guess.shape:
        raise ValueError(f"si has shape {true.shape} but pred has shape {guess.shape}; "
                         f"predict on the same spectrum image")
    ok = v1 & v2
    out = np.full(ok.shape, np.nan, dtype=np.float32)
    if not ok.any():
        return out
    if _lazy.is_lazy_array(true) or _lazy.is_lazy_array(guess):  # chunk by chunk
        import dask.array as da

        chunks = (true if _lazy.is_lazy_array(true) else guess).chunks
        t, g = (da.asarray(c).rechunk(chunks) for c in (true, guess))
        err = da.map_blocks(_block_error, t, g, drop_axis=2, dtype=np.float64,
                            meta=np.empty((0, 0), np.float64)).compute()
        out[ok] = err[ok]
    else:
        out[ok] = relative_error(true[ok], guess[ok], axis=1)
    return out


def _block_error(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """:func:`relative_error` over the energy axis of one chunk of two cubes."""
    return relative_error(true, pred, axis=-1)


def _with_nan_at_invalid(x, name: str) -> np.ndarray:
    """``x`` as a float64 array; a SpectrumImage's invalid pixels become NaN."""
    if isinstance(x, SpectrumImage):
        arr = x.data.astype(np.float64)
        arr[~x.valid] = np.nan
        return arr
    return as_float_array(x, name, dtype=np.float64)


def scaled_mse_percent(reference, prediction, axis=-1) -> np.ndarray | float:
    """Mean squared error in percent of data scaled to [0, 1], the papers' error metric.

    Both arrays are scaled by the *reference's* global minimum and maximum,
    ``s(a) = (a - min(reference)) / (max(reference) - min(reference))``, and
    ``100 * mean((s(prediction) - s(reference))^2)`` is taken over ``axis``. For a cube and
    ``axis=-1`` this is a per-pixel error map whose mean is the papers' average error; for
    ``(ny, nx, w, w)`` windows use ``axis=(-2, -1)``; ``axis=None`` gives one number.

    Elements where either array is NaN carry no value (the border pixels a windowed model
    cannot see, or a SpectrumImage's invalid pixels) and are left out of the minimum, maximum
    and mean; a slice without any value is NaN.

    Parameters
    ----------
    reference : SpectrumImage or array_like
        The measured data (or the truth) that sets the [0, 1] scale.
    prediction : SpectrumImage or array_like
        Same shape as ``reference``.
    axis : int, tuple of int or None
        Axes reduced by the mean (default: the last, e.g. the energy axis).

    Returns
    -------
    numpy.ndarray (float64) of the shape without ``axis``, or float for ``axis=None``.

    Raises
    ------
    ValueError
        If the shapes differ, an array holds +-Inf, the reference has no finite value or is
        constant (no [0, 1] scale), or ``axis`` is out of range.
    """
    ref = _with_nan_at_invalid(reference, "reference")
    pred = _with_nan_at_invalid(prediction, "prediction")
    if ref.shape != pred.shape:
        raise ValueError(f"reference has shape {ref.shape} but prediction has shape "
                         f"{pred.shape}; compare arrays of the same shape (e.g. a predicted "
                         f"cube with the measured cube)")
    for arr, name in ((ref, "reference"), (pred, "prediction")):
        if np.isinf(arr).any():
            raise ValueError(f"{name} holds +-Inf; replace it (NaN marks a missing value)")
    ok = ~(np.isnan(ref) | np.isnan(pred))
    if not ok.any():
        raise ValueError("reference and prediction share no finite value; nothing to compare")
    lo, hi = float(ref[ok].min()), float(ref[ok].max())
    if not hi > lo:
        raise ValueError(f"reference is constant ({lo:g}) where both arrays have a value, so "
                         f"there is no [0, 1] scale; the scaled error is undefined")
    diff = np.where(ok, (pred - ref) / (hi - lo), 0.0)
    try:
        n = np.sum(ok, axis=axis)
        total = np.sum(diff * diff, axis=axis)
    except (np.exceptions.AxisError, TypeError, ValueError) as exc:
        raise ValueError(f"axis {axis!r} does not fit an array of shape {ref.shape}: "
                         f"{exc}") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(n > 0, 100.0 * total / np.maximum(n, 1), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def window_error_map(haadf, pred_windows, *, chunk: int = 4096) -> np.ndarray:
    """Per-pixel relative squared error of predicted HAADF windows, in percent.

    The true window of pixel ``(y, x)`` is cut from ``haadf`` with the window geometry of
    :mod:`eelswidgets.patches`. Pixels whose predicted window holds NaN, or whose window
    crosses the border, are NaN.

    Parameters
    ----------
    haadf : array_like, shape (ny, nx)
        The HAADF image.
    pred_windows : array_like, shape (ny, nx, w, w)
        Predicted windows (e.g. ``Spec2Im.predict(si)``).
    chunk : int
        Pixels processed at once (bounds the memory used for true windows).

    Returns
    -------
    numpy.ndarray, shape (ny, nx), float32
    """
    from .patches import border_mask, cut_windows

    img = as_float_array(haadf, "haadf", ndim=2, dtype=np.float64)
    pw = np.asarray(pred_windows)
    if pw.ndim != 4 or pw.shape[2] != pw.shape[3]:
        raise ValueError(f"pred_windows must have shape (ny, nx, w, w), got {pw.shape}")
    if pw.shape[:2] != img.shape:
        raise ValueError(f"pred_windows covers {pw.shape[:2]} pixels but haadf is "
                         f"{img.shape}")
    chunk = check_int(chunk, "chunk", low=1)
    ny, nx = img.shape
    w = pw.shape[2]
    if w > min(ny, nx):
        raise ValueError(f"window {w} is larger than the image {ny}x{nx}")
    out = np.full((ny, nx), np.nan, dtype=np.float32)
    cand = np.argwhere(np.all(np.isfinite(pw), axis=(2, 3)) & border_mask((ny, nx), w))
    for s in range(0, len(cand), chunk):
        pix = cand[s:s + chunk]
        out[pix[:, 0], pix[:, 1]] = relative_error(cut_windows(img, pix, w),
                                                   pw[pix[:, 0], pix[:, 1]], axis=(1, 2))
    return out


def error_haadf_correlation(err, haadf) -> dict:
    """Correlation between a per-pixel error map and the HAADF image (paper 2, Fig. S1).

    Parameters
    ----------
    err : array_like, shape (ny, nx)
        Error map (NaN where undefined; those pixels are left out).
    haadf : array_like, shape (ny, nx)
        HAADF image (must be finite where ``err`` is).

    Returns
    -------
    dict
        ``pearson``, ``pearson_p``, ``spearman``, ``spearman_p`` and ``n`` (pixels used).
    """
    from scipy.stats import pearsonr, spearmanr

    e = as_float_array(err, "err", ndim=2, dtype=np.float64)
    h = as_float_array(haadf, "haadf", ndim=2, dtype=np.float64)
    if e.shape != h.shape:
        raise ValueError(f"err has shape {e.shape} but haadf has shape {h.shape}")
    ok = np.isfinite(e)
    if not np.all(np.isfinite(h[ok])):
        raise ValueError("haadf has NaN/Inf where the error map is defined; clean it first")
    n = int(ok.sum())
    if n < 3:
        raise ValueError(f"need at least 3 pixels with a finite error, got {n}")
    x, y = e[ok], h[ok]
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("the error map or the HAADF image is constant over the valid "
                         "pixels, so the correlation is undefined")
    pr = pearsonr(x, y)
    sr = spearmanr(x, y)
    return {"pearson": float(pr.statistic), "pearson_p": float(pr.pvalue),
            "spearman": float(sr.statistic), "spearman_p": float(sr.pvalue), "n": n}


# ----------------------------------------------------------------------------- composites
def rgb_composite(maps3, normalize: str = "channel", *, nan: str = "zero",
                  channel_axis: int = 0, ranges=None) -> np.ndarray:
    """Compose three maps into an RGB image with values in [0, 1].

    Parameters
    ----------
    maps3 : array_like
        Three maps along ``channel_axis``, e.g. ``(3, ny, nx)`` abundance maps or
        ``(g, g, 3, w, w)`` decoded tiles with ``channel_axis=2``.
    normalize : {"channel", "joint", "none"}
        ``"channel"``: each channel to [0, 1] by its own finite min/max; ``"joint"``: one
        min/max for all; ``"none"``: clip to [0, 1] as given (or use ``ranges``).
    nan : {"zero", "alpha"}
        NaN pixels become black (``"zero"``) or get an alpha channel of 0 (``"alpha"``, output
        has 4 channels).
    channel_axis : int
        Axis holding the three channels.
    ranges : array_like, shape (3, 2), optional
        Explicit ``(lo, hi)`` per channel (overrides ``normalize``).

    Returns
    -------
    numpy.ndarray, float32
        The input shape without ``channel_axis``, plus a last axis of 3 (or 4 with alpha).
    """
    arr = as_float_array(maps3, "maps3", dtype=np.float64)
    check_choice(normalize, "normalize", ("channel", "joint", "none"))
    check_choice(nan, "nan", ("zero", "alpha"))
    if arr.ndim < 2:
        raise ValueError(f"maps3 must hold 3 maps, got shape {arr.shape}")
    try:
        rgb = np.moveaxis(arr, channel_axis, -1)
    except np.exceptions.AxisError:
        raise ValueError(f"channel_axis {channel_axis} is out of range for shape "
                         f"{arr.shape}") from None
    if rgb.shape[-1] != 3:
        raise ValueError(f"maps3 must have 3 channels along axis {channel_axis}, got "
                         f"{rgb.shape[-1]} (shape {arr.shape}); pick three maps, e.g. "
                         f"maps[[0, 1, 2]]")
    finite = np.all(np.isfinite(rgb), axis=-1)
    if not finite.any():
        raise ValueError("maps3 holds no pixel where all three channels are finite")
    flat = rgb.reshape(-1, 3)[finite.ravel()]
    if ranges is not None:
        r = np.asarray(ranges, dtype=np.float64)
        if r.shape != (3, 2):
            raise ValueError(f"ranges must have shape (3, 2), got {r.shape}")
        lo, hi = r[:, 0], r[:, 1]
    elif normalize == "channel":
        lo, hi = flat.min(axis=0), flat.max(axis=0)
    elif normalize == "joint":
        lo, hi = np.full(3, flat.min()), np.full(3, flat.max())
    else:
        lo, hi = np.zeros(3), np.ones(3)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = np.clip((rgb - lo) / span, 0.0, 1.0)
    out[~finite] = 0.0
    if nan == "alpha":
        out = np.concatenate([out, finite[..., None].astype(np.float64)], axis=-1)
    return out.astype(np.float32)



def tile_mosaic(tiles, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Arrange tiles ``(g1, g2, h, w[, c])`` into one image, ``gap`` pixels of ``fill`` between.

    Tile ``[i, j]`` goes to grid column ``j`` and grid row ``i`` counted from the *bottom*
    (the grid orientation of :func:`manifold_grid`: the second latent points up).

    Returns
    -------
    numpy.ndarray, shape (g1 * (h + gap) - gap, g2 * (w + gap) - gap[, c]), float64
    """
    t = np.asarray(tiles, dtype=float)
    if t.ndim not in (4, 5):
        raise ValueError(f"tiles must have shape (g1, g2, h, w) or (g1, g2, h, w, c), got "
                         f"{t.shape}")
    gap = check_int(gap, "gap", low=0)
    g1, g2, h, w = t.shape[:4]
    out = np.full((g1 * (h + gap) - gap, g2 * (w + gap) - gap, *t.shape[4:]), fill)
    for i in range(g1):
        r = (g1 - 1 - i) * (h + gap)
        for j in range(g2):
            c = j * (w + gap)
            out[r:r + h, c:c + w] = t[i, j]
    return out


def rgb_tiles(tiles, *, channels=(0, 1, 2), gap: int = 1, normalize: str = "channel",
              background: float = 1.0, ranges=None) -> np.ndarray:
    """Compose a grid of 3-channel tiles (a decoded manifold) into one RGB image.

    The colours come from :func:`rgb_composite` over all tiles together, the layout from
    :func:`tile_mosaic` (row 0 of the grid at the bottom).

    Parameters
    ----------
    tiles : array_like, shape (g1, g2, C, w, w)
        E.g. the output of ``MultichannelRVAE.manifold``.
    channels : sequence of 3 int
        Channels shown as red, green and blue.
    gap : int
        Pixels between tiles (filled with ``background``).
    normalize : {"channel", "joint", "none"}
        Scale each channel to [0, 1] by its own range over all tiles, jointly, or clip only.
    background : float
        Gray level of the gaps.
    ranges : array_like, shape (3, 2), optional
        Fixed ``(lo, hi)`` per shown channel instead of the tiles' own range (e.g. the same
        absolute scale for several manifolds).

    Returns
    -------
    numpy.ndarray, shape (g1 * (w + gap) - gap, g2 * (w + gap) - gap, 3), float32 in [0, 1]
    """
    arr = as_float_array(tiles, "tiles", ndim=5)
    c = arr.shape[2]
    ch = [check_int(v, "channel", low=0) for v in channels]
    if len(ch) != 3:
        raise ValueError(f"an RGB composite needs exactly 3 channels, got channels={channels}")
    if max(ch) >= c:
        raise ValueError(f"the tiles have {c} channel(s); choose 3 of them with channels=...")
    rgb = arr[:, :, ch]
    check_finite(rgb, "tiles")
    rgb = rgb_composite(rgb, normalize, channel_axis=2, ranges=ranges)
    return tile_mosaic(rgb, gap, fill=background).astype(np.float32)
