"""JSON from files with bounded nesting and size.

``json.loads`` recurses once per nesting level, so a few kilobytes of ``[[[[...`` end in a
``RecursionError`` (or worse, deep inside later code that walks the result). :func:`loads`
measures the nesting depth first, without recursion, and refuses deep or oversized text with a
``ValueError``. ``NaN`` and ``Infinity`` are accepted: the package's own files write them for
non-finite floats in metadata (as Python's ``json`` does).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

__all__ = ["loads", "nesting_depth"]

# a complete JSON string: quote, then runs of plain characters and escapes (unrolled, linear)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPEN = np.frombuffer(b"[{", np.uint8)
_CLOSE = np.frombuffer(b"]}", np.uint8)


def nesting_depth(text: str | bytes) -> int:
    """The deepest bracket nesting of JSON ``text``, brackets inside strings excluded.

    Parameters
    ----------
    text : str or bytes
        JSON text (need not be valid).

    Returns
    -------
    int
        0 for a scalar, 1 for a flat list or object, and so on.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    bare = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    step = np.isin(bare, _OPEN).astype(np.int64) - np.isin(bare, _CLOSE)
    return int(np.cumsum(step).max(initial=0))


def loads(text: str | bytes, *, max_depth: int = 64, max_bytes: int | None = None) -> Any:
    """Parse JSON ``text`` after checking its size and nesting depth.

    Parameters
    ----------
    text : str or bytes
        The JSON document (bytes are decoded as UTF-8).
    max_depth : int
        Most nesting levels of lists/objects allowed (default 64).
    max_bytes : int, optional
        Most bytes (UTF-8) allowed; no limit by default.

    Returns
    -------
    object

    Raises
    ------
    TypeError
        ``text`` is not str or bytes.
    ValueError
        The text is too long, nests deeper than ``max_depth``, is not UTF-8, or is not valid
        JSON (``json.JSONDecodeError``, a subclass).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the JSON text is not valid UTF-8 ({exc})") from exc
    if not isinstance(text, str):
        raise TypeError(f"JSON text must be str or bytes, got {type(text).__name__}")
    if max_bytes is not None:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise ValueError(f"the JSON text has {size} bytes, more than the limit of "
                             f"{max_bytes} bytes")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"the JSON text nests {depth} levels deep, more than the limit of "
                         f"{max_depth}; the file is corrupt or crafted")
    return json.loads(text)
