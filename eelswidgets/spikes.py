"""Spike (cosmic-ray, hot-pixel) detection and replacement in a spectrum image, no interaction.

A spike is a value that is **narrow in energy and alone in space**: it stands out from the
spectrum around it (a few channels) *and* none of the neighbouring pixels has anything like it
at that energy. Both tests use the energy high-pass ``D = x - median_5(x)`` (``median_5``: the
median of 5 consecutive channels; it keeps steps such as a core-loss onset and removes
features at most two channels wide):

``D[p, c] > threshold * noise[p, c] + RATIO * max(0, max D[n, c-1..c+1])``

over the (up to 8) spatial neighbours ``n`` of pixel ``p``. A feature that the neighbours have
too, within one channel (the zero-loss peak, drifting by less than a channel from pixel to
pixel; a white line; an interface), raises the bar by ``RATIO`` times its height and is left
alone; a spike at one pixel is not matched by its neighbours. ``noise`` is a Poisson model
``s * sqrt(m + m0)`` (``m`` the local median, ``m0`` a floor for low counts) whose one scale
``s`` is estimated robustly from the second differences of the whole cube, so the data need
not be in electron counts.

A flagged value is replaced by ``median_5(x) + median_n D[n, c]``: the local spectrum plus the
fine structure the neighbours have at that energy.

A single pixel (1 x 1) has no neighbours: nothing can be told apart and nothing is flagged.

The steps are separate functions so that a chunked (lazy) cube can run them piece by piece:
:func:`highpass` per pixel, :func:`level_values` / :func:`noise_ratios` whose medians over the
whole cube set the noise model, and :func:`flag_block` on a block with a one-pixel rim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SpikeReport", "find_spikes", "flag_block", "filter_width", "highpass", "level_floor",
           "level_values", "noise_ratios", "DEFAULT_THRESHOLD", "ENERGY_WIDTH", "RATIO"]

DEFAULT_THRESHOLD = 8.0
ENERGY_WIDTH = 5
RATIO = 2.0
_CHUNK_VALUES = 8_000_000   # values of one block of neighbour stacks (bounds temporary memory)
_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


@dataclass(frozen=True)
class SpikeReport:
    """Where :meth:`SpectrumImage.remove_spikes` replaced values.

    Attributes
    ----------
    mask : numpy.ndarray of bool, shape (ny, nx, ne)
        True at every replaced value.
    energy : numpy.ndarray, shape (ne,)
        Energy axis (eV).
    original : numpy.ndarray, shape (count,)
        The replaced values, in the order of :attr:`locations`.
    replacement : numpy.ndarray, shape (count,)
        What they were replaced by.
    """

    mask: np.ndarray
    energy: np.ndarray
    original: np.ndarray
    replacement: np.ndarray

    @property
    def count(self) -> int:
        """Number of replaced values."""
        return int(np.count_nonzero(self.mask))

    @property
    def locations(self) -> np.ndarray:
        """``(count, 3)`` integer array of ``(y, x, channel)``, in C order."""
        return np.argwhere(self.mask)

    @property
    def pixels(self) -> list[tuple[int, int]]:
        """The pixels ``(y, x)`` that held at least one spike."""
        return [tuple(int(v) for v in p) for p in np.argwhere(self.mask.any(-1))]

    def __repr__(self) -> str:
        head = f"<SpikeReport: {self.count} value(s) replaced in {len(self.pixels)} pixel(s)"
        shown = [f"({y}, {x}) at {self.energy[c]:.4g} eV" for y, x, c in self.locations[:5]]
        more = ", ..." if self.count > 5 else ""
        return head + (": " + ", ".join(shown) + more if shown else "") + ">"


def _neighbours(a: np.ndarray) -> np.ndarray:
    """``(8, ny, nx, ...)`` stack of the 8 spatial neighbours of every pixel, NaN off the edge."""
    ny, nx = a.shape[:2]
    pad = np.pad(a, [(1, 1), (1, 1)] + [(0, 0)] * (a.ndim - 2), constant_values=np.nan)
    return np.stack([pad[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx] for dy, dx in _OFFSETS])


def find_spikes(cube: np.ndarray, valid: np.ndarray | None = None,
                threshold: float = DEFAULT_THRESHOLD):
    """Find spikes and compute their replacement values (see the module docstring).

    Parameters
    ----------
    cube : numpy.ndarray, shape (ny, nx, ne)
    valid : numpy.ndarray of bool, shape (ny, nx), optional
        Invalid pixels are neither tested nor used as neighbours.
    threshold : float
        In units of the local noise; lower finds weaker spikes and risks real features.

    Returns
    -------
    mask : numpy.ndarray of bool, shape (ny, nx, ne)
    cleaned : numpy.ndarray, shape (ny, nx, ne), float32
        ``cube`` with the flagged values replaced.
    """
    ny, nx, ne = cube.shape
    vmask = np.ones((ny, nx), bool) if valid is None else np.asarray(valid, bool)
    if filter_width(ne) < 3 or ny * nx < 2:
        return np.zeros(cube.shape, bool), cube.astype(np.float32)
    x, smooth, d = highpass(cube, vmask)
    m0 = level_floor(float(np.median(level_values(smooth, vmask))))
    ratio = noise_ratios(x, smooth, vmask, m0)
    scale = 1.4826 * float(np.median(ratio)) if ratio.size else 0.0
    return _flag(cube, smooth, d, vmask, threshold, m0, scale)


def filter_width(ne: int) -> int:
    """Channels of the energy median filter for spectra of ``ne`` channels (odd, <= 5)."""
    return min(ENERGY_WIDTH, ne if ne % 2 else ne - 1)


def highpass(cube: np.ndarray, vmask: np.ndarray):
    """``x`` (float64, NaN at invalid pixels), its energy median ``smooth`` and ``x - smooth``."""
    from scipy.ndimage import median_filter  # imported here: keeps `import eelswidgets` fast

    x = np.where(vmask[..., None], cube.astype(np.float64), np.nan)
    smooth = median_filter(np.nan_to_num(x), size=(1, 1, filter_width(cube.shape[-1])),
                           mode="nearest")
    d = np.where(vmask[..., None], x - smooth, np.nan)
    return x, smooth, d


def level_values(smooth: np.ndarray, vmask: np.ndarray) -> np.ndarray:
    """The values whose median sets the noise floor (``|smooth|`` at valid pixels), flat."""
    return np.abs(smooth[vmask]).ravel()


def level_floor(median_level: float) -> float:
    """The noise model's floor ``m0`` from the median of :func:`level_values`."""
    return max(0.05 * median_level, 1e-12)


def noise_ratios(x: np.ndarray, smooth: np.ndarray, vmask: np.ndarray, m0: float) -> np.ndarray:
    """|second difference| / Poisson model at valid pixels, flat (1.4826 x median: the scale)."""
    norm = np.sqrt(np.clip(smooth, 0, None) + m0)
    curv = (x[..., :-2] - 2 * x[..., 1:-1] + x[..., 2:]) / np.sqrt(6.0)
    return (np.abs(curv[vmask]) / norm[vmask][:, 1:-1]).ravel()


def flag_block(cube: np.ndarray, valid: np.ndarray, *, threshold: float, m0: float,
               scale: float, what: str) -> np.ndarray:
    """Cleaned values (``what="cleaned"``) or the spike mask (``"mask"``) of one block.

    The block carries a one-pixel rim of its neighbours (NaN and invalid off the image); the
    noise floor ``m0`` and ``scale`` are the whole cube's.
    """
    _, smooth, d = highpass(cube, valid)
    mask, cleaned = _flag(cube, smooth, d, valid, threshold, m0, scale)
    return cleaned if what == "cleaned" else mask


def _flag(cube, smooth, d, vmask, threshold, m0, scale):
    ny, nx, ne = cube.shape
    nb_med = np.empty(d.shape, np.float32)
    nb_max = np.empty(d.shape, np.float32)
    step = max(1, _CHUNK_VALUES // (8 * ny * nx))      # channels per block of neighbour stacks
    for c0 in range(0, ne, step):
        nb = _neighbours(d[..., c0:c0 + step])          # (8, ny, nx, <= step)
        with _quiet_nan_warnings():
            nb_med[..., c0:c0 + step] = np.nan_to_num(np.nanmedian(nb, axis=0))
            nb_max[..., c0:c0 + step] = np.nan_to_num(np.nanmax(nb, axis=0), nan=0.0)
    wide = nb_max.copy()                                # max over channels c-1..c+1
    wide[..., 1:] = np.maximum(wide[..., 1:], nb_max[..., :-1])
    wide[..., :-1] = np.maximum(wide[..., :-1], nb_max[..., 1:])
    norm = np.sqrt(np.clip(smooth, 0, None) + m0)
    noise = max(scale, 1e-12) * norm
    bar = threshold * noise + RATIO * np.clip(wide, 0, None)
    mask = vmask[..., None] & (np.nan_to_num(d) > bar)
    cleaned = cube.astype(np.float32, copy=True)
    cleaned[mask] = (smooth + nb_med)[mask]
    return mask, cleaned


class _quiet_nan_warnings:
    """Silence "All-NaN slice" warnings (pixels without valid neighbours give NaN, handled)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
