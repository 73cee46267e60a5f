"""Result maps of a batch run (decomposition maps, component spectra, latent maps) as ``.npz``.

One file per analysed spectrum image: named numeric arrays plus a JSON header (format name and
version, where the maps came from, how they were made). Written atomically
(:func:`~eelswidgets.io.atomic_write`), read without unpickling and under the memory budget
(every member's claimed size is checked before it is allocated, as for the own ``.npz``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._limits import resolve_max_bytes
from .._safe_json import loads
from ._atomic import atomic_write
from ._npz_members import NpzMembers

__all__ = ["MAPS_FORMAT", "MAPS_SUFFIX", "MAPS_VERSION", "load_maps", "save_maps"]

MAPS_FORMAT = "eelswidgets.Maps"
MAPS_VERSION = 1
MAPS_SUFFIX = ".maps.npz"
_HEADER = "__header__"


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def save_maps(path, arrays: Mapping[str, np.ndarray], info: Mapping | None = None, *,
              overwrite: bool = True) -> Path:
    """Write named numeric arrays and a JSON-able ``info`` dict to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, ending in ``.npz``.
    arrays : mapping of str to array_like
        Numeric or boolean arrays (e.g. ``maps`` (k, ny, nx), ``spectra`` (k, ne)).
    info : dict, optional
        Plain JSON values (source, steps, parameters), stored in the header.
    overwrite : bool
        Replace an existing file (default) or raise ``FileExistsError``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        A key that is not a plain name, an array of objects/strings, or ``info`` that is not
        JSON-able.
    ValueError
        ``path`` does not end in ``.npz``.
    """
    path = Path(os.fspath(path))
    if path.suffix.lower() != ".npz":
        raise ValueError(f"maps are written as .npz, got {path.name!r}")
    out = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise TypeError(f"array names must be plain identifiers, got {key!r}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"the array {key!r} must hold numbers, got dtype {arr.dtype}")
        out[key] = arr
    try:
        header = json.dumps({"format": MAPS_FORMAT, "version": MAPS_VERSION,
                             "arrays": sorted(out), "info": dict(info or {})}, default=_plain)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"info must hold plain JSON values: {exc}") from exc
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        np.savez(fh, **{_HEADER: np.array(header)}, **out)
    return path


def load_maps(path, *, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_maps` (never unpickles).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.maps.npz`` file.
    max_bytes : int, optional
        Memory budget for one array (see :func:`eelswidgets.load`).

    Returns
    -------
    arrays : dict of str to numpy.ndarray
    info : dict
        The header's ``info`` (source, steps, parameters, shapes).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a maps file, a newer version, or a corrupt or oversized member.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"no such maps file: {str(path)!r}")
    budget = resolve_max_bytes(max_bytes)
    with NpzMembers(path, budget) as archive:
        if _HEADER not in archive:
            raise ValueError(f"{path.name} is not an eelswidgets maps file (no header)")
        head = archive.read(_HEADER)
        if head.dtype.kind != "U" or head.ndim != 0:
            raise ValueError(f"{path.name}: the maps header is malformed")
        header = loads(str(head[()]), max_bytes=1 << 20)
        if not isinstance(header, dict) or header.get("format") != MAPS_FORMAT:
            raise ValueError(f"{path.name} is not an eelswidgets maps file")
        version = header.get("version")
        if not isinstance(version, int) or version > MAPS_VERSION:
            raise ValueError(f"{path.name} is maps format version {version!r}; this eelswidgets "
                             f"reads up to {MAPS_VERSION}: upgrade eelswidgets")
        names = header.get("arrays")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{path.name}: the maps header is malformed")
        info = header.get("info")
        return {n: archive.read(n) for n in names}, info if isinstance(info, dict) else {}
