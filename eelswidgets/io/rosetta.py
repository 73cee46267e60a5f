"""Read microscope files through rosettasciio (the reader HyperSpy uses; extra ``io``).

Supported: HyperSpy ``.hspy`` and ``.zspy`` (zarr), Gatan Digital Micrograph ``.dm3``/``.dm4``,
Berkeley (NCEM) and Velox ``.emd``, and EMSA/MSA ``.msa`` (also ``.ems``, ``.mas``, ``.emsa``)
spectra.

A file may hold several signals. The rule, applied to the signals in file order:

- **the spectrum image** is the signal that qualifies as one (an energy axis, at most two
  spatial axes; see :mod:`eelswidgets.io._axes`) and has the most pixels; the first on ties.
  A single spectrum loads as a ``(1, 1, ne)`` spectrum image and a line scan as ``(1, n, ne)``.
  ``signal=i`` picks signal ``i`` instead.
- **the HAADF image** is the first other signal that is a 2D image with the same number of
  rows and columns (no energy axis), or, for a file written by ``si.to_hyperspy().save()``,
  the HAADF image stored with it. ``haadf=j`` picks signal ``j``; ``haadf=False`` attaches none.

Energies in keV (or meV) are converted to eV, and lengths to nm where the unit is known.

Before the data is read, the file is opened lazily and every signal's declared shape and dtype
(and the float32 cube it would become) are checked against the memory budget
(:mod:`eelswidgets._limits`). Foreign metadata is made JSON-able with bounded nesting, and the
metadata JSON stored by :func:`~eelswidgets.io.to_hyperspy` is parsed with
:func:`eelswidgets._safe_json.loads`. A ``.zspy`` folder is checked file by file before
rosettasciio opens it (no symbolic links, no object dtypes or pickle codecs, bounded JSON; see
:mod:`eelswidgets.io._zarr_members`).

**Lazy reading** (``lazy=True``) passes through to rosettasciio's lazy readers, which exist
for ``.hspy``, ``.zspy``, ``.dm3``/``.dm4`` and ``.emd`` (not for EMSA/MSA text files: a
``ValueError`` names the format). The memory budget then applies to one chunk of each signal
(as declared and as float32); signals with at most two dimensions larger than one (images,
possible HAADF images) are still checked whole, since an attached image is read into memory.
The lazy cube is not scanned for all-NaN pixels: every pixel is taken as valid, except in
files written by :func:`~eelswidgets.io.to_hyperspy`, which store the valid mask. rosettasciio's
lazy HDF5 readers keep the file open while the signal's dask graph lives.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import _safe_json as safe_json
from .._checks import check_int
from .._lazy import is_lazy_array, scan_chunks
from .._limits import check_array_bytes, check_json_bytes, resolve_max_bytes
from ..spectrum_image import SpectrumImage
from ._axes import NotASpectrumImage, SIParts, image_from_axes, si_parts_from_axes, summarise
from ._axes import normalise_axes as _normalise
from ._codec import to_jsonable
from ._optional import require
from ._zarr_members import check_store

__all__ = ["ROSETTA_FORMATS", "read_rosetta", "si_from_parts"]

# extension -> (rosettasciio module, human name)
ROSETTA_FORMATS = {
    ".hspy": ("rsciio.hspy", "HyperSpy"),
    ".zspy": ("rsciio.zspy", "HyperSpy zarr"),
    ".dm3": ("rsciio.digitalmicrograph", "Digital Micrograph"),
    ".dm4": ("rsciio.digitalmicrograph", "Digital Micrograph"),
    ".emd": ("rsciio.emd", "EMD"),
    ".msa": ("rsciio.msa", "EMSA/MSA"),
    ".ems": ("rsciio.msa", "EMSA/MSA"),
    ".mas": ("rsciio.msa", "EMSA/MSA"),
    ".emsa": ("rsciio.msa", "EMSA/MSA"),
}

_TEXT_READERS = {"rsciio.msa"}
_HDF5_READERS = {"rsciio.hspy", "rsciio.emd"}
STORE_KEY = "eelswidgets"  # original_metadata group written by to_hyperspy()


def _unreadable(path: Path, exc: BaseException) -> ValueError:
    ext = path.suffix.lower()
    label = ROSETTA_FORMATS[ext][1]
    return ValueError(f"cannot read {path.name}: it is not a valid {label} {ext} file, or it is "
                      f"truncated or corrupt ({type(exc).__name__}: {exc})")


def _read_signals(path: Path, *, lazy: bool = False) -> list[dict]:
    ext = path.suffix.lower()
    reader = require(ROSETTA_FORMATS[ext][0], f"reading {ext} files")
    kwargs: dict[str, Any] = {"lazy": lazy}
    if ext == ".emd":
        kwargs["stack_group"] = False  # never merge groups whose names share a prefix
    try:
        signals = reader.file_reader(str(path), **kwargs)
    except (ImportError, MemoryError):
        raise
    except Exception as exc:  # readers raise many types on a bad file
        raise _unreadable(path, exc) from exc
    if not signals:
        raise ValueError(f"{path.name} holds no signal")
    return list(signals)


def _declared_arrays(path: Path):
    """``(name, shape, dtype)`` of the arrays in ``path``, read without reading their data.

    HDF5 files (``.hspy``, ``.emd``) are walked with h5py (hard links only; the file is closed
    afterwards: a lazy rosettasciio read would keep it open). Digital Micrograph files are
    opened lazily through rosettasciio. Text formats (EMSA/MSA) have no lazy reader and hold
    no more values than characters, so they list nothing.
    """
    module = ROSETTA_FORMATS[path.suffix.lower()][0]
    if module in _TEXT_READERS:
        return []
    require(module, f"reading {path.suffix} files")  # the reader used next: name it first
    if module in _HDF5_READERS:
        h5py = require("h5py", f"reading {path.suffix} files")
        found: list[tuple[str, tuple, Any]] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found.append((name, obj.shape, obj.dtype))

        try:
            with h5py.File(path, "r") as f:
                f.visititems(visit)
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        return found
    return [(f"signal #{i}", sig["data"].shape, sig["data"].dtype)
            for i, sig in enumerate(_read_signals(path, lazy=True))
            if hasattr(sig.get("data"), "shape")]


def _check_store(path: Path, budget: int) -> None:
    """Check the files of a ``.zspy`` folder before zarr opens it (no-op for other formats)."""
    if ROSETTA_FORMATS[path.suffix.lower()][0] == "rsciio.zspy":
        check_store(path, budget)


def _check_lazy_chunks(path: Path, signals: list[dict], budget: int) -> None:
    """Refuse a lazily read signal whose chunk (or whole image) exceeds ``budget``."""
    for i, sig in enumerate(signals):
        data = sig.get("data")
        if not hasattr(data, "shape"):
            continue
        image = sum(int(n) > 1 for n in data.shape) <= 2
        block = data.shape if image or not is_lazy_array(data) else data.chunksize
        what = f"signal #{i}" if image else f"signal #{i} (one chunk)"
        check_array_bytes(what, block, data.dtype, budget, path.name)
        check_array_bytes(f"{what} as float32", block, np.float32, budget, path.name)


def _check_declared_sizes(path: Path, budget: int) -> None:
    """Refuse a file with an array whose declared size (or float32 size) exceeds ``budget``."""
    _check_store(path, budget)
    for name, shape, dtype in _declared_arrays(path):
        check_array_bytes(name, shape, dtype, budget, path.name)
        check_array_bytes(f"{name} as float32", shape, np.float32, budget, path.name)


def _apply_mapping(metadata: dict, original: Any, mapping: Any) -> dict:
    """Copy original-metadata values into metadata as HyperSpy does (beam energy, angles...).

    ``metadata`` is first made JSON-able (a new tree with bounded nesting).
    """
    out = to_jsonable(metadata) if isinstance(metadata, dict) else {}
    if not isinstance(mapping, dict) or not isinstance(original, dict):
        return out
    for src, target in mapping.items():
        try:
            dst, function = target
            value = functools.reduce(lambda d, k: d[k], str(src).split("."), original)
            if function is not None:
                value = function(value)
        except Exception:  # a tag that is absent or unparsable is skipped
            continue
        if value is None:
            continue
        node = out
        *parents, leaf = str(dst).split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    return out


def _valid_mask(cube: np.ndarray, stored: dict) -> np.ndarray | None:
    """Pixels that hold a value (None: every pixel).

    In memory: the pixels that are not all-NaN. A lazy cube is not scanned: the mask stored by
    :func:`~eelswidgets.io.to_hyperspy` when it fits, else every pixel.
    """
    if is_lazy_array(cube):
        v = stored.get("valid")
        v = None if v is None else np.asarray(v)
        return v if v is not None and v.dtype == bool and v.shape == cube.shape[:2] else None
    if cube.dtype.kind != "f":
        return None
    empty = np.all(np.isnan(cube), axis=-1)
    return ~empty if empty.any() else None


def _stored(original: Any) -> dict:
    """The group that :func:`~eelswidgets.io.to_hyperspy` stores in original_metadata."""
    if hasattr(original, "as_dictionary"):
        original = original.as_dictionary()
    group = original.get(STORE_KEY) if isinstance(original, dict) else None
    return group if isinstance(group, dict) else {}


def _stored_metadata(text: str, name: str) -> Any:
    """Parse the metadata JSON stored by ``to_hyperspy`` (None if it is not JSON)."""
    where = f"original_metadata.{STORE_KEY}.metadata_json"
    check_json_bytes(where, text, resolve_max_bytes(), name or "the signal")
    try:
        return safe_json.loads(text)
    except json.JSONDecodeError:
        return None  # not written by eelswidgets: the signal's own metadata is used
    except ValueError as exc:
        raise ValueError(f"{name or 'the signal'}: {where} is refused: {exc}") from exc


def si_from_parts(data: Any, axes: list[dict], *, metadata: dict, original: Any,
                  name: str, haadf: Any = None, stored_haadf: bool = True,
                  source: dict | None = None, parts: SIParts | None = None) -> SpectrumImage:
    """Build a SpectrumImage from an array with calibrated axes and its metadata.

    Parameters
    ----------
    data : array_like
        N-d data (not modified).
    axes : list of dict
        rosettasciio-style axes of ``data``.
    metadata : dict
        HyperSpy-style metadata (made JSON-able).
    original : dict or DictionaryTreeBrowser
        Original metadata; only the group stored by ``to_hyperspy`` is used.
    name : str
        Fallback name when the metadata has no title.
    haadf : array_like, optional
        HAADF image.
    stored_haadf : bool
        If ``haadf`` is None, use a HAADF image stored by ``to_hyperspy`` when its shape fits.
    source : dict, optional
        Where the data came from, kept in ``metadata["source"]``.
    parts : SIParts, optional
        ``si_parts_from_axes(data, axes)`` if already computed.

    Returns
    -------
    SpectrumImage
    """
    if parts is None:
        parts = si_parts_from_axes(data, axes)
    meta = to_jsonable(metadata) if metadata else {}
    stored = _stored(original)
    if isinstance(stored.get("metadata_json"), str):
        own = _stored_metadata(stored["metadata_json"], name)
        if isinstance(own, dict):
            meta = own
    general = metadata.get("General", {}) if isinstance(metadata, dict) else {}
    title = general.get("title") if isinstance(general, dict) else None
    if haadf is None and stored_haadf and stored.get("haadf") is not None:
        h = np.asarray(stored["haadf"])
        if h.shape == parts.cube.shape[:2]:
            haadf = h
    if source is not None:
        meta = {**meta, "source": to_jsonable(source)}
    pixel_size, pixel_unit = parts.pixel_size, parts.pixel_unit
    exported = (stored.get("pixel_size"), stored.get("pixel_unit"))
    if parts.raw_pixel is not None and parts.raw_pixel == exported:
        pixel_size, pixel_unit = exported  # written by to_hyperspy: keep the unit as it was
    return SpectrumImage(parts.cube, parts.energy, haadf, pixel_size=pixel_size,
                         pixel_unit=pixel_unit, metadata=meta,
                         valid=_valid_mask(parts.cube, stored), name=str(title or name))


def _describe(i: int, sig: dict, reason: str | None) -> str:
    data = sig.get("data")
    shape = getattr(data, "shape", "?")
    try:
        axes = summarise(_normalise(sig.get("axes", []), tuple(shape)))
    except (NotASpectrumImage, TypeError):
        axes = "uncalibrated"
    tail = f": {reason}" if reason else ""
    return f"#{i} shape {tuple(shape)} ({axes}){tail}"


def read_rosetta(path, *, signal: int | None = None, haadf: int | bool | None = None,
                 max_bytes: int | None = None, lazy: bool = False,
                 chunks=None) -> SpectrumImage:
    """Read a spectrum image (and its HAADF image) from a file rosettasciio understands.

    Parameters
    ----------
    path : str or os.PathLike
        ``.hspy``, ``.dm3``, ``.dm4``, ``.emd`` or ``.msa`` file.
    signal : int, optional
        Index of the signal to load as the spectrum image (default: the rule in the module
        docstring).
    haadf : int or bool, optional
        Index of the signal to attach as HAADF image, ``False`` for none, None (default) for
        the first 2D image of matching shape.
    max_bytes : int, optional
        Memory budget for one array (see :mod:`eelswidgets._limits`); for ``lazy``, for one
        chunk (see the module docstring).
    lazy : bool
        Read through rosettasciio's lazy reader: the cube stays a dask array.
    chunks : "auto", (cy, cx) or (cy, cx, ne), optional
        Pixels per chunk of a lazy cube.

    Returns
    -------
    SpectrumImage
        ``metadata["source"]`` records the file, reader, signal indices and original axes.
    """
    path = Path(path)
    budget = resolve_max_bytes(max_bytes)
    if lazy:
        module, label = ROSETTA_FORMATS[path.suffix.lower()]
        if module in _TEXT_READERS:
            raise ValueError(f"{path.name}: {label} {path.suffix} files have no lazy reader in "
                             "rosettasciio (they are text and small); load them without "
                             "lazy=True")
        _check_store(path, budget)
        signals = _read_signals(path, lazy=True)
        _check_lazy_chunks(path, signals, budget)
    else:
        _check_declared_sizes(path, budget)
        signals = _read_signals(path)
    n = len(signals)
    parts: dict[int, Any] = {}
    reasons: dict[int, str] = {}
    for i, sig in enumerate(signals):
        try:
            parts[i] = si_parts_from_axes(sig["data"], sig.get("axes", []))
        except NotASpectrumImage as exc:
            reasons[i] = str(exc)
        except (TypeError, ValueError) as exc:
            reasons[i] = f"unreadable data ({exc})"

    if signal is not None:
        signal = check_int(signal, "signal", low=0, high=n - 1)
        if signal not in parts:
            raise ValueError(f"signal {signal} of {path.name} is not a spectrum image: "
                             f"{reasons[signal]}")
        chosen = signal
    elif parts:
        chosen = max(parts, key=lambda i: (parts[i].cube.shape[0] * parts[i].cube.shape[1], -i))
    else:
        listing = "; ".join(_describe(i, s, reasons.get(i)) for i, s in enumerate(signals))
        raise ValueError(f"{path.name} holds no spectrum image (a signal with an energy axis in "
                         f"eV/keV and at most 2 spatial axes); it holds {n} signal(s): {listing}")
    ny, nx = parts[chosen].cube.shape[:2]

    image = None
    haadf_index = None
    if haadf is not None and haadf is not False:
        if haadf is True:
            raise TypeError("haadf must be a signal index, False or None, not True")
        haadf_index = check_int(haadf, "haadf", low=0, high=n - 1)
        image = image_from_axes(signals[haadf_index]["data"], signals[haadf_index].get("axes", []))
        if haadf_index == chosen or image is None or image.shape != (ny, nx):
            raise ValueError(f"signal {haadf_index} of {path.name} cannot be the HAADF image: it "
                             f"must be a 2D image of {ny} x {nx} pixels; "
                             f"{_describe(haadf_index, signals[haadf_index], None)}")
    elif haadf is None:
        for j, sig in enumerate(signals):
            if j == chosen:
                continue
            candidate = image_from_axes(sig["data"], sig.get("axes", []))
            if candidate is not None and candidate.shape == (ny, nx):
                image, haadf_index = candidate, j
                break

    sig = signals[chosen]
    rsciio = require("rsciio", "reading microscope files")
    source = {"file": path.name, "reader": f"rosettasciio {getattr(rsciio, '__version__', '?')}",
              "signal": chosen, "n_signals": n, "haadf_signal": haadf_index,
              "axes": [{k: a.get(k) for k in ("name", "size", "offset", "scale", "units",
                                              "navigate")}
                       for a in parts[chosen].axes]}
    original = sig.get("original_metadata", {})
    metadata = _apply_mapping(sig.get("metadata", {}), original, sig.get("mapping"))
    cube = parts[chosen].cube
    if is_lazy_array(cube) and chunks is not None:
        parts[chosen].cube = cube.rechunk(scan_chunks(cube.shape, chunks))
    return si_from_parts(sig["data"], sig.get("axes", []), metadata=metadata,
                         original=original, name=path.stem, haadf=image,
                         stored_haadf=haadf is None, source=source, parts=parts[chosen])
