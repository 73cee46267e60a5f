"""Check a zarr (v2) directory store before zarr or rosettasciio opens it.

A zarr store is a folder of JSON metadata (``.zgroup``, ``.zattrs``, ``.zarray``) and chunk
files. Opening it trusts that metadata: an array's *filters* can name numcodecs' ``pickle``
codec (reading it unpickles, which can execute code), an object dtype needs such a codec, a
symbolic link can point a chunk at any file on the machine, and a tiny store can declare an
array of petabytes. Before a store is opened, every file in it is checked here:

- no symbolic links anywhere in the folder (found without following them);
- every metadata file is bounded JSON (:func:`eelswidgets._limits.check_json_bytes`,
  :mod:`eelswidgets._safe_json`);
- every array is zarr format 2 with a plain numeric, bool or fixed-width string dtype (no
  object, structured or void dtypes), a compressor and filters from a short list of pure
  numeric codecs (no ``pickle``, ``json2``, ``msgpack2``, ``vlen-*`` or any other), a declared
  shape and chunk shape of non-negative integers;
- one *chunk* of every array fits the memory budget (a lazy read never holds more than a few
  chunks), and arrays read whole are checked whole by the caller;
- for the own format, every chunk the shape implies is present on disk (a store whose declared
  shape was inflated after writing is refused, as for ``.h5``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _safe_json as safe_json
from .._limits import check_array_bytes, check_json_bytes
from ._codec import storable_dtype

__all__ = ["ZarrArrayInfo", "check_store"]

_META_FILES = {".zarray", ".zattrs", ".zgroup", ".zmetadata"}
# pure numeric codecs: they map bytes to bytes and construct nothing
_COMPRESSORS = {"blosc", "zlib", "gzip", "bz2", "lzma", "zstd", "lz4"}
_FILTERS = {"delta", "fixedscaleoffset", "quantize", "bitround", "shuffle", "packbits"}
_MAX_DIMS = 32
_MAX_CHUNKS = 1 << 24  # chunks of one array (each is a task in a dask graph)
_CHUNK_KEY = re.compile(r"^\d+([./]\d+)*$")


@dataclass(frozen=True)
class ZarrArrayInfo:
    """What the ``.zarray`` of one array declares (after the checks)."""

    name: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    n_chunks: int
    written: int


def _refuse(path: Path, what: str) -> ValueError:
    return ValueError(f"refusing to read {path.name}: {what}; the store is corrupt or crafted")


def _json(file: Path, store: Path, budget: int):
    size = file.stat().st_size
    if size > max(1, budget // 32):  # before reading it
        raise ValueError(f"{store.name}: the metadata file {file.relative_to(store)} has {size} "
                         "bytes, more than JSON may take of the memory budget; if the store is "
                         "genuine, raise the budget with ew.load(path, max_bytes=...)")
    text = file.read_bytes().decode("utf-8", errors="strict")
    check_json_bytes(str(file.relative_to(store)), text, budget, store.name)
    try:
        return safe_json.loads(text)
    except ValueError as exc:
        raise _refuse(store, f"{file.relative_to(store)} is not valid JSON or nests too deeply "
                             f"({exc})") from exc


def _ints(value, label: str, store: Path, low: int) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > _MAX_DIMS or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= low for n in value):
        raise _refuse(store, f"{label} is {value!r}, not a list of integers >= {low}")
    return tuple(value)


def _codec_id(spec, allowed: set[str], label: str, store: Path) -> None:
    if not isinstance(spec, dict) or spec.get("id") not in allowed:
        codec = spec.get("id") if isinstance(spec, dict) else spec
        raise _refuse(store, f"{label} uses the codec {codec!r}; only the numeric codecs "
                             f"{sorted(allowed)} are read (never pickle or object codecs)")


def _array_info(meta, name: str, files: list[str], store: Path, budget: int) -> ZarrArrayInfo:
    where = f"the array {name or '/'!r}"
    if not isinstance(meta, dict) or meta.get("zarr_format") != 2:
        raise _refuse(store, f"{where} is not a zarr format 2 array")
    dtype_spec = meta.get("dtype")
    if not isinstance(dtype_spec, str):
        raise _refuse(store, f"{where} has the dtype {dtype_spec!r} (structured dtypes are not "
                             "read)")
    try:
        dtype = np.dtype(dtype_spec)
    except TypeError as exc:
        raise _refuse(store, f"{where} has the unknown dtype {dtype_spec!r}") from exc
    if not storable_dtype(dtype) or dtype.hasobject:
        raise _refuse(store, f"{where} has the dtype {dtype} (object arrays need a pickle or "
                             "object codec and are never read)")
    shape = _ints(meta.get("shape"), f"the shape of {where}", store, 0)
    chunks = _ints(meta.get("chunks"), f"the chunk shape of {where}", store, 1)
    if len(chunks) != len(shape):
        raise _refuse(store, f"{where} declares shape {shape} but chunks {chunks}")
    if meta.get("compressor") is not None:
        _codec_id(meta["compressor"], _COMPRESSORS, where, store)
    filters = meta.get("filters")
    if filters is not None:
        if not isinstance(filters, list):
            raise _refuse(store, f"{where} has malformed filters {filters!r}")
        for f in filters:
            _codec_id(f, _FILTERS, where, store)
    if meta.get("order", "C") not in ("C", "F"):
        raise _refuse(store, f"{where} has the memory order {meta.get('order')!r}")
    check_array_bytes(f"{name} (one chunk)", chunks, dtype, budget, store.name)  # decoded whole
    grid = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]
    n_chunks = math.prod(grid)
    if n_chunks > _MAX_CHUNKS or any(g > _MAX_CHUNKS for g in grid):
        raise _refuse(store, f"{where} declares shape {shape} in {n_chunks} chunks of "
                             f"{chunks}, more than the {_MAX_CHUNKS} chunks read lazily")
    written = sum(1 for f in files if _CHUNK_KEY.match(f))
    return ZarrArrayInfo(name=name, shape=shape, chunks=chunks, dtype=dtype,
                         n_chunks=n_chunks, written=written)


def check_store(path: Path, budget: int, *, complete: bool = False
                ) -> tuple[dict[str, ZarrArrayInfo], dict[str, dict]]:
    """Check every file of the zarr directory store ``path`` (see the module docstring).

    Parameters
    ----------
    path : pathlib.Path
        The store's folder.
    budget : int
        Most bytes one chunk may claim (and a 32nd of it for one metadata file).
    complete : bool
        Also require every chunk of every array to be present (the own format writes all).

    Returns
    -------
    arrays : dict
        ``{name: ZarrArrayInfo}``, names relative to the store with ``/`` (root ``""``).
    attrs : dict
        ``{name: dict}`` of the parsed ``.zattrs`` of each group and array.

    Raises
    ------
    ValueError
        A symbolic link, malformed or oversized metadata, a refused dtype or codec, a chunk
        over the budget, or (``complete``) missing chunks.
    """
    if path.is_symlink():
        raise _refuse(path, "the store is a symbolic link")
    arrays: dict[str, ZarrArrayInfo] = {}
    attrs: dict[str, dict] = {}
    for root, dirs, files in os.walk(path, followlinks=False):
        here = Path(root)
        rel = here.relative_to(path).as_posix()
        rel = "" if rel == "." else rel
        for entry in (*dirs, *files):
            if (here / entry).is_symlink():
                raise _refuse(path, f"{(here / entry).relative_to(path)} is a symbolic link "
                                    "(eelswidgets stores hold none; following one could read "
                                    "another file)")
        chunk_files = list(files)
        for d in dirs:  # chunks of a nested ("/"-separated) store live in sub-folders
            if _CHUNK_KEY.match(d):
                chunk_files += [f"{d}/{sub}" for sub in _walk_names(here / d, path)]
        if ".zattrs" in files:
            found = _json(here / ".zattrs", path, budget)
            if not isinstance(found, dict):
                raise _refuse(path, f"{rel or '/'}/.zattrs is not a JSON object")
            attrs[rel] = found
        if ".zarray" in files:
            meta = _json(here / ".zarray", path, budget)
            arrays[rel] = _array_info(meta, rel, chunk_files, path, budget)
            dirs[:] = []  # the chunk folders were counted above
    if complete:
        for info in arrays.values():
            if info.written < info.n_chunks:
                raise ValueError(f"cannot read {path.name}: the array {info.name!r} claims "
                                 f"shape {info.shape} in {info.n_chunks} chunks but only "
                                 f"{info.written} were written; the store is truncated or "
                                 "corrupt")
    return arrays, attrs


def _walk_names(folder: Path, store: Path) -> list[str]:
    names = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for entry in (*dirs, *files):
            if (here / entry).is_symlink():
                raise _refuse(store, f"{(here / entry).relative_to(store)} is a symbolic link")
        names += [(here / f).relative_to(folder).as_posix() for f in files]
    return names
