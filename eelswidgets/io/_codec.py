"""Exact, pickle-free encoding of nested Python values (metadata, truth) into JSON + arrays.

A value tree made of dicts, lists, tuples, ``None``, bools, ints, floats, strings, NumPy arrays
and NumPy scalars is turned into a JSON-able tree plus a flat ``{key: ndarray}`` dict. Decoding
gives back the same types: arrays keep their dtype and shape, NumPy scalars stay NumPy scalars,
tuples stay tuples and dict keys that are not strings survive. Nothing is ever pickled.

Tagged nodes are one-key JSON objects whose key starts with ``"__ew_"``; a user dict with such
a key is stored in the (unambiguous) item-list form, so tags and data never collide.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "decode", "encode", "storable_dtype", "to_jsonable"]

_TAG = "__ew_"
MAX_DEPTH = 32  # nesting kept by to_jsonable (a file header allows 64 levels in all)
# dtype kinds that are stored without pickle in .npz and .h5: bool, ints, floats, complex,
# fixed-width bytes and unicode strings
_KINDS = "biufcSU"


def storable_dtype(dtype: np.dtype) -> bool:
    """Whether arrays of ``dtype`` can be stored without pickle."""
    return dtype.kind in _KINDS and dtype.fields is None


def encode(value: Any, arrays: dict[str, np.ndarray], prefix: str, where: str = "") -> Any:
    """Encode ``value`` into a JSON-able tree, moving arrays into ``arrays``.

    Parameters
    ----------
    value : object
        The tree to encode.
    arrays : dict
        Receives ``{key: ndarray}``; keys are ``prefix`` followed by a counter.
    prefix : str
        Key prefix for the arrays of this tree.
    where : str
        Location used in error messages, e.g. ``"truth['maps']"``.

    Returns
    -------
    object
        A tree of dicts, lists, str, int, float, bool and None.

    Raises
    ------
    TypeError
        A value of an unsupported type (the message names where it is).
    """
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:
            raise TypeError(f"{where} is a {type(value).__name__}, which would lose information "
                            "when saved; store plain arrays (e.g. np.asarray(x) and, for a "
                            "masked array, x.data and x.mask separately)")
        if not storable_dtype(value.dtype):
            raise TypeError(f"{where} is an array of dtype {value.dtype}, which cannot be stored "
                            "without pickle; convert it to numbers or strings first")
        key = f"{prefix}{len(arrays)}"
        arrays[key] = value
        return {f"{_TAG}array__": key}
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if not storable_dtype(arr.dtype):
            raise TypeError(f"{where} is a NumPy scalar of dtype {arr.dtype}, which cannot be "
                            "stored; convert it to a Python number or string")
        key = f"{prefix}{len(arrays)}"
        arrays[key] = arr
        return {f"{_TAG}scalar__": key}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple):
        return {f"{_TAG}tuple__": [encode(v, arrays, prefix, f"{where}[{i}]")
                                   for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, arrays, prefix, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith(_TAG) for k in value):
            return {k: encode(v, arrays, prefix, f"{where}[{k!r}]") for k, v in value.items()}
        return {f"{_TAG}items__": [[encode(k, arrays, prefix, f"key of {where}"),
                                    encode(v, arrays, prefix, f"{where}[{k!r}]")]
                                   for k, v in value.items()]}
    raise TypeError(f"{where} has type {type(value).__name__}, which cannot be saved; allowed: "
                    "dict, list, tuple, str, int, float, bool, None, NumPy arrays and scalars")


def decode(node: Any, get_array: Callable[[str], np.ndarray], where: str = "") -> Any:
    """Invert :func:`encode`.

    Parameters
    ----------
    node : object
        A tree produced by :func:`encode` (after a JSON round trip).
    get_array : callable
        ``get_array(key)`` returns the stored array for ``key`` (and raises ``ValueError`` for an
        unknown key).
    where : str
        Location used in error messages.

    Returns
    -------
    object

    Raises
    ------
    ValueError
        The tree is malformed (an unknown tag, a missing array).
    """
    if isinstance(node, list):
        return [decode(v, get_array, where) for v in node]
    if isinstance(node, dict):
        if len(node) == 1:
            (tag, payload), = node.items()
            if isinstance(tag, str) and tag.startswith(_TAG):
                return _decode_tag(tag, payload, get_array, where)
        return {k: decode(v, get_array, where) for k, v in node.items()}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise ValueError(f"malformed {where} in the file header (a {type(node).__name__})")


def _decode_tag(tag: str, payload: Any, get_array, where: str) -> Any:
    if tag in (f"{_TAG}array__", f"{_TAG}scalar__"):
        if not isinstance(payload, str):
            raise ValueError(f"malformed array reference in {where}")
        arr = get_array(payload)
        if tag == f"{_TAG}array__":
            return arr
        if arr.ndim != 0:
            raise ValueError(f"malformed scalar in {where}: stored with shape {arr.shape}")
        return arr[()]
    if tag == f"{_TAG}tuple__" and isinstance(payload, list):
        return tuple(decode(v, get_array, where) for v in payload)
    if tag == f"{_TAG}items__" and isinstance(payload, list):
        out = {}
        for item in payload:
            if not (isinstance(item, list) and len(item) == 2):
                raise ValueError(f"malformed dict items in {where}")
            out[decode(item[0], get_array, where)] = decode(item[1], get_array, where)
        return out
    raise ValueError(f"malformed {where} in the file header: unknown tag {tag!r}")


def to_jsonable(value: Any, *, max_array: int = 1024, max_depth: int = MAX_DEPTH) -> Any:
    """Turn foreign metadata (from a file or a HyperSpy signal) into plain JSON-able values.

    NumPy scalars become Python numbers, small arrays become lists, bytes are decoded, dict keys
    become strings; large arrays, values of other types and containers nested deeper than
    ``max_depth`` are replaced by a short description.

    Parameters
    ----------
    value : object
        Tree to convert.
    max_array : int
        Arrays with more elements are summarised, not copied.
    max_depth : int
        Containers below this many levels are summarised (so that the result can be saved and
        read back, and no walk over it recurses deeply).

    Returns
    -------
    object
    """
    container = isinstance(value, (dict, list, tuple, np.ndarray)) or hasattr(value,
                                                                             "as_dictionary")
    if container and max_depth < 0:
        return f"<{type(value).__name__} nested too deeply, left out>"
    deeper = {"max_array": max_array, "max_depth": max_depth - 1}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.size <= max_array and storable_dtype(value.dtype) and value.dtype.kind != "c":
            return to_jsonable(value.tolist(), max_array=max_array, max_depth=max_depth)
        return f"<array shape={value.shape} dtype={value.dtype}>"
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, **deeper) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, **deeper) for v in value]
    if hasattr(value, "as_dictionary"):  # HyperSpy DictionaryTreeBrowser
        return to_jsonable(value.as_dictionary(), max_array=max_array, max_depth=max_depth)
    return str(value)
