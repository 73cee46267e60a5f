"""``load`` and ``save``: choose the reader or writer from the file extension."""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from .._limits import resolve_max_bytes
from ..spectrum_image import SpectrumImage
from . import native
from .rosetta import ROSETTA_FORMATS, read_rosetta

__all__ = ["NATIVE_FORMATS", "READ_FORMATS", "STORE_FORMATS", "load", "save"]

NATIVE_FORMATS = (".npz", ".h5", ".hdf5", ".zarr")
READ_FORMATS = NATIVE_FORMATS + tuple(ROSETTA_FORMATS)
STORE_FORMATS = (".zarr", ".zspy")  # directory stores, not files


def _as_path(path) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(os.fspath(path)).expanduser()


def _unknown(path: Path, formats, action: str) -> ValueError:
    ext = path.suffix or "(none)"
    return ValueError(f"cannot {action} {path.name!r}: unknown file extension {ext}; "
                      f"supported: {', '.join(formats)}")


def _check_readable(path: Path, formats) -> None:
    if path.suffix.lower() not in formats:
        raise _unknown(path, formats, "load")
    if path.suffix.lower() in STORE_FORMATS:
        if not path.exists():
            raise FileNotFoundError(f"no such store: {str(path)!r}")
        if not path.is_dir():
            raise ValueError(f"{path.name} is a file, but a {path.suffix} store is a folder")
        return
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory, not a file")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")


def load(path, *, signal: int | None = None, haadf=None, max_bytes: int | None = None,
         lazy: bool = False, chunks=None) -> SpectrumImage:
    """Read a spectrum image from a file; the format follows from the extension.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz``/``.h5``/``.zarr`` (the project's own format, written by :func:`save`), or,
        through rosettasciio (extra ``io``), ``.hspy``, ``.zspy``, ``.dm3``, ``.dm4``,
        ``.emd``, ``.msa``.
    signal : int, optional
        For files with several signals: index of the one to load as the spectrum image
        (default: the spectrum image with the most pixels; see :mod:`eelswidgets.io.rosetta`).
    haadf : int, bool, str, os.PathLike or array_like, optional
        For files with several signals: index of the 2D image to attach as HAADF, ``False``
        for none, None (default) for the first 2D image of matching shape. A path to another
        file (the HAADF image saved separately) or an array attaches that image instead,
        block-averaged when it is sampled an integer number of times per spectrum-image pixel
        (see :meth:`SpectrumImage.attach_haadf`, which also says what orientation is assumed).
    max_bytes : int, optional
        Memory budget for one array of the file, in bytes. Every array's declared shape and
        dtype are checked against it before anything is allocated. Default: the environment
        variable ``EELSWIDGETS_MAX_BYTES``, else half of the physical memory. With ``lazy``
        it applies to one chunk of the cube (and to every array read whole).
    lazy : bool
        Return a lazy SpectrumImage whose cube is a dask array read chunk by chunk (see
        :class:`~eelswidgets.SpectrumImage`): for ``.h5``, ``.zarr`` and the rosettasciio
        formats with a lazy reader (``.hspy``, ``.zspy``, ``.dm3``, ``.dm4``, ``.emd``).
        ``.npz`` and ``.msa`` cannot be read lazily (a ``ValueError`` says so). Pixels of a
        lazily read microscope file are all taken as valid (an all-NaN pixel is reported when
        its chunk is computed).
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per chunk of a lazy cube (default: the file's chunks when they keep whole
        spectra, else about 64 MiB per chunk).

    Returns
    -------
    SpectrumImage
        Energies in eV. The file is only read, never changed.

    Raises
    ------
    FileNotFoundError
        No such file.
    IsADirectoryError
        ``path`` is a directory.
    ValueError
        Unknown extension; a file that is truncated, corrupt, of a newer format version, holds
        pickled objects, links or external storage, or holds no spectrum image; an array
        larger than ``max_bytes`` (the message says how to raise the budget); a HAADF
        image whose shape is not an integer multiple of the spectrum image's (the
        message names both shapes).
    ImportError
        A rosettasciio format without the ``io`` extra installed.

    Examples
    --------
    >>> import eelswidgets as ew
    >>> si = ew.load("map.dm4")  # doctest: +SKIP
    >>> si = ew.load("SI.dm3", haadf="HAADF.dm3")  # doctest: +SKIP
    """
    path = _as_path(path)
    ext = path.suffix.lower()
    _check_readable(path, READ_FORMATS)
    budget = resolve_max_bytes(max_bytes)
    if chunks is not None and not lazy:
        raise TypeError("chunks= applies to lazy loading; pass lazy=True as well")
    if lazy is not False and lazy is not True:
        raise TypeError(f"lazy must be True or False, got {lazy!r}")
    if lazy and ext == ".npz":
        raise ValueError(f"{path.name}: .npz archives cannot be read lazily (a member of a zip "
                         "file has no chunks); load it in memory, or convert it once with "
                         "ew.load(path).save('name.zarr') and load that lazily")
    if haadf is not None and not isinstance(haadf, (bool, numbers.Integral)):
        if isinstance(haadf, (str, os.PathLike)):
            _check_readable(_as_path(haadf), READ_FORMATS)   # before reading the cube
        si = load(path, signal=signal, haadf=None if ext in NATIVE_FORMATS else False,
                  max_bytes=budget, lazy=lazy, chunks=chunks)
        return si.attach_haadf(haadf)
    if ext in NATIVE_FORMATS:
        if signal is not None or haadf is not None:
            raise TypeError(f"signal= and haadf= apply to microscope files, not to {ext} files "
                            "(which hold one spectrum image)")
        if ext == ".npz":
            return native.read_npz(path, max_bytes=budget)
        reader = native.read_zarr if ext == ".zarr" else native.read_h5
        return reader(path, max_bytes=budget, lazy=lazy, chunks=chunks)
    return read_rosetta(path, signal=signal, haadf=haadf, max_bytes=budget, lazy=lazy,
                        chunks=chunks)


def save(si: SpectrumImage, path, *, overwrite: bool = True, compress: bool = False,
         chunks=None) -> None:
    """Write a spectrum image in the project's own format (atomically).

    Everything round-trips exactly: cube, energy axis, HAADF, valid mask, pixel size and unit,
    name, metadata and truth (see :mod:`eelswidgets.io.native`).

    Parameters
    ----------
    si : SpectrumImage
        What to save.
    path : str or os.PathLike
        ``.npz`` (NumPy archive, no extra needed), ``.h5``/``.hdf5`` (HDF5, needs h5py) or
        ``.zarr`` (a chunked zarr folder for large data, needs zarr; read it back lazily with
        ``ew.load(path, lazy=True)``). A lazy cube is written chunk by chunk to ``.h5`` and
        ``.zarr``; ``.npz`` computes it whole.
    overwrite : bool
        Replace an existing file (default). A directory is never replaced.
    compress : bool
        Compress the file (``np.savez_compressed`` or HDF5 gzip): smaller, slower.
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per storage chunk of a ``.zarr`` store (default about 1 MiB of whole spectra:
        a click on the cube loaded lazily reads one; see
        :func:`eelswidgets.io.native.write_zarr`). Only for ``.zarr``.

    Raises
    ------
    TypeError
        ``si`` is not a SpectrumImage, or metadata/truth hold a value that cannot be stored.
    ValueError
        Unknown or read-only extension.
    IsADirectoryError, FileNotFoundError, FileExistsError
        ``path`` is a directory, its directory is missing, or it exists and ``overwrite`` is
        False.

    Examples
    --------
    >>> si.save("result.npz")  # doctest: +SKIP
    """
    if not isinstance(si, SpectrumImage):
        raise TypeError(f"save expects a SpectrumImage, got {type(si).__name__}")
    path = _as_path(path)
    ext = path.suffix.lower()
    if ext in ROSETTA_FORMATS:
        raise ValueError(f"eelswidgets reads {ext} files but does not write them; save as .npz "
                         "or .h5, or export with si.to_hyperspy().save(path) for HyperSpy formats")
    if ext not in NATIVE_FORMATS:
        raise _unknown(path, NATIVE_FORMATS, "save")
    if ext == ".zarr":
        native.write_zarr(si, path, overwrite=overwrite, compress=compress, chunks=chunks)
        return
    if chunks is not None:
        raise TypeError(f"chunks= sets the storage chunks of a .zarr store; {ext} files are not "
                        "chunked: save to a .zarr path or leave chunks out")
    writer = native.write_npz if ext == ".npz" else native.write_h5
    writer(si, path, overwrite=overwrite, compress=compress)
