"""The memory budget for one array read from a file.

A file states the shape and dtype of each array before its bytes; a small file can claim an
array of many gigabytes (a deflate bomb, a chunked HDF5 dataset whose chunks were never
written). Every reader checks the claim against this budget *before* it allocates anything.

The budget is, in order of precedence: the ``max_bytes=`` argument of :func:`eelswidgets.load`,
the environment variable ``EELSWIDGETS_MAX_BYTES`` (a number of bytes, e.g. ``8e9``), or half
of the machine's physical memory.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = ["ENV_VAR", "check_array_bytes", "check_json_bytes", "default_max_bytes",
           "resolve_max_bytes"]

ENV_VAR = "EELSWIDGETS_MAX_BYTES"
_FALLBACK = 8 * 2**30  # when the physical memory cannot be read
_GIB = 2**30
_JSON_SHARE = 32  # parsed JSON takes 10-50 times its text's size as Python objects


def default_max_bytes() -> int:
    """Half of the physical memory (8 GiB where it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK
    return int(total) // 2 if total > 0 else _FALLBACK


def _positive_bytes(value, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{label} must be a number of bytes, got {value!r}")
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{label} must be a positive number of bytes, got {value!r}")
    return int(value)


def resolve_max_bytes(max_bytes=None) -> int:
    """The budget for one array: ``max_bytes``, else ``$EELSWIDGETS_MAX_BYTES``, else the default.

    Parameters
    ----------
    max_bytes : int or float, optional
        Explicit budget in bytes.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        ``max_bytes`` or the environment variable is not a positive number.
    """
    if max_bytes is not None:
        return _positive_bytes(max_bytes, "max_bytes")
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return default_max_bytes()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"the environment variable {ENV_VAR}={text!r} is not a number of "
                         "bytes; set it to e.g. 8e9 or unset it") from None
    return _positive_bytes(value, f"the environment variable {ENV_VAR}")


def _gib(n: int) -> str:
    return f"{n / _GIB:.3g} GiB"


def check_array_bytes(name: str, shape, dtype, budget: int, source: str) -> int:
    """Return the size in bytes that ``shape`` and ``dtype`` claim, or refuse it over ``budget``.

    Parameters
    ----------
    name : str
        The array's name in the file (used in the message).
    shape : tuple of int
        Its claimed shape.
    dtype : numpy dtype
        Its claimed dtype.
    budget : int
        Budget in bytes (see :func:`resolve_max_bytes`).
    source : str
        The file's name (used in the message).

    Returns
    -------
    int
        ``prod(shape) * itemsize``.

    Raises
    ------
    ValueError
        A negative dimension, or a size over the budget (the message names the array, its
        shape, dtype and size, the budget and how to raise it).
    """
    dims = tuple(int(n) for n in shape)
    if any(n < 0 for n in dims):
        raise ValueError(f"{source}: the array {name!r} claims the impossible shape {dims}; "
                         "the file is corrupt")
    dtype = np.dtype(dtype)
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes > budget:
        raise ValueError(
            f"{source}: the array {name!r} claims shape {dims} of dtype {dtype} "
            f"({_gib(nbytes)}), more than the memory budget for one array ({_gib(budget)}); "
            "if the file is genuine and the machine has the memory, raise the budget with "
            f"ew.load(path, max_bytes=...) or the environment variable {ENV_VAR} (bytes)")
    return nbytes


def check_json_bytes(name: str, text: str, budget: int, source: str) -> str:
    """Return ``text`` if it is at most a 32nd of ``budget`` (UTF-8 bytes), else refuse it.

    Parsed JSON becomes Python objects that take ten to fifty times the text's size.

    Raises
    ------
    ValueError
        The text is too long (the message says how to raise the budget).
    """
    limit = max(1, budget // _JSON_SHARE)
    nbytes = len(text.encode("utf-8", "surrogatepass"))
    if nbytes > limit:
        raise ValueError(
            f"{source}: the JSON {name} has {nbytes} bytes; JSON may take 1/{_JSON_SHARE} of "
            f"the memory budget for one array ({_gib(budget)}), {limit} bytes; if the file is "
            "genuine, raise the budget with ew.load(path, max_bytes=...) or the environment "
            f"variable {ENV_VAR} (bytes)")
    return text
