"""The project's own file format: ``.npz`` archive, HDF5 ``.h5`` file or zarr ``.zarr`` store.

The zarr store is chunked, for large data read lazily. All three hold the same content and
round-trip a :class:`~eelswidgets.SpectrumImage` exactly:

- arrays ``data`` (float32), ``energy`` (float64), ``valid`` (bool) and ``haadf`` (if any);
- a JSON header with the format name (``"eelswidgets.SpectrumImage"``), the format version,
  pixel size and unit, name, ``metadata`` and ``truth``. Arrays and NumPy scalars inside
  ``metadata``/``truth`` are stored as separate arrays and referenced from the header, so that
  their dtype and shape come back unchanged (see :mod:`eelswidgets.io._codec`).

In ``.npz`` the header is the unicode array ``__header__`` and the tree arrays are ``tree_<n>``;
in ``.h5`` the header is the root attribute ``header`` (with ``format``/``format_version``
attributes beside it) and the tree arrays live in the group ``/tree``. Files are written
atomically. Reading trusts nothing in the file: a pickled (object) array is refused and nothing
in it is executed; every array's claimed shape and dtype are checked against the memory budget
(:mod:`eelswidgets._limits`) before it is allocated, and each array is read straight into its
final form (loading takes about one cube of memory); the header JSON is parsed with bounded
nesting (:mod:`eelswidgets._safe_json`); HDF5 links, external storage and virtual datasets are
refused (:mod:`eelswidgets.io._h5_members`).

In ``.zarr`` (zarr format 2, a folder) the root attributes hold ``format``, ``format_version``
and ``header``; ``data`` is chunked over the scan with whole spectra per chunk, and the tree
arrays live in the group ``tree`` (fixed-width strings are stored as such: zarr needs no
object codec for them). The store is written to a temporary folder beside the target and
renamed into place; an existing target is replaced only when it is an eelswidgets store.
Before zarr opens a store, every file in it is checked (:mod:`eelswidgets.io._zarr_members`):
no symbolic links, bounded JSON, no object dtypes or pickle codecs, each chunk within the
memory budget, every chunk present.

**Lazy reading** (``lazy=True``, ``.h5`` and ``.zarr``): the cube comes back as a dask array;
the memory budget then applies to one chunk rather than to the whole cube (the small arrays
are still read whole and checked whole). A lazy ``.h5`` cube reopens the file for every chunk
(:class:`eelswidgets.io._h5_members.H5Source`); a lazy ``.zarr`` cube reads the store's chunk
files. ``.npz`` archives cannot be read lazily (a member of a zip file has no chunks).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import _safe_json as safe_json
from .._lazy import (
    TARGET_CHUNK_BYTES,
    chunks_over,
    is_lazy_array,
    mark_stored,
    scan_chunks,
    storage_chunks,
)
from .._limits import check_array_bytes, check_json_bytes, resolve_max_bytes
from ..spectrum_image import SpectrumImage
from ._atomic import atomic_path, atomic_write
from ._codec import decode, encode, storable_dtype
from ._h5_members import H5Members
from ._npz_members import NpzMembers, corrupt
from ._optional import require
from ._zarr_members import check_store

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_h5", "read_npz", "read_zarr", "write_h5",
           "write_npz", "write_zarr"]

FORMAT_NAME = "eelswidgets.SpectrumImage"
FORMAT_VERSION = 1

_FIELDS = ("data", "energy", "valid", "haadf")
_FIELD_KINDS = {"data": ("biuf", "numbers"), "energy": ("biuf", "numbers"),
                "haadf": ("biuf", "numbers"), "valid": ("b", "booleans")}
_TREE = "tree_"
_MAX_DEPTH = 64  # JSON nesting allowed in the header (safe_json's default)


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
    text = json.dumps(header)
    depth = safe_json.nesting_depth(text)
    if depth > _MAX_DEPTH:
        raise ValueError(f"metadata/truth nest too deeply to be saved: the file header would be "
                         f"{depth} levels deep, and files allow {_MAX_DEPTH} (tuples and dicts "
                         "with non-string keys take two levels each); flatten them")
    return text, arrays


def _parse_header(text: Any, path: Path, budget: int) -> dict:
    text = check_json_bytes("header", str(text), budget, path.name)
    try:
        header = safe_json.loads(text, max_depth=_MAX_DEPTH)
    except ValueError as exc:
        raise ValueError(f"{path.name}: the eelswidgets header is not valid JSON or too large "
                         f"or deep ({exc}); the file is corrupt") from exc
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
        arr = get_array(key)
        if not storable_dtype(arr.dtype):
            raise ValueError(f"{path.name}: the array {key!r} has dtype {arr.dtype}, which "
                             "eelswidgets never stores; the file is corrupt")
        return arr

    def field(key: str) -> np.ndarray:
        arr = get_array(key)
        kinds, what = _FIELD_KINDS[key]
        if arr.dtype.kind not in kinds:
            raise ValueError(f"{path.name}: the array {key!r} has dtype {arr.dtype}, but it must "
                             f"hold {what}; the file is corrupt")
        return arr

    metadata = decode(header.get("metadata", {}), tree_array, "metadata")
    truth = decode(header.get("truth", {}), tree_array, "truth")
    for label, d in (("metadata", metadata), ("truth", truth)):
        if not isinstance(d, dict):
            raise ValueError(f"{path.name}: {label} is not a dict; the file is corrupt")
    return SpectrumImage(field("data"), field("energy"),
                         field("haadf") if header["has_haadf"] else None,
                         pixel_size=header["pixel_size"], pixel_unit=header["pixel_unit"],
                         metadata=metadata, truth=truth, valid=field("valid"),
                         name=header["name"])


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
    arrays = {key: np.asarray(arr) for key, arr in arrays.items()}  # computes a lazy cube
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        saver(fh, __header__=np.array(header), **arrays)


def read_npz(path, *, max_bytes: int | None = None) -> SpectrumImage:
    """Read a ``.npz`` archive written by :func:`write_npz` (never unpickles anything).

    Every array's claimed shape and dtype are checked against the memory budget before it is
    allocated, and each is read straight into its final array (see
    :mod:`eelswidgets.io._npz_members`).

    Parameters
    ----------
    path : str or os.PathLike
        Source file.
    max_bytes : int, optional
        Memory budget for one array (see :mod:`eelswidgets._limits`).

    Returns
    -------
    SpectrumImage
    """
    path = Path(path)
    budget = resolve_max_bytes(max_bytes)
    with NpzMembers(path, budget) as archive:
        if "__header__" not in archive:
            raise ValueError(f"{path.name} is a NumPy archive but not an eelswidgets file (no "
                             f"header; it holds {sorted(archive.files)[:8]}); build a "
                             "SpectrumImage from its arrays with ew.SpectrumImage(data, energy)")
        head = archive.read("__header__")
        if head.dtype.kind != "U" or head.ndim != 0:
            raise ValueError(f"{path.name}: the eelswidgets header is malformed")
        header = _parse_header(head[()], path, budget)
        return _build(header, archive.read, path)


# ---------------------------------------------------------------------------- .h5
def _h5_put(group, key: str, arr: np.ndarray, compress: bool = False) -> None:
    """Store ``arr`` so that its exact dtype and shape come back (unicode via code points)."""
    if not is_lazy_array(arr):
        arr = np.asarray(arr)
    if arr.dtype.kind == "U":
        stored = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype="<u4")
    else:
        stored = arr
    options = {"compression": "gzip", "shuffle": True} if compress and stored.size >= 1024 else {}
    if is_lazy_array(arr):  # written chunk by chunk
        ds = group.create_dataset(key, shape=arr.shape, dtype=arr.dtype, **options)
        arr.store(ds, lock=True)
    else:
        ds = group.create_dataset(key, data=stored, **options)
    ds.attrs["dtype"] = arr.dtype.str
    ds.attrs["shape"] = np.asarray(arr.shape, dtype=np.int64)


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


def read_h5(path, *, max_bytes: int | None = None, lazy: bool = False,
            chunks=None) -> SpectrumImage:
    """Read an HDF5 file written by :func:`write_h5`.

    Links, external storage and virtual datasets are refused and every dataset is checked
    before it is allocated (see :mod:`eelswidgets.io._h5_members`).

    Parameters
    ----------
    path : str or os.PathLike
        Source file.
    max_bytes : int, optional
        Memory budget for one array (see :mod:`eelswidgets._limits`); for ``lazy``, for one
        chunk of the cube.
    lazy : bool
        Return a lazy SpectrumImage whose cube is read chunk by chunk (the file is reopened
        for every chunk; see the module docstring).
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per chunk for ``lazy`` (default about 64 MiB per chunk).

    Returns
    -------
    SpectrumImage
    """
    h5py = require("h5py", "reading .h5 files")
    path = Path(path)
    budget = resolve_max_bytes(max_bytes)
    try:
        f = h5py.File(path, "r", driver=None)
    except OSError as exc:
        raise corrupt(path, exc, "HDF5") from exc
    with f:
        fmt = f.attrs.get("format")
        if fmt is None or "header" not in f.attrs:
            raise ValueError(f"{path.name} is an HDF5 file but not an eelswidgets file (no "
                             "'format' attribute); if it is a HyperSpy file, rename it to .hspy "
                             "and load it again")
        header = _parse_header(f.attrs["header"], path, budget)
        if f.attrs.get("format_version") != header["version"]:
            raise ValueError(f"{path.name}: the format version attribute "
                             f"({f.attrs.get('format_version')!r}) does not match the header "
                             f"({header['version']}); the file is corrupt")
        root = H5Members(h5py, f, path, budget)
        tree = None

        def get_array(key: str) -> np.ndarray:
            nonlocal tree
            if not key.startswith(_TREE):
                return root.lazy(key, chunks) if lazy and key == "data" else root.read(key)
            if tree is None:
                if "tree" not in f or not isinstance(f["tree"], h5py.Group):
                    raise ValueError(f"{path.name}: the group 'tree' is missing; the file is "
                                     "corrupt")
                tree = H5Members(h5py, f["tree"], path, budget)
            return tree.read(key)

        return _build(header, get_array, path)


# ---------------------------------------------------------------------------- .zarr
def _replace_store(tmp: Path, target: Path) -> None:
    """Move the finished store ``tmp`` to ``target``, replacing an eelswidgets store there."""
    if not target.exists():
        os.rename(tmp, target)
        return
    trash = target.with_name(f".{target.name}-{secrets.token_hex(6)}.old")
    os.rename(target, trash)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(trash, target)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _check_store_target(path, overwrite: bool) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(os.fspath(path)).expanduser()
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(target)!r}: the directory "
                                f"{str(target.parent)!r} does not exist; create it first")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ValueError(f"{str(target)!r} exists and is not a zarr store folder; choose "
                         "another name")
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{str(target)!r} exists; pass overwrite=True to replace it")
        attrs = target / ".zattrs"
        try:
            own = json.loads(attrs.read_text()).get("format") == FORMAT_NAME
        except (OSError, ValueError, AttributeError):
            own = False
        if not own:
            raise ValueError(f"{str(target)!r} is a folder that is not an eelswidgets .zarr "
                             "store and would not be replaced; choose another name")
    return target


def write_zarr(si: SpectrumImage, path, *, overwrite: bool = True, compress: bool = False,
               chunks=None) -> None:
    """Write ``si`` to a zarr ``.zarr`` directory store (chunked over the scan; needs zarr).

    A lazy cube is written chunk by chunk (never whole in memory). The store is written to a
    temporary folder beside ``path`` and renamed into place.

    Parameters
    ----------
    si : SpectrumImage
        What to write.
    path : str or os.PathLike
        Destination folder (``.zarr``).
    overwrite : bool
        Replace an existing eelswidgets store (default) or raise ``FileExistsError``; any
        other folder is never replaced.
    compress : bool
        Compress the chunks (Blosc zstd with byte shuffle): smaller, slower.
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per storage chunk (the unit a read decompresses; a click on a lazily loaded
        cube reads one). Default (None or "auto"): about 1 MiB of whole spectra
        (:func:`eelswidgets._lazy.storage_chunks`), dividing a lazy cube's chunks when it
        can. A lazy cube whose chunks are not multiples of them is rechunked for writing.
        ``ew.load(path, lazy=True)`` then groups them into dask chunks of about 64 MiB.
    """
    zarr = require("zarr", "writing .zarr stores")
    header, arrays = _header_and_arrays(si)
    target = _check_store_target(path, overwrite)
    auto = chunks is None or (isinstance(chunks, str) and chunks == "auto")
    block = storage_chunks(si.shape, si.chunks) if auto else scan_chunks(si.shape, chunks)
    compressor = None
    if compress:
        from numcodecs import Blosc

        compressor = Blosc(cname="zstd", clevel=3, shuffle=Blosc.SHUFFLE)
    tmp = target.with_name(f".{target.name}-{secrets.token_hex(6)}.tmp")
    try:
        root = zarr.open_group(zarr.DirectoryStore(str(tmp)), mode="w-")
        tree = root.create_group("tree")
        for key, arr in arrays.items():
            group, whole = (tree, True) if key.startswith(_TREE) else (root, key != "data")
            out = group.create_dataset(key, shape=arr.shape, dtype=arr.dtype,
                                       chunks=tuple(max(1, n) for n in arr.shape)
                                       if whole else block,
                                       compressor=compressor if not whole else None,
                                       write_empty_chunks=True)
            if is_lazy_array(arr):  # dask chunks made of whole storage chunks: no lock
                arr.rechunk(chunks_over(block, si.shape, near=si.chunks)).store(out, lock=False)
            else:
                out[...] = np.asarray(arr)
        root.attrs.update({"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                           "header": header})
        _replace_store(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_zarr(path, *, max_bytes: int | None = None, lazy: bool = False,
              chunks=None) -> SpectrumImage:
    """Read a ``.zarr`` store written by :func:`write_zarr` (checked before zarr opens it).

    Parameters
    ----------
    path : str or os.PathLike
        The store's folder.
    max_bytes : int, optional
        Memory budget (see :mod:`eelswidgets._limits`): for one chunk, and for each array read
        whole (the cube unless ``lazy``).
    lazy : bool
        Return a lazy SpectrumImage over the store's chunks.
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per chunk for ``lazy``. Default: whole storage chunks grouped into chunks of
        about 64 MiB (:func:`eelswidgets._lazy.chunks_over`); a spectrum is read from its
        storage chunk alone (:attr:`SpectrumImage.storage`).

    Returns
    -------
    SpectrumImage
    """
    zarr = require("zarr", "reading .zarr stores")
    path = Path(path)
    budget = resolve_max_bytes(max_bytes)
    infos, attrs = check_store(path, budget, complete=True)
    root_attrs = attrs.get("", {})
    if root_attrs.get("format") != FORMAT_NAME or "header" not in root_attrs:
        raise ValueError(f"{path.name} is a zarr store but not an eelswidgets store (no "
                         "'format' attribute); if it is a HyperSpy .zspy store, rename it to "
                         ".zspy and load it again")
    header = _parse_header(root_attrs["header"], path, budget)
    if root_attrs.get("format_version") != header["version"]:
        raise ValueError(f"{path.name}: the format version attribute "
                         f"({root_attrs.get('format_version')!r}) does not match the header "
                         f"({header['version']}); the store is corrupt")
    group = zarr.open_group(zarr.DirectoryStore(str(path)), mode="r")

    def get_array(key: str):
        name = f"tree/{key}" if key.startswith(_TREE) else key
        info = infos.get(name)
        if info is None:
            raise ValueError(f"{path.name}: the array {key!r} is missing; the store is corrupt")
        if lazy and key == "data":
            import dask.array as da

            stored = group[name]
            if stored.ndim != 3:
                return da.from_zarr(stored)
            block = (chunks_over(stored.chunks, stored.shape,
                                 target=min(TARGET_CHUNK_BYTES, budget)) if chunks is None
                     else scan_chunks(stored.shape, chunks))
            check_array_bytes(f"{key} (one chunk)", block, info.dtype, budget, path.name)
            return mark_stored(da.from_zarr(stored, chunks=block), stored, stored.chunks[:2])
        check_array_bytes(key, info.shape, info.dtype, budget, path.name)
        return _read_zarr_whole(group[name], info.dtype, info.shape)

    return _build(header, get_array, path)


_SLAB_BYTES = 16 * 2**20  # one eager read from a .zarr store


def _read_zarr_whole(stored, dtype, shape) -> np.ndarray:
    """Read a zarr array into one new array, a slab of storage chunks at a time.

    ``stored[...]`` fetches every chunk's bytes before decoding any (zarr 2 batches its
    store reads), which for an uncompressed store doubles the peak; slabs of about 16 MiB
    (at least one row of storage chunks) written into the result keep it near one array.
    """
    out = np.empty(shape, dtype=dtype)
    if out.ndim == 0 or out.size == 0:
        out[...] = stored[...]
        return out
    rows = int(stored.chunks[0])
    row_bytes = max(1, out.nbytes // max(1, out.shape[0]))
    step = max(rows, (_SLAB_BYTES // row_bytes) // rows * rows)
    for start in range(0, out.shape[0], step):
        sl = slice(start, min(start + step, out.shape[0]))
        stored.get_basic_selection(sl, out=out[sl])
    return out
