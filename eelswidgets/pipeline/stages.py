"""The stages of one file's chain: the in-memory functions, wrapped to pass failures on.

Each ``*_whole`` function is one task of a file read whole; ``encode_chunks`` and
``decompose_cube`` build the chunk-wise parts of a file read lazily. Every staged function is
defined at module level, so workers unpickle it by reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..decomposition import decompose as _decompose
from ..io import load, save_maps
from ..spectrum_image import SpectrumImage
from .results import stage

__all__ = ["apply_steps", "decompose_cube", "decompose_whole", "decomposition_arrays",
           "encode_chunks", "encode_whole", "load_whole", "save_chunked", "save_whole",
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


def _encode(model, si: SpectrumImage, dec) -> dict:
    if model is None:
        return {}
    if hasattr(model, "encode"):
        return _latents(model.encode(si))
    return _latents(model(si, dec))


def _encode_block(block: np.ndarray, valid: np.ndarray, model, energy: np.ndarray
                  ) -> np.ndarray:
    return model.encode(SpectrumImage(block, energy, valid=valid))


def encode_chunks(model, model_key, si: SpectrumImage) -> dict:
    """Latent maps of a lazy SI, encoded chunk by chunk in the graph (spectral models)."""
    import dask.array as da

    from ..models import SpectralVAE

    if not isinstance(model, SpectralVAE):
        raise TypeError(f"the chunked path encodes spectrum by spectrum, which needs a "
                        f"SpectralVAE; a {type(model).__name__} needs the whole scan: pass "
                        "lazy=False (each file read whole on a worker)")
    fitted_on = int(model.state_["n_energy"])
    if si.ne != fitted_on:   # checked here: inside the graph it would fail chunk by chunk
        raise ValueError(f"this SpectralVAE was fitted on spectra of {fitted_on} energy "
                         f"channels but the preprocessed data has {si.ne}; preprocess the "
                         "files the way the model's training data was")
    valid = da.from_array(si.valid, chunks=si.data.chunks[:2])
    z = da.blockwise(_encode_block, "yxl", si.data, "yxe", valid, "yx", model_key, None,
                     si.energy, None, new_axes={"l": int(model.latent_dim)}, concatenate=True,
                     dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))
    return {"latent": z}


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
    return None if options is None else _decompose(si, **options)


@stage("encode")
def encode_whole(model, si: SpectrumImage, dec) -> dict:
    """The model's latents as named arrays."""
    return _encode(model, si, dec)


@stage("decompose")
def decompose_cube(cube: np.ndarray, energy: np.ndarray, valid: np.ndarray, options: dict):
    """``ew.decompose`` of a cube gathered from its chunks."""
    return _decompose(SpectrumImage(cube, energy, valid=valid), **options)


@stage("save")
def save_whole(out: Path, si: SpectrumImage, dec, latents: dict, info: dict,
                overwrite: bool) -> dict:
    """Write the maps of a file read whole; the shapes written."""
    arrays, dec_info = decomposition_arrays(dec)
    return _save(out, {"energy": si.energy, "valid": si.valid, **arrays, **latents},
                 {"shape": list(si.shape), **dec_info, **info}, overwrite)


@stage("save")
def save_chunked(out: Path, arrays: dict, dec, info: dict, overwrite: bool) -> dict:
    """Write the maps of a file read chunk-wise; the shapes written."""
    dec_arrays, dec_info = decomposition_arrays(dec)
    return _save(out, {**arrays, **dec_arrays}, {**info, **dec_info}, overwrite)
