"""The ``.eelsmodel`` file format: safe to load, written atomically.

A model file is a zip archive with exactly two members:

``eelsmodel.json``
    ``{"format": "eelswidgets.model", "format_version": 1, "class": ..., "module": ...,
    "eelswidgets_version": ..., "torch_version": ..., "params": {...}, "state": {...},
    "state_arrays": [...], "history": {...}}`` - hyper-parameters, JSON-able fitted state
    (normalisation constants, shapes, energy axis, ...) and the training history.
``weights.safetensors``
    The module's ``state_dict`` plus the NumPy arrays of the fitted state (keys prefixed with
    ``"state."``), in the safetensors format.

Nothing is ever unpickled: JSON and safetensors cannot run code, and a file that is not such
an archive (for example a ``torch.save`` pickle) is refused before anything is interpreted.
The zip CRC-32 of each member is checked, so a truncated or corrupted file gives a
``ValueError`` instead of silently wrong weights.

Reading is in steps, so that a small hostile file cannot make the reader allocate much:
:func:`open_archive` checks the members, :func:`read_header` reads the JSON header (bounded
size, exact keys), the caller checks the hyper-parameters and fitted constants and works out
the tensors the architecture implies, and only then :func:`read_weights` reads the
safetensors header, compares every tensor's name, dtype, shape and offsets with that
expectation and the member's declared size with the size it implies, and reads exactly that
many bytes. Every failure is a ``ValueError`` naming the member or field.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _safe_json as safe_json

FORMAT = "eelswidgets.model"
FORMAT_VERSION = 1
HEADER = "eelsmodel.json"
WEIGHTS = "weights.safetensors"
STATE_PREFIX = "state."
HEADER_KEYS = ("format", "format_version", "class", "module", "eelswidgets_version",
               "torch_version", "params", "state", "state_arrays", "history")
MAX_HEADER_BYTES = 16 * 2**20          #: the JSON header (hyper-parameters, state, history)
MAX_TENSOR_HEADER_BYTES = 2**20        #: the safetensors header (names, dtypes, shapes)
MAX_WEIGHT_BYTES = 2 * 2**30           #: weights a model file may hold at all
MAX_INFLATION = 32                     #: weights compress barely; refuse bigger ratios ...
INFLATION_FLOOR = 2**20                #: ... for members inflating to more than this
_TEXT_MAX = 200                        #: version strings, class and module names

#: safetensors dtype codes <-> NumPy dtypes (little-endian, as the format specifies)
DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1",
          "BOOL": "?"}


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (see :func:`eelswidgets.io.atomic_write`).

    A reader never sees a half-written file, and an existing file is only replaced once the
    new one is complete.
    """
    from ..io._atomic import atomic_write, check_target

    target = check_target(path)
    with atomic_write(target, "wb") as fh:
        fh.write(payload)
    return target


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in a model file: {obj!r}")


def pack(header: dict[str, Any], weights: dict[str, torch.Tensor],
         state: dict[str, Any]) -> bytes:
    """Build the archive bytes from a header, a state dict and the fitted state."""
    from safetensors.torch import save as st_save

    json_state: dict[str, Any] = {}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    arrays = []
    for key, value in state.items():
        if isinstance(value, np.ndarray) and value.dtype != object:
            tensors[STATE_PREFIX + key] = torch.from_numpy(np.ascontiguousarray(value).copy())
            arrays.append(key)
        else:
            json_state[key] = value
    header = dict(header, format=FORMAT, format_version=FORMAT_VERSION, state=json_state,
                  state_arrays=arrays)
    head_bytes = json.dumps(header, default=_json_default, allow_nan=True,
                            indent=1).encode("utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(HEADER, head_bytes)
        zf.writestr(WEIGHTS, st_save(tensors))
    return buf.getvalue()


_TORCH_TO_NUMPY = {torch.float16: np.float16, torch.float32: np.float32,
                   torch.float64: np.float64, torch.int32: np.int32, torch.int64: np.int64,
                   torch.uint8: np.uint8, torch.bool: np.bool_}


def dtype_code(dtype) -> str:
    """The safetensors code (``"F32"``...) of a NumPy or torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _TORCH_TO_NUMPY:
            raise TypeError(f"cannot store dtype {dtype} in a model file")
        dtype = _TORCH_TO_NUMPY[dtype]
    want = np.dtype(dtype).newbyteorder("<")
    for code, np_dtype in DTYPES.items():
        if np.dtype(np_dtype) == want:
            return code
    raise TypeError(f"cannot store dtype {dtype} in a model file")


def nbytes(spec: tuple[str, tuple[int, ...]]) -> int:
    """Bytes of a tensor given as ``(dtype code, shape)``."""
    code, shape = spec
    return math.prod(shape) * np.dtype(DTYPES[code]).itemsize


@contextlib.contextmanager
def open_archive(path: str | os.PathLike) -> Iterator[zipfile.ZipFile]:
    """Open a model file; check that it holds exactly the two members, plainly stored.

    Errors of the zip layer (truncated, corrupted or hostile data) become ``ValueError``;
    :func:`read_header` and :func:`read_weights` convert those met while reading.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a model file (e.g. a pickle), or it is truncated or corrupted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    name = str(path)
    with _zip_errors(name):
        zf = zipfile.ZipFile(path)
    try:
        _check_members(zf, name)
        yield zf
    finally:
        zf.close()


def _check_members(zf: zipfile.ZipFile, name: str) -> None:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if sorted(names) != sorted((HEADER, WEIGHTS)):
        hint = ""
        if any(n.endswith(".pkl") for n in names):
            hint = (" It looks like a torch.save/pickle archive; such files can run "
                    "arbitrary code and are never loaded.")
        raise ValueError(f"{name!r} is not an eelswidgets model file: it must hold "
                         f"exactly the members {HEADER} and {WEIGHTS}, it holds "
                         f"{names[:10]}.{hint} Save models with model.save(path).")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ValueError(f"{name!r}: member {info.filename} is encrypted; model "
                             f"files are never encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{name!r}: member {info.filename} uses compression "
                             f"method {info.compress_type}; model files use "
                             f"deflate or none")


@contextlib.contextmanager
def _zip_errors(name: str) -> Iterator[None]:
    try:
        yield
    except zipfile.BadZipFile as err:
        raise ValueError(f"{name!r} is not a readable eelswidgets model file: it is "
                         f"truncated, corrupted or of another kind ({err})") from None
    except FileNotFoundError:
        raise
    except (EOFError, OSError, RuntimeError, NotImplementedError, zlib.error,
            struct.error, OverflowError) as err:  # zlib/zipfile errors on damaged data
        raise ValueError(f"{name!r} could not be read: it is truncated or corrupted "
                         f"({type(err).__name__}: {err})") from None


def _read_exactly(fh, size: int, what: str, name: str) -> bytes:
    """Read ``size`` bytes of a member; a shorter member is a ``ValueError``."""
    data = fh.read(size)
    if len(data) != size:
        raise ValueError(f"{name!r}: {what} is truncated ({len(data)} of {size} bytes)")
    return data


def _check_end(fh, what: str, name: str) -> None:
    """The member must end here (reading on to its end also checks its CRC-32)."""
    if fh.read(1):
        raise ValueError(f"{name!r}: {what} is longer than its header says")


def _parse_json(raw: bytes, what: str, name: str):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name!r}: {what} is not UTF-8 text ({err})") from None
    try:
        return safe_json.loads(text)   # nesting measured without recursion
    except ValueError as err:
        raise ValueError(f"{name!r}: {what} is not valid JSON ({err})") from None


def _check_text(header: dict, key: str, name: str) -> None:
    value = header[key]
    if not isinstance(value, str) or not 0 < len(value) <= _TEXT_MAX:
        raise TypeError(f"{name!r}: header field {key!r} must be a non-empty string of at "
                        f"most {_TEXT_MAX} characters, got {str(value)[:60]!r}")


def read_header(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    """Read and check the JSON header of an open model file (not its params and state).

    Checks the size (before reading), the encoding, that it is a JSON object with exactly
    the keys :data:`HEADER_KEYS`, the format and its version, the types of ``class``,
    ``module``, the version strings, ``params``, ``state``, ``state_arrays`` and
    ``history``. The hyper-parameters and fitted constants are the estimator's to check.

    Raises
    ------
    ValueError, TypeError
        Naming the field.
    """
    info = zf.getinfo(HEADER)
    if info.file_size > MAX_HEADER_BYTES:
        raise ValueError(f"{name!r}: the header member {HEADER} declares {info.file_size} "
                         f"bytes, more than the {MAX_HEADER_BYTES} a model header may have; "
                         f"the file is corrupted")
    with _zip_errors(name), zf.open(info) as fh:
        raw = _read_exactly(fh, info.file_size, HEADER, name)
        _check_end(fh, HEADER, name)
    header = _parse_json(raw, f"the header {HEADER}", name)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"{name!r} is not an eelswidgets model file (header field "
                         f"'format' is {str(got)[:60]!r}, not {FORMAT!r})")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= FORMAT_VERSION):
        raise ValueError(f"{name!r} uses model-file format_version {str(version)[:30]!r}, "
                         f"but this eelswidgets reads versions 1 to {FORMAT_VERSION}; "
                         f"upgrade eelswidgets (the file was written by version "
                         f"{str(header.get('eelswidgets_version'))[:30]!r})")
    missing = [k for k in HEADER_KEYS if k not in header]
    unknown = sorted(k for k in header if k not in HEADER_KEYS)
    if missing or unknown:
        raise ValueError(f"{name!r} has a corrupted header: missing field(s) {missing}, "
                         f"unknown field(s) {unknown[:10]}")
    for key in ("class", "module", "eelswidgets_version", "torch_version"):
        _check_text(header, key, name)
    for key in ("params", "state", "history"):
        if not isinstance(header[key], dict):
            raise TypeError(f"{name!r}: header field {key!r} must be a JSON object, got "
                            f"{type(header[key]).__name__}")
    arrays = header["state_arrays"]
    if not (isinstance(arrays, list) and all(isinstance(a, str) for a in arrays)
            and len(set(arrays)) == len(arrays)):
        raise TypeError(f"{name!r}: header field 'state_arrays' must be a list of distinct "
                        f"names, got {str(arrays)[:60]}")
    _check_history(header["history"], name)
    return header


def _check_history(history: dict, name: str) -> None:
    """The training history: names -> numbers, strings, None or lists of numbers."""
    scalar = (int, float, str, type(None))
    for key, value in history.items():
        ok = isinstance(value, scalar) or (
            isinstance(value, list) and all(isinstance(v, (int, float, type(None)))
                                            for v in value))
        if not ok:
            raise TypeError(f"{name!r}: header field 'history' entry {key!r} must be a "
                            f"number, a string, null or a list of numbers, got "
                            f"{str(value)[:60]}")


def read_weights(zf: zipfile.ZipFile, name: str,
                 expected: Mapping[str, tuple[str, tuple[int, ...]]]
                 ) -> dict[str, torch.Tensor]:
    """Read the weights member, checking it against ``expected`` before reading the data.

    Parameters
    ----------
    zf : zipfile.ZipFile
        From :func:`open_archive`.
    name : str
        The file's name, for messages.
    expected : mapping of str to (dtype code, shape)
        Every tensor the member must hold (no more, no fewer), as implied by the checked
        header: the module's ``state_dict`` and the fitted-state arrays.

    Returns
    -------
    dict of str to torch.Tensor
        CPU tensors (views of one buffer holding the data section).

    Raises
    ------
    ValueError
        Naming the tensor or the size that does not match.
    """
    total = sum(nbytes(spec) for spec in expected.values())
    info = zf.getinfo(WEIGHTS)
    most = 8 + MAX_TENSOR_HEADER_BYTES + total
    if info.file_size > most:
        raise ValueError(f"{name!r}: member {WEIGHTS} declares {info.file_size} bytes but "
                         f"the header implies at most {most}; the file is corrupted or "
                         f"hostile")
    if info.file_size > INFLATION_FLOOR and info.file_size > MAX_INFLATION * max(
            info.compress_size, 1):
        raise ValueError(f"{name!r}: member {WEIGHTS} inflates {info.file_size} / "
                         f"{info.compress_size} times; weights barely compress, so the file "
                         f"is corrupted or hostile")
    with _zip_errors(name), zf.open(info) as fh:
        (n_head,) = struct.unpack("<Q", _read_exactly(fh, 8, WEIGHTS, name))
        if n_head > min(MAX_TENSOR_HEADER_BYTES, info.file_size - 8):
            raise ValueError(f"{name!r}: the safetensors header of {WEIGHTS} claims "
                             f"{n_head} bytes; the file is corrupted")
        table = _parse_json(_read_exactly(fh, n_head, WEIGHTS, name),
                            f"the safetensors header of {WEIGHTS}", name)
        layout = _check_layout(table, expected, name)
        if info.file_size != 8 + n_head + total:
            raise ValueError(f"{name!r}: member {WEIGHTS} declares {info.file_size} bytes "
                             f"but its tensors take {8 + n_head + total}")
        data = bytearray(total)
        view = memoryview(data)
        pos = 0
        while pos < total:
            chunk = fh.read(min(total - pos, 2**24))
            if not chunk:
                raise ValueError(f"{name!r}: {WEIGHTS} is truncated")
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        _check_end(fh, WEIGHTS, name)
    out = {}
    for key, (code, shape, begin) in layout.items():
        arr = np.frombuffer(data, dtype=DTYPES[code], count=math.prod(shape), offset=begin)
        out[key] = torch.from_numpy(arr.reshape(shape))
    return out


def _check_layout(table, expected: Mapping[str, tuple[str, tuple[int, ...]]], name: str
                  ) -> dict[str, tuple[str, tuple[int, ...], int]]:
    """Check the safetensors header against ``expected``; return name -> (code, shape, begin).

    The tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
    """
    if not isinstance(table, dict):
        raise ValueError(f"{name!r}: the safetensors header of {WEIGHTS} is not a JSON "
                         f"object")
    meta = table.get("__metadata__", {})
    if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise ValueError(f"{name!r}: the __metadata__ of {WEIGHTS} must map names to strings")
    names = set(table) - {"__metadata__"}
    missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
    if missing or extra:
        raise ValueError(f"{name!r}: the tensors of {WEIGHTS} do not match the architecture "
                         f"the header implies: missing {missing[:10]}, unexpected "
                         f"{extra[:10]}")
    layout = {}
    for key, (code, shape) in expected.items():
        entry = table[key]
        if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}):
            raise ValueError(f"{name!r}: tensor {key!r} must be described by dtype, shape "
                             f"and data_offsets")
        if entry["dtype"] != code:
            raise ValueError(f"{name!r}: tensor {key!r} has dtype {str(entry['dtype'])[:20]!r}"
                             f", but this architecture needs {code}")
        if entry["shape"] != list(shape):
            raise ValueError(f"{name!r}: tensor {key!r} has shape {str(entry['shape'])[:60]}"
                             f", but this architecture needs {list(shape)}")
        offsets = entry["data_offsets"]
        size = nbytes((code, shape))
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and offsets[1] - offsets[0] == size
                and offsets[0] % np.dtype(DTYPES[code]).itemsize == 0):
            raise ValueError(f"{name!r}: tensor {key!r} has data_offsets "
                             f"{str(offsets)[:60]}; it needs {size} aligned bytes")
        layout[key] = (code, tuple(shape), offsets[0])
    pos = 0
    for key, (code, shape, begin) in sorted(layout.items(), key=lambda kv: kv[1][2]):
        if begin != pos:
            raise ValueError(f"{name!r}: tensor {key!r} starts at byte {begin} of the data "
                             f"of {WEIGHTS}, expected {pos} (gap or overlap)")
        pos += nbytes((code, shape))
    return layout
