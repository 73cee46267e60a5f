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
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "eelswidgets.model"
FORMAT_VERSION = 1
HEADER = "eelsmodel.json"
WEIGHTS = "weights.safetensors"
STATE_PREFIX = "state."
MAX_HEADER_BYTES = 64 * 2**20


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


def unpack(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor], dict[str, Any]]:
    """Read a model file; return ``(header, weights, state)``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a model file (e.g. a pickle), or it is truncated or corrupted.
    """
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    name = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if HEADER not in names or WEIGHTS not in names:
                hint = ""
                if any(n.endswith(".pkl") for n in names):
                    hint = (" It looks like a torch.save/pickle archive; such files can run "
                            "arbitrary code and are never loaded.")
                raise ValueError(f"{name!r} is not an eelswidgets model file (it lacks "
                                 f"{HEADER} / {WEIGHTS}).{hint} Save models with "
                                 f"model.save(path).")
            if zf.getinfo(HEADER).file_size > MAX_HEADER_BYTES:
                raise ValueError(f"{name!r}: the model header is implausibly large; "
                                 f"the file is corrupted")
            head_bytes = zf.read(HEADER)
            weight_bytes = zf.read(WEIGHTS)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{name!r} is not a readable eelswidgets model file: it is "
                         f"truncated, corrupted or of another kind ({err})") from None
    except (EOFError, OSError, RuntimeError) as err:  # zlib/zipfile errors on damaged data
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{name!r} could not be read: it is truncated or corrupted "
                         f"({err})") from None
    try:
        header = json.loads(head_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{name!r} has a corrupted header ({err})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{name!r} is not an eelswidgets model file (format "
                         f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{name!r} uses model-file format version {version!r}, but this "
                         f"eelswidgets reads up to version {FORMAT_VERSION}; upgrade "
                         f"eelswidgets (the file was written by version "
                         f"{header.get('eelswidgets_version')!r})")
    for key in ("class", "params", "state"):
        if key not in header:
            raise ValueError(f"{name!r} has a corrupted header: the {key!r} entry is missing")
    try:
        tensors = st_load(weight_bytes)
    except Exception as err:  # safetensors raises its own SafetensorError
        raise ValueError(f"{name!r} has corrupted weights ({err})") from None
    state = dict(header["state"])
    for key in header.get("state_arrays", []):
        t = tensors.pop(STATE_PREFIX + key, None)
        if t is None:
            raise ValueError(f"{name!r} is corrupted: state array {key!r} is missing")
        state[key] = t.numpy()
    return header, tensors, state
