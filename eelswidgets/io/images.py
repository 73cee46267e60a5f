"""Read a 2D image (HAADF, ADF, survey) from a file, to attach it to a spectrum image."""

from __future__ import annotations

import numpy as np

from .._limits import resolve_max_bytes
from ._axes import image_from_axes
from .files import NATIVE_FORMATS, READ_FORMATS, _as_path, _check_readable, load
from .rosetta import _check_declared_sizes, _describe, _read_signals

__all__ = ["read_image"]


def read_image(path, *, max_bytes: int | None = None) -> np.ndarray:
    """Return the first 2D image held by a file, as a float64 ``(rows, columns)`` array.

    Parameters
    ----------
    path : str or os.PathLike
        A microscope file (``.dm3``, ``.dm4``, ``.hspy``, ``.emd``; through rosettasciio) whose
        first signal that is a 2D image without an energy axis is returned, stored order
        ``(y, x)`` kept; or the project's own ``.npz``/``.h5``, whose HAADF image is returned.
    max_bytes : int, optional
        Memory budget for one array of the file (see :func:`eelswidgets.io.load`); every
        declared array is checked against it before anything is read.

    Raises
    ------
    ValueError
        The file holds no 2D image (the message lists what it holds), or an array larger
        than the memory budget.
    """
    path = _as_path(path)
    _check_readable(path, READ_FORMATS)
    budget = resolve_max_bytes(max_bytes)
    if path.suffix.lower() in NATIVE_FORMATS:
        si = load(path, max_bytes=budget, lazy=path.suffix.lower() != ".npz")  # cube unread
        if si.haadf is None:
            raise ValueError(f"{path.name} holds a spectrum image without a HAADF image")
        return np.array(si.haadf, dtype=np.float64)
    _check_declared_sizes(path, budget)
    signals = _read_signals(path)
    for sig in signals:
        image = image_from_axes(sig["data"], sig.get("axes", []))
        if image is not None:
            return np.array(image, dtype=np.float64)
    listing = "; ".join(_describe(i, s, None) for i, s in enumerate(signals))
    raise ValueError(f"{path.name} holds no 2D image to attach; it holds: {listing}")
