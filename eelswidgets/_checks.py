"""Input validation shared by every layer.

Each helper either returns a clean, *new* array (never a view that could alias the caller's
data when it will be written to) or raises a ``ValueError``/``TypeError`` whose message names
the problem and the fix.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_finite",
    "check_int",
    "check_choice",
    "check_mask",
]


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None,
                   dtype=np.float32, copy: bool = True) -> np.ndarray:
    """Convert ``x`` to a float array, checking its type and number of dimensions.

    Parameters
    ----------
    x : array_like
        Input values.
    name : str
        Name used in error messages.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.
    dtype : numpy dtype
        Output dtype.
    copy : bool
        Always return a new array (default) so that later in-place work cannot touch the input.

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(x, (str, bytes, dict)) or x is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got a complex array; take .real or abs() first")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape} "
                             f"({arr.ndim} dimensions)")
    return np.array(arr, dtype=dtype, copy=True) if copy else np.asarray(arr, dtype=dtype)


def check_finite(arr: np.ndarray, name: str, *, where: np.ndarray | None = None) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or Inf (optionally only inside ``where``)."""
    vals = arr if where is None else arr[where]
    if not np.all(np.isfinite(vals)):
        bad = int(np.size(vals) - np.count_nonzero(np.isfinite(vals)))
        raise ValueError(
            f"{name} contains {bad} NaN/Inf value(s); replace them first, e.g. with "
            f"np.nan_to_num(...) or by cropping the affected pixels/channels")


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` after checking type and range (inclusive bounds)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; choose one of {opts}")
    return value


def check_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Return a boolean copy of a pixel mask of the given ``(ny, nx)`` shape."""
    if mask is None:
        raise TypeError(f"{name} must be a boolean array of shape {shape}, got None")
    arr = np.asarray(mask)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be a boolean array (dtype bool), got dtype {arr.dtype}; "
                        f"build it with a comparison, e.g. xx < nx // 2")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but the image is {tuple(shape)}")
    return arr.copy()
