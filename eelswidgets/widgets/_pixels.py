"""Pixel selections as sorted, unique flat indices: the one format every view shares."""

from __future__ import annotations

import numpy as np

from ._front_end import InvalidType, InvalidValue

__all__ = ["as_indices", "sorted_unique"]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted unique values of a 1-D integer array (a new int32 array).

    Much faster than ``np.unique`` for the common case of input that is already sorted and
    unique (what the browser sends): that case is only checked, not sorted.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size < 2 or bool(np.all(flat[1:] > flat[:-1])):
        return np.array(flat, dtype=np.int32)
    s = np.sort(flat)
    keep = np.empty(s.size, bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep].astype(np.int32)


def as_indices(value, shape: tuple[int, int], name: str = "indices") -> np.ndarray:
    """Turn a pixel selection into sorted, unique flat indices (int32).

    Parameters
    ----------
    value : array_like or None
        Flat pixel indices ``y * nx + x`` (any integer dtype, any order, repeats allowed), a
        boolean mask of shape ``(ny, nx)``, or None / an empty sequence for "nothing selected".
    shape : (int, int)
        The image shape ``(ny, nx)``.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        A new 1-D int32 array (never a view of ``value``).

    Raises
    ------
    InvalidType
        For a non-integer, non-boolean array (a ``TypeError``).
    InvalidValue
        For a mask of the wrong shape, indices outside the image or more indices than the
        image has pixels (a ``ValueError``).
    """
    ny, nx = shape
    if value is None:
        return _frozen(np.zeros(0, np.int32))
    if isinstance(value, (str, bytes, dict)):
        raise InvalidType(f"{name} must be flat pixel indices or a boolean mask, got "
                          f"{type(value).__name__}")
    try:
        arr = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise InvalidValue(f"{name} must be a flat list of pixel indices: {err}") from None
    if arr.dtype == bool:
        if arr.shape != (ny, nx):
            raise InvalidValue(f"{name}: a boolean mask must have the image shape {(ny, nx)}, "
                               f"got {arr.shape}")
        return _frozen(np.flatnonzero(arr))
    if arr.size == 0:
        return _frozen(np.zeros(0, np.int32))
    if arr.size > ny * nx:
        raise InvalidValue(f"{name} holds {arr.size} indices but the image has only {ny * nx} "
                           f"pixels; give each selected pixel once")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidType(f"{name} must be integer flat pixel indices (y * nx + x) or a boolean "
                          f"mask of shape {(ny, nx)}, got dtype {arr.dtype}")
    flat = arr.reshape(-1)
    lo, hi = int(flat.min()), int(flat.max())
    if lo < 0 or hi >= ny * nx:
        raise InvalidValue(f"{name} must lie in [0, {ny * nx}) for an image of {ny}x{nx} pixels, "
                           f"got values from {lo} to {hi}")
    return _frozen(sorted_unique(flat))


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(arr, dtype=np.int32)
    out.flags.writeable = False  # in-place edits would not reach the browser: assign instead
    return out
