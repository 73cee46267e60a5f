"""Argument checks, energy axes and Poisson sampling shared by the synthetic generators."""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_int

__all__ = [
    "check_seed",
    "check_shape",
    "check_n_energy",
    "check_positive",
    "check_range",
    "energy_axis",
    "poisson_counts",
    "pixel_grid",
]

#: Pixels per side below which a generator cannot draw its geometry.
MIN_SIDE = 16
#: Fewest energy channels a generator accepts.
MIN_ENERGY = 16
# Rows of spectra sampled per Poisson call: bounds the int64 temporary to a few tens of MB.
_CHUNK_VALUES = 4_000_000


def check_seed(seed) -> int:
    """Return ``seed`` as a non-negative ``int`` (a fixed seed makes the output reproducible)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative integer such as 0, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def check_shape(shape, name: str = "shape", minimum: int = MIN_SIDE) -> tuple[int, int]:
    """Return ``(ny, nx)`` after checking that it is a pair of integers ``>= minimum``."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise TypeError(f"{name} must be a pair (ny, nx) of integers, got {shape!r}")
    ny = check_int(shape[0], f"{name}[0] (ny)")
    nx = check_int(shape[1], f"{name}[1] (nx)")
    if min(ny, nx) < minimum:
        raise ValueError(f"{name} must be at least {minimum}x{minimum} pixels to hold the "
                         f"synthetic geometry, got {ny}x{nx}; pass e.g. shape=(64, 64)")
    return ny, nx


def check_n_energy(n_energy, minimum: int = MIN_ENERGY) -> int:
    """Return the number of energy channels after checking it is an integer ``>= minimum``."""
    n = check_int(n_energy, "n_energy")
    if n < minimum:
        raise ValueError(f"n_energy must be at least {minimum} channels to resolve the "
                         f"spectral features, got {n}; pass e.g. n_energy=256")
    return n


def check_positive(value, name: str) -> float:
    """Return ``value`` as a finite positive float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v


def check_range(rng, name: str, *, low: float = -np.inf) -> tuple[float, float]:
    """Return ``(lo, hi)`` with ``low <= lo < hi`` (both finite)."""
    if isinstance(rng, (str, bytes)) or not hasattr(rng, "__len__") or len(rng) != 2:
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {rng!r}")
    try:
        lo, hi = float(rng[0]), float(rng[1])
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {rng!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi (finite), got {rng!r}")
    if lo < low:
        raise ValueError(f"{name} must start at or above {low}, got {rng!r}")
    return lo, hi


def energy_axis(lo: float, hi: float, n: int) -> np.ndarray:
    """Uniform axis of ``n`` channel centres from ``lo`` to ``hi`` inclusive (eV, float64)."""
    return np.linspace(lo, hi, n, dtype=np.float64)


def pixel_grid(ny: int, nx: int, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Physical coordinates ``(y, x)`` of the pixel centres, each of shape ``(ny, nx)``."""
    y = (np.arange(ny, dtype=np.float64) + 0.5) * pixel_size
    x = (np.arange(nx, dtype=np.float64) + 0.5) * pixel_size
    return np.meshgrid(y, x, indexing="ij")


def poisson_counts(expected_rows, n_rows: int, rng: np.random.Generator,
                   out: np.ndarray, clean: np.ndarray | None = None) -> None:
    """Fill ``out`` (``(n_rows, ...)`` float32) with Poisson counts, a block of rows at a time.

    Parameters
    ----------
    expected_rows : callable
        ``expected_rows(r0, r1)`` returns the noise-free expected counts (>= 0) of rows
        ``r0:r1`` as an array of shape ``out[r0:r1].shape``.
    n_rows : int
        Number of rows (first axis of ``out``).
    rng : numpy.random.Generator
        Source of randomness; values are drawn in C order, so the result does not depend on
        the block size.
    out : numpy.ndarray
        Output array for the noisy counts.
    clean : numpy.ndarray, optional
        If given, the expected counts are stored here as well.
    """
    per_row = int(np.prod(out.shape[1:])) or 1
    step = max(1, _CHUNK_VALUES // per_row)
    for r0 in range(0, n_rows, step):
        r1 = min(n_rows, r0 + step)
        lam = np.asarray(expected_rows(r0, r1), dtype=np.float64)
        np.clip(lam, 0.0, None, out=lam)
        if clean is not None:
            clean[r0:r1] = lam
        out[r0:r1] = rng.poisson(lam)
