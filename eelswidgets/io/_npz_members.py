"""Read the arrays of a ``.npz`` archive one member at a time, checking every claim first.

``np.load`` trusts the ``.npy`` header inside each zip member: it allocates the shape the
header claims before it reads a byte, so a tiny deflated member can claim gigabytes. Here the
header is read first and the array is only allocated when

- its dtype can be read without pickle (object arrays are refused, nothing is unpickled);
- its claimed size fits the memory budget (:mod:`eelswidgets._limits`);
- the zip directory's uncompressed size of the member equals header + claimed data, so the
  inflated stream can never grow beyond what was checked (zip bombs, truncated members).

The bytes are then read straight into the final array, in blocks: no second copy.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .._limits import check_array_bytes

__all__ = ["NpzMembers"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
_BLOCK = 1 << 20  # bytes read from the inflater at a time (the only temporary)
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError)


def corrupt(path: Path, exc: BaseException, what: str) -> ValueError:
    """The error for a file that cannot be parsed (names the file and the cause)."""
    return ValueError(f"cannot read {path.name}: it is not a valid {what} file or it is truncated "
                      f"or corrupt ({type(exc).__name__}: {exc})")


def _refuse_pickle(path: Path, key: str) -> ValueError:
    return ValueError(f"refusing to read {path.name}: its array {key!r} holds pickled Python "
                      "objects, which eelswidgets never loads because unpickling can execute "
                      "code")


class NpzMembers:
    """The ``.npy`` members of a zip archive, read under a memory budget.

    Parameters
    ----------
    path : pathlib.Path
        The archive.
    budget : int
        Most bytes one array may claim.

    Raises
    ------
    ValueError
        The file is a single ``.npy`` array, a pickle or garbage, or a damaged zip archive.
    """

    def __init__(self, path: Path, budget: int):
        self.path = path
        self.budget = budget
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head.startswith(_NPY_MAGIC):
            raise ValueError(f"{path.name} holds a single .npy array, not an eelswidgets .npz "
                             "archive; build a SpectrumImage from it with ew.SpectrumImage(...)")
        if not head.startswith(_ZIP_MAGICS):
            raise ValueError(f"refusing to read {path.name}: it is not a NumPy .npz archive but "
                             "holds pickled Python data (or garbage), which eelswidgets never "
                             "loads because unpickling can execute code")
        try:
            self._zip = zipfile.ZipFile(path)
        except (*_READ_ERRORS, ValueError) as exc:
            raise corrupt(path, exc, ".npz") from exc
        self.files = [n.removesuffix(".npy") for n in self._zip.namelist()]

    def __enter__(self) -> NpzMembers:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def __contains__(self, key: str) -> bool:
        return key in self.files

    def read(self, key: str) -> np.ndarray:
        """Read the member ``key`` (without ``.npy``) after checking its claims.

        Raises
        ------
        ValueError
            Missing member, pickled (object) array, size over budget, inconsistent or
            truncated member.
        """
        if key not in self.files:
            raise ValueError(f"{self.path.name}: the array {key!r} is missing; the file is "
                             "corrupt")
        name = key + ".npy" if key + ".npy" in self._zip.NameToInfo else key
        info = self._zip.getinfo(name)
        try:
            with self._zip.open(info) as fh:
                return self._read_npy(fh, key, info.file_size)
        except _READ_ERRORS as exc:
            raise corrupt(self.path, exc, ".npz") from exc

    def _read_npy(self, fh, key: str, member_size: int) -> np.ndarray:
        try:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise corrupt(self.path, exc, ".npz") from exc
        if dtype.hasobject:
            raise _refuse_pickle(self.path, key)
        nbytes = check_array_bytes(key, shape, dtype, self.budget, self.path.name)
        present = member_size - fh.tell()
        if present != nbytes:
            raise ValueError(f"cannot read {self.path.name}: the array {key!r} claims shape "
                             f"{tuple(shape)} of dtype {dtype} ({nbytes} bytes) but its member "
                             f"holds {present} bytes; the file is truncated or corrupt")
        flat = np.empty(math.prod(shape), dtype=dtype)
        if nbytes:
            raw = memoryview(flat.view(np.uint8))
            pos = 0
            while pos < nbytes:
                got = fh.readinto(raw[pos:pos + _BLOCK])
                if not got:
                    raise EOFError(f"the array {key!r} ends after {pos} of {nbytes} bytes")
                pos += got
        if fortran:
            return flat.reshape(tuple(shape)[::-1]).T
        return flat.reshape(shape)
