"""Read the datasets of an eelswidgets ``.h5`` file without trusting the file.

HDF5 can point outside the file it is in: a dataset's bytes can live in another file on disk
(*external storage*), a *virtual dataset* maps other files' datasets, and *external* or *soft
links* name other objects. Following any of them lets a crafted file return the content of an
arbitrary local file. The own format uses none of them, so they are refused:

- every member of the root group and of ``/tree`` must be a hard link (links are inspected
  with ``group.get(name, getlink=True)`` and never followed);
- a dataset must have neither external storage nor a virtual layout, and a plain numeric,
  bool or fixed-length bytes type (no object references, variable-length or compound types);
- its declared shape and dtype must fit the memory budget (:mod:`eelswidgets._limits`), and
  all of its data must be present in the file (every chunk written; contiguous storage
  inside the file) *before* the array is allocated.

The bytes are read straight into the final array (``read_direct``): no second copy.

A lazy read (:meth:`H5Members.lazy`) makes the same checks, with the memory budget applied to
one chunk, and returns a dask array over :class:`H5Source`, which **reopens the file for every
chunk** it reads: no HDF5 handle stays open between computations (the file can be closed,
moved aside or read from several processes or cluster workers, and the dask graph pickles),
at the cost of one open per chunk (well under a millisecond on a local disk). The file's size
and modification time are recorded when it is loaded; a chunk read from a file that changed
since is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .._lazy import mark_stored, scan_chunks
from .._limits import check_array_bytes
from ._codec import storable_dtype
from ._npz_members import corrupt

__all__ = ["H5Members", "H5Source", "check_links"]

_STORED_KINDS = "biufcS"  # HDF5 classes the own writer produces (unicode goes in as uint32)


def check_links(h5py, group, path: Path) -> None:
    """Refuse any member of ``group`` that is not a hard link (without following it)."""
    for name in group:
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.HardLink):
            continue
        if isinstance(link, h5py.ExternalLink):
            kind = f"an external link to {link.filename!r}:{link.path!r}"
        elif isinstance(link, h5py.SoftLink):
            kind = f"a soft link to {link.path!r}"
        else:
            kind = f"a link of type {type(link).__name__}"
        where = f"{group.name.rstrip('/')}/{name}"
        raise ValueError(f"refusing to read {path.name}: {where!r} is {kind}; eelswidgets files "
                         "hold no links, and following one could read another file")


class H5Members:
    """Checked access to the datasets of one group of an open eelswidgets ``.h5`` file.

    Parameters
    ----------
    h5py : module
        The h5py module.
    group : h5py.Group
        The group (its links are checked on construction).
    path : pathlib.Path
        The file (for messages and its size).
    budget : int
        Most bytes one array may claim.
    """

    def __init__(self, h5py, group, path: Path, budget: int):
        check_links(h5py, group, path)
        self.h5py = h5py
        self.group = group
        self.path = path
        self.budget = budget

    def _refuse(self, key: str, why: str) -> ValueError:
        return ValueError(f"refusing to read {self.path.name}: the dataset {key!r} {why}; "
                          "eelswidgets files never do this, so the file is corrupt or crafted")

    def _dataset(self, key: str):
        if key not in self.group:
            raise ValueError(f"{self.path.name}: the dataset {key!r} is missing; the file is "
                             "corrupt")
        ds = self.group[key]  # a hard link (checked), so this opens an object in this file
        if not isinstance(ds, self.h5py.Dataset):
            raise ValueError(f"{self.path.name}: {key!r} is a {type(ds).__name__}, not a "
                             "dataset; the file is corrupt")
        if ds.is_virtual:
            raise self._refuse(key, "is a virtual dataset (its data would come from other "
                                    "files)")
        if ds.external:
            files = sorted({str(entry[0]) for entry in ds.external})
            raise self._refuse(key, f"stores its bytes in external file(s) {files}")
        dt = ds.dtype
        if dt.kind not in _STORED_KINDS or dt.fields is not None or dt.subdtype is not None:
            raise self._refuse(key, f"has the HDF5 type {dt!r} (object references, "
                                    "variable-length and compound types are not read)")
        return ds

    def _declared(self, ds, key: str) -> tuple[np.dtype, tuple[int, ...]]:
        try:
            dtype = np.dtype(str(ds.attrs["dtype"]))
            shape_attr = np.asarray(ds.attrs["shape"])
            if shape_attr.ndim != 1 or shape_attr.dtype.kind not in "iu" or shape_attr.size > 32:
                raise ValueError(f"malformed shape attribute {shape_attr!r}")
            shape = tuple(int(n) for n in shape_attr)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise corrupt(self.path, exc, "eelswidgets .h5") from exc
        if not storable_dtype(dtype):
            raise ValueError(f"{self.path.name}: the dataset {key!r} declares the dtype {dtype}, "
                             "which eelswidgets never stores; the file is corrupt")
        return dtype, shape

    def _check_present(self, ds, key: str, nbytes: int) -> None:
        """All of the dataset's data must be in this file (no unwritten chunks, no truncation)."""
        where = f"cannot read {self.path.name}: the dataset {key!r}"
        if ds.chunks is not None:
            expected = math.prod(-(-n // c) for n, c in zip(ds.shape, ds.chunks, strict=True))
            written = ds.id.get_num_chunks()
            if written < expected:
                raise ValueError(f"{where} claims shape {ds.shape} but only {written} of its "
                                 f"{expected} chunks were ever written; the file is truncated "
                                 "or corrupt")
            return
        stored = ds.id.get_storage_size()
        if stored < nbytes:
            raise ValueError(f"{where} claims {nbytes} bytes but the file stores {stored}; the "
                             "file is truncated or corrupt")
        offset = ds.id.get_offset()
        if offset is not None and offset + stored > os.path.getsize(self.path):
            raise ValueError(f"{where} lies beyond the end of the file; the file is truncated "
                             "or corrupt")

    def lazy(self, key: str, chunks=None):
        """The 3-D dataset ``key`` as a dask array chunked ``(cy, cx, ne)``, after every check.

        The memory budget applies to one chunk (see :func:`eelswidgets._lazy.scan_chunks` for
        ``chunks``). The data is read chunk by chunk, reopening the file each time.

        Raises
        ------
        ValueError
            As :meth:`read`, or the dataset is not 3-D.
        """
        import dask.array as da

        ds = self._dataset(key)
        dtype, shape = self._declared(ds, key)
        if len(shape) != 3 or tuple(ds.shape) != shape or ds.dtype != dtype:
            raise ValueError(f"{self.path.name}: the dataset {key!r} stores shape {ds.shape} "
                             f"of dtype {ds.dtype} but declares {shape} of dtype {dtype} (a "
                             "cube has 3 dimensions); the file is corrupt")
        block = scan_chunks(shape, chunks)
        check_array_bytes(f"{key} (one chunk)", block, dtype, self.budget, self.path.name)
        self._check_present(ds, key, ds.size * ds.dtype.itemsize)
        source = H5Source(self.path, ds.name, shape, dtype)
        cube = da.from_array(source, chunks=block, asarray=True, lock=False,
                             meta=np.empty((0, 0, 0), dtype))
        return mark_stored(cube, source, (1, 1))  # a click reads its spectrum alone

    def read(self, key: str) -> np.ndarray:
        """Read the dataset ``key`` with its declared dtype and shape, after every check.

        Raises
        ------
        ValueError
            A missing, external, virtual or linked dataset, a refused type, a size over the
            budget, inconsistent attributes, or data that is not all in the file.
        """
        ds = self._dataset(key)
        dtype, shape = self._declared(ds, key)
        check_array_bytes(key, ds.shape, ds.dtype, self.budget, self.path.name)
        check_array_bytes(key, shape, dtype, self.budget, self.path.name)
        unicode = dtype.kind == "U"
        if unicode and (ds.dtype.kind != "u" or ds.dtype.itemsize != 4):
            raise ValueError(f"{self.path.name}: the dataset {key!r} declares dtype {dtype} "
                             f"but stores {ds.dtype}; the file is corrupt")
        per_item = dtype.itemsize // 4 if unicode else 1
        if ds.size != math.prod(shape) * per_item:
            raise ValueError(f"{self.path.name}: the dataset {key!r} holds {ds.size} values "
                             f"but declares shape {shape} of dtype {dtype}; the file is corrupt")
        self._check_present(ds, key, ds.size * ds.dtype.itemsize)
        out = np.empty(shape, dtype=dtype)
        dest = out.reshape(-1).view("<u4") if unicode else out
        try:
            if ds.shape == ():
                dest[()] = ds[()]
            elif ds.size:
                ds.read_direct(dest.reshape(ds.shape))
        except (TypeError, ValueError, OSError, KeyError) as exc:
            raise corrupt(self.path, exc, "eelswidgets .h5") from exc
        return out


class H5Source:
    """One dataset of an ``.h5`` file read by slices, reopening the file for every read.

    Parameters
    ----------
    path : pathlib.Path
        The file (checked by :class:`H5Members`).
    name : str
        The dataset's absolute name in the file.
    shape : tuple of int
        Its shape.
    dtype : numpy.dtype
        Its dtype.
    """

    def __init__(self, path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path = Path(os.path.abspath(path))
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_size, st.st_mtime_ns

    def __getitem__(self, index) -> np.ndarray:
        import h5py

        if self._file_stamp() != self._stamp:
            raise ValueError(f"{self.path.name} changed after it was loaded lazily; load it "
                             "again (ew.load(path, lazy=True))")
        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][index], dtype=self.dtype)
