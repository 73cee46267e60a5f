"""Pre-processing kernels on plain arrays (the methods of ``SpectrumImage`` call these).

Every function takes arrays and returns *new* arrays; nothing is modified in place. Cubes are
``(ny, nx, ne)`` and energy axes ``(ne,)`` in eV.

Background models
-----------------
Power law (Egerton, *EELS in the Electron Microscope*, ch. 4):
``B(E) = A * E**(-r)``, fitted per pixel by weighted linear least squares of ``log I`` on
``log E`` over a window, with Poisson weights ``w = I`` (``var(log I) ~ 1/I``). Channels with
zero or negative counts are clamped to a small positive value before the logarithm so that
low-count pixels give a finite, if noisy, fit rather than NaN. The power law is undefined at
``E <= 0``: subtracting it from such channels raises ``ValueError`` (crop them first).

Results are cast to float32 with :func:`eelswidgets._checks.to_float32`, which reports an
overflow as such rather than leaving infinities for a later "contains NaN/Inf" check.

Two-term exponential (zero-loss-peak tail): ``B(E) = a1 exp(-E/t1) + a2 exp(-E/t2)``. The decay
constants ``t1, t2`` are fitted once on the mean spectrum (non-linear least squares); the
amplitudes are then solved per pixel by linear least squares, which keeps the fit vectorised.

Memory: :func:`subtract_background` writes its float32 result into one new array and does
the float64 fit and subtraction on blocks of rows of about ``BLOCK_BYTES`` (float64 values),
so its extra peak memory is the result plus a few blocks, whatever the size of the cube.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_choice, to_float32

__all__ = [
    "energy_slice",
    "background_channels",
    "bin_axes",
    "bin_cube",
    "fit_exp_decays",
    "normalize_cube",
    "fit_power_law",
    "fit_two_exponentials",
    "subtract_background",
    "block_average",
    "NORMALIZE_METHODS",
    "BLOCK_BYTES",
    "row_blocks",
]

NORMALIZE_METHODS = ("area", "max", "global")
BLOCK_BYTES = 16 * 2**20  # float64 working block of the background kernels
_TINY = 1e-6


def row_blocks(shape: tuple[int, ...], itemsize: int = 8, target: int | None = None):
    """Slices of the first axis whose blocks hold about ``target`` bytes (at least one row).

    ``target`` defaults to :data:`BLOCK_BYTES`; a 1-D array (one spectrum) is one block,
    ``(Ellipsis,)``.
    """
    target = BLOCK_BYTES if target is None else int(target)
    if len(shape) < 2:
        yield (Ellipsis,)
        return
    row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    step = max(1, target // row)
    for y0 in range(0, int(shape[0]), step):
        yield (slice(y0, y0 + step),)


def energy_slice(energy: np.ndarray, lo: float, hi: float) -> slice:
    """Return the slice of channels with ``lo <= E <= hi``.

    Raises
    ------
    ValueError
        If ``lo >= hi`` or no channel lies in the range.
    """
    lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise ValueError(f"energy range must have lo < hi, got ({lo}, {hi})")
    i0 = int(np.searchsorted(energy, lo, side="left"))
    i1 = int(np.searchsorted(energy, hi, side="right"))
    if i1 - i0 < 1:
        raise ValueError(
            f"energy range ({lo}, {hi}) eV holds no channel; the axis spans "
            f"{energy[0]:.4g} to {energy[-1]:.4g} eV")
    return slice(i0, i1)


def _block_reduce(a: np.ndarray, axis: int, factor: int, how: str) -> np.ndarray:
    n = a.shape[axis] // factor * factor
    a = np.take(a, np.arange(n), axis=axis)
    new_shape = [*a.shape[:axis], n // factor, factor, *a.shape[axis + 1:]]
    a = a.reshape(new_shape)
    if how == "sum":
        return a.sum(axis=axis + 1, dtype=np.float64)
    return a.mean(axis=axis + 1)


def bin_cube(cube: np.ndarray, energy: np.ndarray, haadf: np.ndarray | None,
             spatial: int, energy_factor: int):
    """Sum ``spatial x spatial`` pixel blocks and ``energy_factor`` channels.

    Counts are summed (Poisson statistics are preserved); the energy of a binned channel is the
    mean of its members and the HAADF image is averaged. Trailing pixels/channels that do not
    fill a whole block are dropped.
    """
    out = cube
    out = _block_reduce(out, 0, spatial, "sum")
    out = _block_reduce(out, 1, spatial, "sum")
    out = _block_reduce(out, 2, energy_factor, "sum")
    e, h = bin_axes(energy, haadf, spatial, energy_factor)
    return to_float32(out, f"bin(spatial={spatial}, energy={energy_factor})"), e, h


def bin_axes(energy: np.ndarray, haadf: np.ndarray | None, spatial: int, energy_factor: int):
    """The energy axis and HAADF image of :func:`bin_cube` (mean of the binned members)."""
    e = _block_reduce(energy, 0, energy_factor, "mean")
    h = None
    if haadf is not None:
        h = _block_reduce(_block_reduce(haadf, 0, spatial, "mean"), 1, spatial, "mean")
    return e, h


def block_average(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Average an image onto a coarser ``shape`` whose size divides the image's exactly.

    An image sampled ``fy x fx`` times per pixel of the target grid (e.g. a HAADF image
    acquired with 32 x 32 sub-pixel samples per spectrum-image pixel) is reduced to one value
    per target pixel, the mean of its ``fy x fx`` block. Axis order is ``(y, x)`` for both.

    Raises
    ------
    ValueError
        If the image's shape is not an integer multiple of ``shape``; the message names both.
    """
    ny, nx = (int(n) for n in shape)
    h, w = image.shape
    if h % ny or w % nx:
        hint = (" (the transposed image would fit: pass image.T if its axes are (x, y))"
                if w % ny == 0 and h % nx == 0 else "")
        raise ValueError(
            f"the image has shape ({h}, {w}) but the spectrum image has {ny} x {nx} pixels "
            f"(shape ({ny}, {nx})); an image can be attached when its shape is an integer "
            f"multiple of the spectrum-image grid (e.g. ({ny * 32}, {nx * 32}) for 32 x 32 "
            f"samples per pixel){hint}; crop or resample it first")
    fy, fx = h // ny, w // nx
    return image.reshape(ny, fy, nx, fx).mean(axis=(1, 3), dtype=np.float64)


def normalize_cube(cube: np.ndarray, energy: np.ndarray, method: str, *,
                   scale: float | None = None) -> np.ndarray:
    """Normalise a cube.

    ``"area"`` divides each spectrum by its integral (trapezoid over the energy axis, so the
    result has units of 1/eV), ``"max"`` divides each spectrum by its maximum, and ``"global"``
    divides the whole cube by its largest absolute value (relative intensities between pixels
    are kept), or by ``scale`` when given (the whole cube's, for a cube processed in pieces).
    Spectra whose norm is zero are left at zero.
    """
    check_choice(method, "normalisation method", NORMALIZE_METHODS)
    c = cube.astype(np.float64)
    what = f"normalize({method!r})"
    if method == "global":
        m = float(np.max(np.abs(c))) if scale is None else float(scale)
        return to_float32(c / m if m > 0 else c, what)
    if method == "area":
        norm = np.trapezoid(c, energy, axis=-1) if energy.size > 1 else c[..., 0]
    else:
        norm = np.max(c, axis=-1)
    norm = np.where(np.abs(norm) > 0, norm, 1.0)
    c /= norm[..., None]
    return to_float32(c, what)


def fit_power_law(cube: np.ndarray, energy: np.ndarray, sl: slice):
    """Fit ``A * E**(-r)`` per pixel over the channels ``sl``.

    Returns
    -------
    A, r : numpy.ndarray
        Arrays of shape ``cube.shape[:-1]``.
    """
    e = energy[sl].astype(np.float64)
    _check_fit_window(e, "powerlaw")
    y = cube[..., sl].astype(np.float64)
    w = np.clip(y, _TINY, None)                   # Poisson weights, var(log I) ~ 1/I
    ly = np.log(w)
    lx = np.log(e)
    sw = w.sum(-1)
    mx = (w * lx).sum(-1) / sw
    my = (w * ly).sum(-1) / sw
    sxx = (w * (lx - mx[..., None]) ** 2).sum(-1)
    sxy = (w * (lx - mx[..., None]) * (ly - my[..., None])).sum(-1)
    slope = sxy / np.where(sxx > 0, sxx, 1.0)
    r = -slope
    a = np.exp(my - slope * mx)
    return a, r


def _check_fit_window(e: np.ndarray, model: str) -> None:
    if model == "exp2":
        if e.size < 4:
            raise ValueError("a two-exponential fit needs at least 4 channels in its window")
        return
    if np.any(e <= 0):
        raise ValueError("a power-law fit needs a window at positive energies; "
                         f"the window starts at {e[0]:.4g} eV")
    if e.size < 2:
        raise ValueError("the fit window must hold at least 2 channels; widen it")


def fit_two_exponentials(cube: np.ndarray, energy: np.ndarray, sl: slice, *,
                         decays: np.ndarray | None = None):
    """Fit ``a1 exp(-E/t1) + a2 exp(-E/t2)`` per pixel over channels ``sl``.

    Parameters
    ----------
    cube, energy : numpy.ndarray
        Spectra ``(..., ne)`` and their axis.
    sl : slice
        The fit window's channels.
    decays : numpy.ndarray, optional
        ``(t1, t2, e0)`` from :func:`fit_exp_decays` on the mean spectrum of the whole cube
        (for a cube processed in pieces); default: fitted on the mean spectrum of ``cube``.

    Returns
    -------
    amplitudes : numpy.ndarray
        ``(..., 2)`` per-pixel amplitudes.
    taus : tuple of float
        Decay constants shared by all pixels (fitted on the mean spectrum) and ``e0``.
    """
    e = energy[sl].astype(np.float64)
    _check_fit_window(e, "exp2")
    y = cube[..., sl].reshape(-1, e.size).astype(np.float64)
    t1, t2, e0 = fit_exp_decays(y.mean(0), e) if decays is None else (float(v) for v in decays)
    basis = np.stack([np.exp(-(e - e0) / t1), np.exp(-(e - e0) / t2)], axis=1)
    amps, *_ = np.linalg.lstsq(basis, y.T, rcond=None)
    return amps.T.reshape(*cube.shape[:-1], 2), (t1, t2, e0)


def fit_exp_decays(mean: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Decay constants ``(t1, t2, e0)`` of two exponentials fitted to a mean spectrum.

    Parameters
    ----------
    mean : numpy.ndarray, shape (n,)
        The mean spectrum over the fit window.
    e : numpy.ndarray, shape (n,)
        Its energies (eV).

    Raises
    ------
    ValueError
        The fit does not converge.
    """
    from scipy.optimize import curve_fit  # imported here: keeps `import eelswidgets` fast

    e0 = e[0]

    def model(x, a1, t1, a2, t2):
        return a1 * np.exp(-(x - e0) / t1) + a2 * np.exp(-(x - e0) / t2)

    span = float(e[-1] - e0) or 1.0
    p0 = [max(mean[0], _TINY) * 0.8, span / 10, max(mean[0], _TINY) * 0.2, span]
    try:
        popt, _ = curve_fit(model, e, mean, p0=p0, maxfev=20000,
                            bounds=([0, 1e-6, 0, 1e-6], [np.inf, 1e3 * span, np.inf, 1e3 * span]))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"the two-exponential zero-loss tail fit did not converge ({exc}); "
                         "try model='powerlaw' or another fit window") from exc
    return np.array([float(popt[1]), float(popt[3]), float(e0)])


def background_channels(energy: np.ndarray, window: tuple[float, float], model: str,
                        channels: slice | None = None) -> tuple[slice, slice]:
    """Check the arguments of :func:`subtract_background` on the energy axis alone.

    Returns
    -------
    window, kept : slice
        The fit window's channels and the channels returned.

    Raises
    ------
    ValueError
        Everything :func:`subtract_background` refuses before it looks at the spectra.
    """
    check_choice(model, "background model", ("powerlaw", "exp2"))
    sl = energy_slice(energy, *window)
    _check_fit_window(energy[sl].astype(np.float64), model)
    keep = slice(None) if channels is None else channels
    e = energy[keep]
    if model == "powerlaw" and np.any(e <= 0):
        n = int(np.count_nonzero(e <= 0))
        raise ValueError(f"a power-law background A*E^-r is undefined at E <= 0, and the "
                         f"energy axis has {n} channel(s) there (from {e[0]:.4g} eV); crop "
                         "them first (si.crop_energy(lo, hi) with lo > 0) or use "
                         "si.remove_zlp(...), which drops them")
    return sl, keep


def subtract_background(cube: np.ndarray, energy: np.ndarray, window: tuple[float, float],
                        model: str = "powerlaw", *, channels: slice | None = None,
                        decays: np.ndarray | None = None) -> np.ndarray:
    """Fit a background over ``window`` (eV) per pixel and subtract it.

    Parameters
    ----------
    cube : numpy.ndarray
        ``(ny, nx, ne)`` spectra.
    energy : numpy.ndarray
        ``(ne,)`` energies in eV.
    window : (float, float)
        Fit window in eV.
    model : {"powerlaw", "exp2"}
        Background model.
    channels : slice, optional
        The channels to return (default: all); only these are computed.
    decays : numpy.ndarray, optional
        For ``"exp2"``: the decay constants of the whole cube (see
        :func:`fit_two_exponentials`).

    Returns
    -------
    numpy.ndarray
        The background-subtracted channels, float32.

    Raises
    ------
    ValueError
        A power law asked for channels at ``E <= 0``, where it is undefined; the result
        overflows float32.
    """
    sl, keep = background_channels(energy, window, model, channels)
    e = energy[keep].astype(np.float64)
    if model == "exp2" and decays is None:  # from the mean spectrum of the whole cube
        lead = tuple(range(cube.ndim - 1))
        decays = fit_exp_decays(np.mean(cube[..., sl], axis=lead, dtype=np.float64),
                                energy[sl].astype(np.float64))
    out = np.empty((*cube.shape[:-1], e.size), np.float32)
    what = f"background subtraction over {tuple(window)} ({model})"
    for rows in row_blocks(cube.shape):  # float64 only one block at a time
        out[rows] = to_float32(_subtracted(cube[rows], energy, e, sl, keep, model, decays),
                               what)
    return out


def _subtracted(cube: np.ndarray, energy: np.ndarray, e: np.ndarray, sl: slice, keep: slice,
                model: str, decays) -> np.ndarray:
    """One block of :func:`subtract_background`, float64 (``e``: the kept channels' energies)."""
    if model == "powerlaw":
        a, r = fit_power_law(cube, energy, sl)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            bg = a[..., None] * np.power(e, -r[..., None])
    else:
        amps, (t1, t2, e0) = fit_two_exponentials(cube, energy, sl, decays=decays)
        basis = np.stack([np.exp(-(e - e0) / t1), np.exp(-(e - e0) / t2)], axis=1)
        bg = amps @ basis.T
    bg[~np.isfinite(bg)] = 0.0
    bg -= cube[..., keep]
    np.negative(bg, out=bg)
    return bg
