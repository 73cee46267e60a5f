"""Checks of a pipeline's inputs, outputs, steps, decomposition options and model.

Everything here runs before any task does, so a mistake is reported at once and nothing is
written.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path

from sklearn.decomposition import NMF, PCA

from .._checks import check_choice
from ..decomposition import decompose as _decompose
from ..io.files import READ_FORMATS, STORE_FORMATS
from ..io.maps import MAPS_SUFFIX
from ..spectrum_image import SpectrumImage
from .maps_model import EncodeMaps

__all__ = ["LAZY_ABOVE", "STEP_METHODS", "check_decompose", "check_model", "check_steps",
           "input_paths", "output_paths", "takes_chunked_path"]

#: SpectrumImage methods a pipeline step may name (each returns a SpectrumImage)
STEP_METHODS = ("crop", "crop_energy", "bin", "clip", "normalize", "remove_zlp", "align_zlp",
                "remove_spikes", "remove_background")
LAZY_ABOVE = 512 * 2**20  #: bytes on disk above which ``lazy="auto"`` reads a file chunk-wise
_NOT_LAZY = (".npz", ".msa")  # formats without chunks: always read whole
_RETURN_FLAGS = ("return_shifts", "return_report")

def input_paths(inputs) -> list[Path]:
    """The input files: a folder's spectrum images (sorted), one file, or a list."""
    if isinstance(inputs, (str, os.PathLike)):
        root = Path(os.fspath(inputs)).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {str(root)!r}")
        if root.is_dir() and root.suffix.lower() not in STORE_FORMATS:
            paths = sorted(p for p in root.iterdir()
                           if p.suffix.lower() in READ_FORMATS and not p.name.startswith(".")
                           and not p.name.endswith(MAPS_SUFFIX))
            if not paths:
                raise ValueError(f"the folder {str(root)!r} holds no spectrum image (files "
                                 f"ending in {', '.join(READ_FORMATS)})")
            return paths
        inputs = [root]
    if isinstance(inputs, bytes) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a folder, a file or a list of files, got "
                        f"{type(inputs).__name__}")
    paths = []
    for p in inputs:
        if isinstance(p, bytes) or not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"every input must be a path, got {type(p).__name__}")
        path = Path(os.fspath(p)).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such input file: {str(path)!r}")
        if path.suffix.lower() not in READ_FORMATS:
            raise ValueError(f"cannot read {str(path)!r}: unknown extension "
                             f"{path.suffix or '(none)'}; supported: {', '.join(READ_FORMATS)}")
        paths.append(path)
    if not paths:
        raise ValueError("inputs is empty: give a folder or at least one file")
    return paths


def output_paths(paths: list[Path], out_dir, overwrite: bool) -> list[Path]:
    """One ``<name>.maps.npz`` per input in ``out_dir`` (created), all different."""
    if isinstance(out_dir, bytes) or not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    out = Path(os.fspath(out_dir)).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {str(out)!r} is a file, not a folder")
    outputs = [out / (p.name[: -len(p.suffix)] + MAPS_SUFFIX) for p in paths]
    seen: dict[Path, Path] = {}
    for src, dst in zip(paths, outputs, strict=True):
        if dst in seen:
            raise ValueError(f"{str(seen[dst])!r} and {str(src)!r} would both be saved as "
                             f"{dst.name}; rename one or run them apart")
        seen[dst] = src
    if not overwrite:
        taken = [str(d) for d in outputs if d.exists()]
        if taken:
            raise FileExistsError(f"maps files exist already (pass overwrite=True to replace "
                                  f"them): {', '.join(taken)}")
    out.mkdir(parents=True, exist_ok=True)
    return outputs


def check_steps(steps) -> tuple:
    """Steps as ``(method, kwargs)`` pairs (bound to the method) or callables."""
    if callable(steps) or (isinstance(steps, tuple) and len(steps) == 2
                           and isinstance(steps[0], str)):
        steps = [steps]
    if isinstance(steps, (str, bytes, Mapping)) or not hasattr(steps, "__iter__"):
        raise TypeError("steps must be a list of (method, kwargs) pairs or callables, e.g. "
                        "[('crop_energy', {'lo': 0.2, 'hi': 3.0}), ('remove_zlp', {})]")
    checked = []
    for i, step in enumerate(steps):
        if callable(step):
            checked.append(step)
            continue
        if isinstance(step, str):
            step = (step, {})
        if not (isinstance(step, (tuple, list)) and len(step) == 2
                and isinstance(step[0], str) and isinstance(step[1], Mapping)):
            raise TypeError(f"steps[{i}] must be a (method name, kwargs dict) pair or a "
                            f"callable si -> si, got {step!r}")
        name, kwargs = step[0], dict(step[1])
        check_choice(name, f"steps[{i}] method", STEP_METHODS)
        flags = [k for k in _RETURN_FLAGS if kwargs.get(k)]
        if flags:
            raise ValueError(f"steps[{i}] ({name}): {flags[0]} makes it return a tuple; a step "
                             "must return a SpectrumImage")
        try:
            inspect.signature(getattr(SpectrumImage, name)).bind(None, **kwargs)
        except TypeError as exc:
            raise TypeError(f"steps[{i}] ({name}): {exc}") from None
        checked.append((name, kwargs))
    return tuple(checked)


def check_decompose(options) -> dict | None:
    """Arguments of ``ew.decompose`` (and of its scikit-learn estimator), or None."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(f"decompose must be a dict of ew.decompose arguments such as "
                        f"{{'n_components': 4, 'method': 'nmf'}}, got {type(options).__name__}")
    options = dict(options)
    if "n_components" not in options:
        raise ValueError("decompose needs n_components, e.g. {'n_components': 4}")
    try:
        inspect.signature(_decompose).bind(None, **options)
    except TypeError as exc:
        raise TypeError(f"decompose: {exc}") from None
    own = set(inspect.signature(_decompose).parameters)
    method = str(options.get("method", "nmf")).lower()
    estimator = {"nmf": NMF, "pca": PCA}.get(method)
    extra = sorted(set(options) - own - set(estimator().get_params() if estimator else ()))
    if estimator is not None and extra:
        raise TypeError(f"decompose: {', '.join(map(repr, extra))} is neither an argument of "
                        f"ew.decompose nor of scikit-learn's {estimator.__name__}")
    return options


def check_model(model, decompose: dict | None = None) -> None:
    """A fitted model with ``encode(si)``, a callable ``(si, dec)``, or None.

    An :class:`~.maps_model.EncodeMaps` also checks that ``decompose`` gives its channels.
    """
    if model is None:
        return
    if not (hasattr(model, "encode") or callable(model)):
        raise TypeError(f"model must be a fitted model with .encode(si) or a callable "
                        f"(si, decomposition) -> arrays, got {type(model).__name__}")
    if getattr(model, "is_fitted", None) is False:
        name = type(getattr(model, "model", model)).__name__
        raise ValueError(f"the {name} is not fitted; call .fit(...) first")
    if isinstance(model, EncodeMaps):
        model.check(decompose)


def _on_disk(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def takes_chunked_path(path: Path, lazy, lazy_above: int) -> bool:
    """Whether ``path`` is read lazily, chunk by chunk."""
    if lazy == "auto":
        return path.suffix.lower() not in _NOT_LAZY and _on_disk(path) > lazy_above
    return bool(lazy)
