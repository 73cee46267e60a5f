"""The stages of one file's chain: the in-memory functions, wrapped to pass failures on.

Each ``*_whole`` function is one task of a file read whole. A file read lazily goes through
the same ``decompose_si`` and ``encode_si`` (on the lazy spectrum image, which makes them
chunk-wise) while its graph is built, and ``save_chunked`` is its one task. Every staged
function is defined at module level, so workers unpickle it by reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..decomposition import decompose as _decompose
from ..io import load, save_maps
from ..spectrum_image import SpectrumImage
from .results import stage

__all__ = ["apply_steps", "decompose_si", "decompose_whole", "decomposition_arrays",
           "encode_si", "encode_whole", "load_whole", "save_chunked", "save_whole",
           "steps_whole"]


def apply_steps(si: SpectrumImage, steps) -> SpectrumImage:
    """Run checked preprocessing ``steps`` on ``si`` (in memory or lazily, as ``si`` is)."""
    for i, step in enumerate(steps):
        if callable(step):
            out = step(si)
            label = getattr(step, "__name__", type(step).__name__)
        else:
            out = getattr(si, step[0])(**step[1])
            label = step[0]
        if not isinstance(out, SpectrumImage):
            raise TypeError(f"steps[{i}] ({label}) returned {type(out).__name__}, not a "
                            "SpectrumImage")
        si = out
    return si


def _latents(result) -> dict[str, np.ndarray]:
    """A model's output as named arrays (``latent`` or ``latent_<key>`` for a dict)."""
    if isinstance(result, Mapping):
        return {f"latent_{k}": v for k, v in result.items()}
    if isinstance(result, tuple):
        return {f"latent_{i}": v for i, v in enumerate(result)}
    return {"latent": result}


def decompose_si(si: SpectrumImage, options: dict | None):
    """``ew.decompose(si, **options)`` (None: skipped); out of core for a lazy ``si``."""
    return None if options is None else _decompose(si, **options)


def encode_si(model, si: SpectrumImage, dec) -> dict:
    """The latents of ``model`` (``encode(si)``, or a function ``(si, dec)``) as named arrays.

    For a lazy ``si``, ``model.encode`` returns dask arrays chunked like the scan (see
    :mod:`eelswidgets.models._chunked`): they become tasks of the pipeline's graph.
    """
    if model is None:
        return {}
    if hasattr(model, "encode"):
        return _latents(model.encode(si))
    return _latents(model(si, dec))


def decomposition_arrays(dec) -> tuple[dict, dict]:
    """The arrays and numbers a maps file keeps of a Decomposition."""
    if dec is None:
        return {}, {}
    return ({"maps": dec.maps, "spectra": dec.spectra, "scree": dec.scree},
            {"method": dec.method, "reconstruction_error": dec.reconstruction_error})


def _save(out: Path, arrays: dict, info: dict, overwrite: bool) -> dict:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    save_maps(out, arrays, info, overwrite=overwrite)
    return {k: tuple(v.shape) for k, v in arrays.items()}


@stage("load")
def load_whole(path: Path) -> SpectrumImage:
    """Read a file whole (on the worker that runs the task)."""
    return load(path)


@stage("preprocess")
def steps_whole(si: SpectrumImage, steps) -> SpectrumImage:
    """The preprocessing steps, in memory."""
    return apply_steps(si, steps)


@stage("decompose")
def decompose_whole(si: SpectrumImage, options: dict | None):
    """``ew.decompose`` with the given options (None: skipped)."""
    return decompose_si(si, options)


@stage("encode")
def encode_whole(model, si: SpectrumImage, dec) -> dict:
    """The model's latents as named arrays."""
    return encode_si(model, si, dec)


@stage("save")
def save_whole(out: Path, si: SpectrumImage, dec, latents: dict, info: dict,
                overwrite: bool) -> dict:
    """Write the maps of a file read whole; the shapes written."""
    arrays, dec_info = decomposition_arrays(dec)
    return _save(out, {"energy": si.energy, "valid": si.valid, **arrays, **latents},
                 {"shape": list(si.shape), **dec_info, **info}, overwrite)


@stage("save")
def save_chunked(out: Path, arrays: dict, info: dict, overwrite: bool) -> dict:
    """Write the maps of a file read chunk-wise; the shapes written.

    Dask arrays in ``arrays`` arrive computed: their chunks are tasks of the same graph.
    """
    return _save(out, arrays, info, overwrite)
