"""Input validation shared by every layer.

Each helper either returns a clean array that cannot alias the caller's data when it will be
written to (a new array, or a read-only view from :func:`frozen_float_array`) or raises a
``ValueError``/``TypeError`` whose message names the problem and the fix. Masked arrays are
refused: ``np.asarray`` would silently drop their mask.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_finite",
    "count_nonfinite",
    "frozen_float_array",
    "to_float32",
    "check_int",
    "check_choice",
    "check_mask",
    "check_real_dtype",
]


def _plain_array(x, name: str) -> np.ndarray:
    """``np.asarray(x)``, refusing inputs whose meaning it would drop (masked arrays, text)."""
    if isinstance(x, (str, bytes, dict)) or x is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array, whose mask would be lost; pass plain arrays: "
            f"for a cube, data=np.ma.filled(x.astype(float), np.nan) with "
            f"valid=~np.ma.getmaskarray(x).any(axis=-1) (masked pixels become invalid), or "
            f"x.data to ignore the mask")
    return np.asarray(x)


def check_real_dtype(dtype, name: str) -> None:
    """Raise a ``TypeError`` unless ``dtype`` holds real numbers (or bools).

    Used for arrays whose values must not be read (e.g. lazy dask arrays).
    """
    kind = np.dtype(dtype).kind
    if kind not in "biufc":  # bool, integers, floats, complex; not object, text, dates
        raise TypeError(f"{name} must hold numbers, got dtype {np.dtype(dtype)}")
    if kind == "c":
        raise TypeError(f"{name} must be real, got a complex array; take .real or abs() first")


def _real_array(x, name: str, ndim: int | tuple[int, ...] | None) -> np.ndarray:
    """``x`` as a plain real (or bool) array with an allowed number of dimensions."""
    arr = _plain_array(x, name)
    check_real_dtype(arr.dtype, name)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape} "
                             f"({arr.ndim} dimensions)")
    return arr


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None,
                   dtype=np.float32, copy: bool = True) -> np.ndarray:
    """Convert ``x`` to a float array, checking its type and number of dimensions.

    Parameters
    ----------
    x : array_like
        Input values (a masked array is refused: its mask would be lost).
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
    arr = _real_array(x, name, ndim)
    return np.array(arr, dtype=dtype, copy=True) if copy else np.asarray(arr, dtype=dtype)


def frozen_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None,
                       dtype=np.float32) -> np.ndarray:
    """A read-only, C-contiguous ``dtype`` array of ``x``, made with at most one copy.

    An input that already has that dtype and layout is not copied: the result is a read-only
    *view* of it (the caller's array keeps its flags and is never written to). Anything else
    is converted once into a new array. The parameters are those of :func:`as_float_array`
    (without ``copy``).

    Returns
    -------
    numpy.ndarray
        Not writeable.
    """
    arr = _real_array(x, name, ndim)
    if arr.dtype == np.dtype(dtype) and arr.flags.c_contiguous:
        out = arr.view(np.ndarray)
    else:
        out = np.empty(arr.shape, dtype=dtype)
        with np.errstate(over="ignore"):
            out[...] = arr
        overflow = count_nonfinite(out, test=_not_inf) - count_nonfinite(arr, test=_not_inf)
        if overflow:
            raise ValueError(f"{name} holds {overflow} finite value(s) beyond the {out.dtype} "
                             f"range (+-{np.finfo(out.dtype).max:.2g}); rescale it first, e.g. "
                             "divide it by its largest absolute value")
    out.setflags(write=False)
    return out


_CHUNK = 1 << 18  # elements per block of the block-wise scans (no full-size temporaries)


def count_nonfinite(arr: np.ndarray, *, where: np.ndarray | None = None,
                    test=np.isfinite) -> int:
    """Number of values of ``arr`` for which ``test`` is False, scanned block by block.

    Parameters
    ----------
    arr : numpy.ndarray
        The values.
    where : numpy.ndarray of bool, optional
        Only count inside this mask over the leading dimensions of ``arr``.
    test : callable
        Element-wise test that returns True for good values (default ``np.isfinite``).

    Returns
    -------
    int
    """
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return int(not test(arr))
    if arr.size == 0:
        return 0
    rows = max(1, _CHUNK // max(1, arr.size // arr.shape[0]))
    mask = None if where is None else np.asarray(where)
    bad = 0
    for i in range(0, arr.shape[0], rows):
        ok = test(arr[i:i + rows])
        if mask is not None:
            block = mask[i:i + rows]
            ok |= ~block.reshape(block.shape + (1,) * (arr.ndim - block.ndim))
        bad += ok.size - int(np.count_nonzero(ok))
    return bad


def _not_inf(block: np.ndarray) -> np.ndarray:
    return ~np.isinf(block)


def to_float32(values: np.ndarray, what: str) -> np.ndarray:
    """Cast a result computed from finite data to float32, refusing an overflow.

    Parameters
    ----------
    values : numpy.ndarray
        The result (any real dtype); NaN (pixels without a value) passes through.
    what : str
        The operation and its arguments, for the message, e.g. ``"normalize('max')"``.

    Returns
    -------
    numpy.ndarray
        float32.

    Raises
    ------
    ValueError
        The result holds values beyond the float32 range (about 3.4e38).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(values).astype(np.float32)
    n_inf = count_nonfinite(out, test=_not_inf)
    if n_inf:
        raise ValueError(f"the result overflows float32: {what} gives {n_inf} value(s) beyond "
                         "+-3.4e38 from finite data; rescale the data first (e.g. divide it by "
                         "its maximum) or choose other arguments")
    return out


def check_finite(arr: np.ndarray, name: str, *, where: np.ndarray | None = None) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or Inf (optionally only inside ``where``).

    The scan is block-wise: no full-size temporary array.
    """
    bad = count_nonfinite(np.asarray(arr), where=where)
    if bad:
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
    arr = _plain_array(mask, name)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be a boolean array (dtype bool), got dtype {arr.dtype}; "
                        f"build it with a comparison, e.g. xx < nx // 2")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but the image is {tuple(shape)}")
    return arr.copy()
