"""The project's own file format, as a NumPy ``.npz`` archive or an HDF5 ``.h5`` file.

Both hold the same content and round-trip a :class:`~eelswidgets.SpectrumImage` exactly:

- arrays ``data`` (float32), ``energy`` (float64), ``valid`` (bool) and ``haadf`` (if any);
- a JSON header with the format name (``"eelswidgets.SpectrumImage"``), the format version,
  pixel size and unit, name, ``metadata`` and ``truth``. Arrays and NumPy scalars inside
  ``metadata``/``truth`` are stored as separate arrays and referenced from the header, so that
  their dtype and shape come back unchanged (see :mod:`eelswidgets.io._codec`).

In ``.npz`` the header is the unicode array ``__header__`` and the tree arrays are ``tree_<n>``;
in ``.h5`` the header is the root attribute ``header`` (with ``format``/``format_version``
attributes beside it) and the tree arrays live in the group ``/tree``. Files are written
atomically and ``.npz`` files are read with ``allow_pickle=False``: a file that holds a pickled
object is refused and nothing in it is executed.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..spectrum_image import SpectrumImage
from ._atomic import atomic_path, atomic_write
from ._codec import decode, encode
from ._optional import require

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_h5", "read_npz", "write_h5", "write_npz"]

FORMAT_NAME = "eelswidgets.SpectrumImage"
FORMAT_VERSION = 1

_FIELDS = ("data", "energy", "valid", "haadf")
_TREE = "tree_"


# ---------------------------------------------------------------------------- header
def _header_and_arrays(si: SpectrumImage) -> tuple[str, dict[str, np.ndarray]]:
    if not isinstance(si, SpectrumImage):
        raise TypeError(f"expected a SpectrumImage, got {type(si).__name__}")
    tree: dict[str, np.ndarray] = {}
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "pixel_size": si.pixel_size,
        "pixel_unit": si.pixel_unit,
        "name": si.name,
        "has_haadf": si.haadf is not None,
        "metadata": encode(si.metadata, tree, _TREE, "metadata"),
        "truth": encode(si.truth, tree, _TREE, "truth"),
    }
    arrays = {"data": si.data, "energy": si.energy, "valid": si.valid}
    if si.haadf is not None:
        arrays["haadf"] = si.haadf
    arrays.update(tree)
    return json.dumps(header), arrays


def _parse_header(text: Any, path: Path) -> dict:
    try:
        header = json.loads(str(text))
    except ValueError as exc:
        raise ValueError(f"{path.name}: the eelswidgets header is not valid JSON; the file is "
                         "corrupt") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path.name} is not an eelswidgets SpectrumImage file (format "
                         f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path.name}: unknown format version {version!r}; the file is corrupt")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path.name} was written in eelswidgets file format version {version}, "
                         f"but this eelswidgets reads up to version {FORMAT_VERSION}; upgrade "
                         "eelswidgets (pip install -U eelswidgets) to read it")
    for key, kind in (("pixel_size", (int, float)), ("pixel_unit", str), ("name", str),
                      ("has_haadf", bool)):
        if not isinstance(header.get(key), kind):
            raise ValueError(f"{path.name}: the header field {key!r} is missing or has the wrong "
                             "type; the file is corrupt")
    return header


def _build(header: dict, get_array, path: Path) -> SpectrumImage:
    def tree_array(key: str) -> np.ndarray:
        if not key.startswith(_TREE):
            raise ValueError(f"{path.name}: malformed array reference {key!r}")
        return get_array(key)

    metadata = decode(header.get("metadata", {}), tree_array, "metadata")
    truth = decode(header.get("truth", {}), tree_array, "truth")
    for label, d in (("metadata", metadata), ("truth", truth)):
        if not isinstance(d, dict):
            raise ValueError(f"{path.name}: {label} is not a dict; the file is corrupt")
    return SpectrumImage(get_array("data"), get_array("energy"),
                         get_array("haadf") if header["has_haadf"] else None,
                         pixel_size=header["pixel_size"], pixel_unit=header["pixel_unit"],
                         metadata=metadata, truth=truth, valid=get_array("valid"),
                         name=header["name"])


def _corrupt(path: Path, exc: BaseException, what: str) -> ValueError:
    return ValueError(f"cannot read {path.name}: it is not a valid {what} file or it is truncated "
                      f"or corrupt ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------------------- .npz
def write_npz(si: SpectrumImage, path, *, overwrite: bool = True,
              compress: bool = False) -> None:
    """Write ``si`` to a ``.npz`` archive (atomically).

    Parameters
    ----------
    si : SpectrumImage
        What to write.
    path : str or os.PathLike
        Destination (``.npz``).
    overwrite : bool
        Replace an existing file (default) or raise ``FileExistsError``.
    compress : bool
        Use ``np.savez_compressed`` (smaller, slower).
    """
    header, arrays = _header_and_arrays(si)
    saver = np.savez_compressed if compress else np.savez
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        saver(fh, __header__=np.array(header), **arrays)


def read_npz(path) -> SpectrumImage:
    """Read a ``.npz`` archive written by :func:`write_npz` (never unpickles anything).

    Parameters
    ----------
    path : str or os.PathLike
        Source file.

    Returns
    -------
    SpectrumImage
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(f"refusing to read {path.name}: it is not a NumPy .npz archive but "
                             "holds pickled Python data (or garbage), which eelswidgets never "
                             "loads because unpickling can execute code") from exc
        raise _corrupt(path, exc, ".npz") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupt(path, exc, ".npz") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path.name} holds a single .npy array, not an eelswidgets .npz "
                         "archive; build a SpectrumImage from it with ew.SpectrumImage(...)")
    with archive:
        def get_array(key: str) -> np.ndarray:
            if key not in archive.files:
                raise ValueError(f"{path.name}: the array {key!r} is missing; the file is corrupt")
            try:
                return archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise ValueError(f"refusing to read {path.name}: its array {key!r} holds "
                                     "pickled Python objects, which eelswidgets never loads "
                                     "because unpickling can execute code") from exc
                raise _corrupt(path, exc, ".npz") from exc
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
                raise _corrupt(path, exc, ".npz") from exc

        if "__header__" not in archive.files:
            raise ValueError(f"{path.name} is a NumPy archive but not an eelswidgets file (no "
                             f"header; it holds {sorted(archive.files)[:8]}); build a "
                             "SpectrumImage from its arrays with ew.SpectrumImage(data, energy)")
        head = get_array("__header__")
        if head.dtype.kind != "U" or head.ndim != 0:
            raise ValueError(f"{path.name}: the eelswidgets header is malformed")
        header = _parse_header(head[()], path)
        return _build(header, get_array, path)


# ---------------------------------------------------------------------------- .h5
def _h5_put(group, key: str, arr: np.ndarray, compress: bool = False) -> None:
    """Store ``arr`` so that its exact dtype and shape come back (unicode via code points)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "U":
        stored = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype="<u4")
    else:
        stored = arr
    options = {"compression": "gzip", "shuffle": True} if compress and stored.size >= 1024 else {}
    ds = group.create_dataset(key, data=stored, **options)
    ds.attrs["dtype"] = arr.dtype.str
    ds.attrs["shape"] = np.asarray(arr.shape, dtype=np.int64)


def _h5_get(group, key: str, path: Path) -> np.ndarray:
    if key not in group:
        raise ValueError(f"{path.name}: the dataset {key!r} is missing; the file is corrupt")
    ds = group[key]
    try:
        dtype = np.dtype(str(ds.attrs["dtype"]))
        shape = tuple(int(n) for n in ds.attrs["shape"])
        raw = np.asarray(ds[()])
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise _corrupt(path, exc, "eelswidgets .h5") from exc
    if dtype.kind == "U":
        out = np.frombuffer(raw.astype("<u4").tobytes(), dtype=dtype).reshape(shape)
    else:
        out = raw.astype(dtype, copy=False).reshape(shape)
    return out.copy()


def write_h5(si: SpectrumImage, path, *, overwrite: bool = True,
             compress: bool = False) -> None:
    """Write ``si`` to an HDF5 ``.h5`` file (atomically; needs ``h5py``).

    Parameters
    ----------
    si : SpectrumImage
        What to write.
    path : str or os.PathLike
        Destination (``.h5``).
    overwrite : bool
        Replace an existing file (default) or raise ``FileExistsError``.
    compress : bool
        Compress the datasets with gzip (smaller, slower).
    """
    h5py = require("h5py", "writing .h5 files")
    header, arrays = _header_and_arrays(si)
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["header"] = header
        tree = f.create_group("tree")
        for key, arr in arrays.items():
            _h5_put(tree if key.startswith(_TREE) else f, key, arr, compress)


def read_h5(path) -> SpectrumImage:
    """Read an HDF5 file written by :func:`write_h5`.

    Parameters
    ----------
    path : str or os.PathLike
        Source file.

    Returns
    -------
    SpectrumImage
    """
    h5py = require("h5py", "reading .h5 files")
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _corrupt(path, exc, "HDF5") from exc
    with f:
        fmt = f.attrs.get("format")
        if fmt is None or "header" not in f.attrs:
            raise ValueError(f"{path.name} is an HDF5 file but not an eelswidgets file (no "
                             "'format' attribute); if it is a HyperSpy file, rename it to .hspy "
                             "and load it again")
        header = _parse_header(f.attrs["header"], path)
        if f.attrs.get("format_version") != header["version"]:
            raise ValueError(f"{path.name}: the format version attribute "
                             f"({f.attrs.get('format_version')!r}) does not match the header "
                             f"({header['version']}); the file is corrupt")

        def get_array(key: str) -> np.ndarray:
            if key.startswith(_TREE) and "tree" not in f:
                raise ValueError(f"{path.name}: the group 'tree' is missing; the file is corrupt")
            return _h5_get(f["tree"] if key.startswith(_TREE) else f, key, path)

        return _build(header, get_array, path)
