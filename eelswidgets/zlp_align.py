"""Zero-loss-peak alignment kernels: sub-channel ZLP positions and interpolated shifts.

The energy of the zero-loss peak drifts during a scan (high-tension and spectrometer drift),
so the same loss lands in different channels at different pixels. Alignment puts the ZLP of
every spectrum at 0 eV:

1. **Position.** The coarse maximum is taken after a 3-channel median filter (a single-channel
   spike cannot win) and placed to a fraction of a channel by the vertex of the parabola
   through the logarithm of the three channels around it (exact for a Gaussian peak). A real
   ZLP is asymmetric, so that vertex is off by an amount that depends on where the peak falls
   between channels; the position is therefore refined by matching every spectrum to the
   mean ZLP (the template, built from the first estimate) over shifts of a 1/40 channel and
   a parabolic vertex of the normalised correlation. The result is a consistent position for
   any peak shape that is the same at every pixel.
2. **Shift.** Every spectrum is resampled onto one common axis by *linear* interpolation.
   Linear interpolation is local and keeps the spectra non-negative: no ringing next to a ZLP
   ten thousand times higher than the losses and no wrap-around of the spectrum ends, which a
   Fourier (phase-ramp) shift would bring. Its cost is a slight smoothing (at most a mix of
   two neighbouring channels, at half-channel shifts), well below the ZLP width.
3. **Crop.** The common axis keeps only the energies that every pixel measured.

All functions take arrays and return new arrays; cubes are ``(ny, nx, ne)``, energies in eV.
"""

from __future__ import annotations

import numpy as np

__all__ = ["zlp_positions", "shift_to_common_axis", "common_axis", "resample", "search_slice",
           "MIN_PEAK_RATIO"]

MIN_PEAK_RATIO = 3.0   # a ZLP must rise this many times above the spectrum's median
_CHUNK = 4096          # pixels resampled at a time (bounds the temporary memory)


def search_slice(energy: np.ndarray, search) -> slice:
    """The channels of the ZLP search window ``(lo, hi)`` eV (all for None); checks it."""
    if search is None:
        return slice(0, energy.size)
    lo, hi = (float(v) for v in search)
    i0 = int(np.searchsorted(energy, lo, side="left"))
    i1 = int(np.searchsorted(energy, hi, side="right"))
    if not lo < hi or i1 - i0 < 3:
        raise ValueError(f"search=({lo}, {hi}) eV must hold at least 3 channels with lo < hi; "
                         f"the axis spans {energy[0]:.4g} to {energy[-1]:.4g} eV")
    return slice(i0, i1)


def zlp_positions(cube: np.ndarray, energy: np.ndarray, valid: np.ndarray | None = None,
                  search: tuple[float, float] | None = None) -> np.ndarray:
    """Energy (eV) of the zero-loss-peak maximum at every pixel, to a fraction of a channel.

    Parameters
    ----------
    cube : numpy.ndarray, shape (ny, nx, ne)
    energy : numpy.ndarray, shape (ne,)
        Strictly increasing.
    valid : numpy.ndarray of bool, shape (ny, nx), optional
        Pixels to measure; the others come back NaN.
    search : (float, float), optional
        Energy window (eV) that holds the ZLP at every pixel (default: the whole axis).

    Returns
    -------
    numpy.ndarray, shape (ny, nx), float64

    Raises
    ------
    ValueError
        Pixels without a clear ZLP: the maximum lies at the edge of the search window, or it
        is not ``MIN_PEAK_RATIO`` times above the spectrum's median. The message lists them.
    """
    from scipy.ndimage import median_filter  # imported here: keeps `import eelswidgets` fast

    ny, nx, _ = cube.shape
    vmask = np.ones((ny, nx), bool) if valid is None else np.asarray(valid, bool)
    sl = search_slice(energy, search)
    y = cube[vmask][:, sl].astype(np.float64)
    e = energy[sl].astype(np.float64)
    n = e.size
    smooth = median_filter(y, size=(1, 3), mode="nearest")
    k = np.argmax(smooth, axis=1)
    rows = np.arange(y.shape[0])
    peak = smooth[rows, k]
    floor = np.median(np.abs(y), axis=1)
    unclear = (k == 0) | (k == n - 1) | ~(peak > MIN_PEAK_RATIO * floor)
    if unclear.any():
        where = np.argwhere(vmask)[unclear]
        shown = ", ".join(f"({a}, {b})" for a, b in where[:5])
        more = f" and {len(where) - 5} more" if len(where) > 5 else ""
        raise ValueError(
            f"no clear zero-loss peak at {len(where)} pixel(s): {shown}{more}; its maximum lies "
            f"at the edge of the searched range {e[0]:.4g}..{e[-1]:.4g} eV or is not "
            f"{MIN_PEAK_RATIO:g} times above the spectrum's median. Pass search=(lo, hi) "
            "around the ZLP, crop those pixels, or check that this is a low-loss spectrum image")
    k = np.clip(k, 1, n - 2)
    a, b, c = (np.log(np.clip(y[rows, k + d], 1e-12, None)) for d in (-1, 0, 1))
    curv = a - 2 * b + c
    frac = np.where(curv < 0, 0.5 * (a - c) / np.where(curv < 0, curv, -1.0), 0.0)
    frac = np.clip(frac, -0.5, 0.5)
    lo_e, hi_e = e[k - 1], e[k + 1]
    pos = np.where(frac < 0, e[k] + frac * (e[k] - lo_e), e[k] + frac * (hi_e - e[k]))
    out = np.full((ny, nx), np.nan)
    out[vmask] = _refine_by_template(y, e, pos)
    return out


def _sample(rows: np.ndarray, e: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row of ``rows`` (on ``e``) at its own positions ``x``."""
    x = np.clip(x, e[0], e[-1])
    j = np.clip(np.searchsorted(e, x, side="right") - 1, 0, e.size - 2)
    t = (x - e[j]) / (e[j + 1] - e[j])
    r = np.arange(rows.shape[0])[:, None]
    return rows[r, j] * (1 - t) + rows[r, j + 1] * t


def _refine_by_template(y: np.ndarray, e: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Refine peak positions by the best match of each spectrum to the mean peak."""
    step = float(np.median(np.diff(e)))
    tmp = y.mean(0)
    k = int(np.argmax(tmp))
    above = np.flatnonzero(tmp >= tmp[k] / 2)
    half = max(3, int(above[-1] - above[0] + 1) * 2)          # +- two FWHM, >= 3 channels
    t = np.arange(-half, half + 1) * step
    template = _sample(y, e, pos[:, None] + t[None, :]).mean(0)
    deltas = np.linspace(-1.0, 1.0, 81) * step
    score = np.empty((y.shape[0], deltas.size))
    for i, d in enumerate(deltas):
        s = _sample(y, e, pos[:, None] + d + t[None, :])
        score[:, i] = (s @ template) / np.maximum(np.linalg.norm(s, axis=1), 1e-300)
    i = np.clip(np.argmax(score, axis=1), 1, deltas.size - 2)
    r = np.arange(y.shape[0])
    a, b, c = score[r, i - 1], score[r, i], score[r, i + 1]
    curv = a - 2 * b + c
    frac = np.where(curv < 0, 0.5 * (a - c) / np.where(curv < 0, curv, -1.0), 0.0)
    return pos + deltas[i] + np.clip(frac, -0.5, 0.5) * (deltas[1] - deltas[0])


def shift_to_common_axis(cube: np.ndarray, energy: np.ndarray, positions: np.ndarray,
                         valid: np.ndarray | None = None):
    """Resample every spectrum so that the energy ``positions[y, x]`` lands at 0 eV.

    The common axis is ``energy - energy[j0]`` (the same channel spacing, with a channel at
    exactly 0 eV), ``j0`` the channel nearest the mean position, cropped to the energies that
    every valid pixel measured. Values are linearly interpolated (see the module docstring).

    Parameters
    ----------
    cube : numpy.ndarray, shape (ny, nx, ne)
    energy : numpy.ndarray, shape (ne,)
    positions : numpy.ndarray, shape (ny, nx)
        Energy (eV, on ``energy``) that is moved to 0 eV; ignored where ``valid`` is False.
    valid : numpy.ndarray of bool, shape (ny, nx), optional
        Invalid pixels come back NaN.

    Returns
    -------
    aligned : numpy.ndarray, shape (ny, nx, ne_common), float32
    common_energy : numpy.ndarray, shape (ne_common,), float64

    Raises
    ------
    ValueError
        If the positions spread so far that no energy is common to all pixels.
    """
    grid = common_axis(energy, positions, valid)
    return resample(cube, energy, grid, positions, valid), grid


def common_axis(energy: np.ndarray, positions: np.ndarray,
                valid: np.ndarray | None = None) -> np.ndarray:
    """The common axis of :func:`shift_to_common_axis` (float64), from the shift map alone.

    Raises
    ------
    ValueError
        If the positions spread so far that no energy is common to all pixels.
    """
    vmask = np.ones(positions.shape, bool) if valid is None else np.asarray(valid, bool)
    e = energy.astype(np.float64)
    p = positions[vmask].astype(np.float64)
    j0 = int(np.argmin(np.abs(e - p.mean())))
    grid = e - e[j0]
    tol = 1e-9 * max(1.0, float(np.max(np.abs(e))))
    keep = (grid + p.min() >= e[0] - tol) & (grid + p.max() <= e[-1] + tol)
    if keep.sum() < 2:
        raise ValueError(f"the zero-loss peak moves over {p.max() - p.min():.4g} eV, more than "
                         f"the {e[-1] - e[0]:.4g} eV the axis spans: no common energy range")
    return grid[keep]


def resample(cube: np.ndarray, energy: np.ndarray, grid: np.ndarray, positions: np.ndarray,
             valid: np.ndarray | None = None) -> np.ndarray:
    """Every valid spectrum of ``cube`` linearly interpolated at ``grid + positions[y, x]``.

    Returns
    -------
    numpy.ndarray, shape (ny, nx, grid.size), float32
        NaN at invalid pixels.
    """
    ny, nx, _ = cube.shape
    vmask = np.ones((ny, nx), bool) if valid is None else np.asarray(valid, bool)
    e = energy.astype(np.float64)
    p = positions[vmask].astype(np.float64)
    y = cube[vmask].astype(np.float64)
    out_rows = np.empty((y.shape[0], grid.size), np.float32)
    for s in range(0, y.shape[0], _CHUNK):
        shift = p[s:s + _CHUNK]
        out_rows[s:s + _CHUNK] = _sample(y[s:s + _CHUNK], e, grid[None, :] + shift[:, None])
    out = np.full((ny, nx, grid.size), np.nan, np.float32)
    out[vmask] = out_rows
    return out
