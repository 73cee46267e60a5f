"""Chunk-wise inference on lazy (dask) inputs: the model's own kernel on one chunk at a time.

``encode`` / ``predict`` / ``reconstruct`` of a lazy :class:`~eelswidgets.SpectrumImage` (or of
a dask stack of maps) return dask arrays chunked like the scan; nothing runs until they are
computed. Each task gets one chunk of the scan and calls the *same* per-pixel or per-window
method the in-memory path calls on the whole image, so both agree to float rounding, borders
included:

- :func:`map_pixels`: models whose input is the pixel's spectrum (SpectralVAE, Spec2Im); one
  task per chunk of the cube (``dask.array.blockwise``).
- :func:`map_windows`: models whose input is the window around the pixel (Im2Spec,
  MultichannelRVAE). A task gets its chunk plus the halo its windows reach into
  (``window // 2`` pixels before, ``window - 1 - window // 2`` after, cut from the image or
  stack, in memory or lazy), the equivalent of ``dask.array.map_overlap`` with the window's
  own asymmetric depth and no rechunking, so the result keeps the scan's chunks whatever
  their size. Pixels whose window crosses the image border get no task work and stay NaN.

The graph holds one light copy of the fitted model under one key (hyper-parameters, fitted
constants and network; never the training data a model may keep), and the per-chunk
functions are module-level functions, so a result pickles and runs on other processes or on
dask.distributed workers. dask is imported inside the functions (in-memory use never loads
it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from .._lazy import is_lazy_array
from ..patches import window_bounds

__all__ = ["is_lazy_input", "map_pixels", "map_windows", "refuse_lazy", "snapshot"]

_TAIL = "abcdefgh"  # block indices of the trailing (per-pixel) axes of a result


def is_lazy_input(x: Any) -> bool:
    """Whether ``x`` is a lazy SpectrumImage or a dask array."""
    return bool(getattr(x, "is_lazy", False)) or is_lazy_array(x)


def refuse_lazy(x: Any, name: str, what: str) -> None:
    """Raise a ``TypeError`` for a bare dask array where a lazy SpectrumImage is needed."""
    if is_lazy_array(x):
        raise TypeError(f"{name} is a dask array; {what} takes a lazy SpectrumImage "
                        f"(ew.SpectrumImage(cube, energy=E)) so that the chunks, energy axis "
                        f"and valid pixels are known, or call .compute() on small data first")


def snapshot(model):
    """A light copy of a fitted model for a task graph: parameters, ``state_``, ``module_``.

    Everything else a fit leaves on the model (the training data Im2Spec keeps for
    back-projection, caches, the trainer) stays out, so the graph stays small and picklable.
    """
    copy = object.__new__(type(model))
    copy.__dict__.update({k: getattr(model, k) for k in model._get_param_names()})
    copy.state_ = model.state_
    copy.module_ = model.module_
    copy.history_ = {}
    return copy


def _model_key(model, label: str):
    """The model snapshot as one key of the graph (shared by every task)."""
    import dask

    return dask.delayed(snapshot(model), name=f"{label}-model-{uuid.uuid4().hex}",
                        traverse=False)


def map_pixels(kernel: Callable[..., np.ndarray], model, cube, valid: np.ndarray, *,
               tail: tuple[int, ...], label: str, **kwargs):
    """Run ``kernel(model, block, valid_block, **kwargs)`` on every chunk of a lazy cube.

    Parameters
    ----------
    kernel : callable
        Module-level function; gets the model snapshot, one chunk ``(cy, cx, ne)`` (float32)
        and its ``(cy, cx)`` block of ``valid``; returns float32 ``(cy, cx, *tail)``.
    model : BaseModel
        The fitted model (a snapshot goes into the graph).
    cube : dask.array.Array, shape (ny, nx, ne)
        Chunked over the scan with whole spectra (a lazy SpectrumImage's ``data``).
    valid : numpy.ndarray of bool, shape (ny, nx)
    tail : tuple of int
        Per-pixel shape of the result.
    label : str
        Prefix of the graph's keys (e.g. ``"vae-encode"``).
    **kwargs
        Passed to ``kernel``.

    Returns
    -------
    dask.array.Array
        float32 ``(ny, nx, *tail)``, chunked ``(cy, cx, *tail)`` like the cube.
    """
    import dask.array as da

    v = da.from_array(np.asarray(valid, bool), chunks=cube.chunks[:2])
    out_ind = "yx" + _TAIL[:len(tail)]
    return da.blockwise(kernel, out_ind, _model_key(model, label), None, cube, "yxe", v, "yx",
                        new_axes=dict(zip(_TAIL, tail, strict=False)), concatenate=True,
                        dtype=np.float32, name=f"{label}-{uuid.uuid4().hex}",
                        meta=np.empty((0,) * len(out_ind), np.float32), **kwargs)


def _window_task(kernel, model, region, pad, usable, offset, *extra, **kwargs):
    """One chunk of :func:`map_windows`: pad the halo region at the image edge, run the kernel.

    The padding never lies inside the window of a usable pixel.
    """
    region = np.asarray(region, dtype=np.float32)
    if any(p for pair in pad for p in pair):
        region = np.pad(region, pad)
    return kernel(model, region, usable, offset, *(np.asarray(e) for e in extra), **kwargs)


def map_windows(kernel: Callable[..., np.ndarray], model, image, usable: np.ndarray, *,
                window: int, chunks: tuple[tuple[int, ...], tuple[int, ...]],
                tail: tuple[int, ...], label: str, extra: tuple = (), **kwargs):
    """Run a windowed model's kernel on every chunk of the scan, with the windows' halo.

    The task of the chunk of rows ``y0:y1`` and columns ``x0:x1`` calls
    ``kernel(model, region, usable_region, offset, *extra_blocks, **kwargs)`` with

    - ``region``: ``image[:, y0 - b : y1 + a, x0 - b : x1 + a]`` (``b, a`` the pixels of a
      window before and after its pixel), zero-padded where it passes the image edge;
    - ``usable_region``: bool, the region's shape, True at the chunk's pixels that are True
      in ``usable`` (every one of their windows lies inside the image);
    - ``offset``: ``b``, the region's row (and column) of the chunk's first pixel;
    - ``extra_blocks``: the ``[y0:y1, x0:x1]`` block of each of ``extra``.

    It returns float32 ``(y1 - y0, x1 - x0, *tail)``. Chunks without a usable pixel are
    NaN without a task.

    Parameters
    ----------
    kernel : callable
        Module-level function (see above).
    model : BaseModel
        The fitted model (a snapshot goes into the graph).
    image : numpy.ndarray or dask.array.Array, shape (C, ny, nx)
        The image (HAADF as ``(1, ny, nx)``) or the stack of maps the windows are cut from.
    usable : numpy.ndarray of bool, shape (ny, nx)
        Pixels to compute (inside the border margin; and valid).
    window : int
        The window size.
    chunks : (tuple of int, tuple of int)
        Rows and columns per chunk of the result (the scan's chunks).
    tail : tuple of int
        Per-pixel shape of the result.
    label : str
        Prefix of the graph's keys.
    extra : tuple of arrays (numpy or dask), shape (ny, nx, ...)
        Passed block by block (no halo), e.g. the cube for the spectra at the pixels.
    **kwargs
        Passed to ``kernel``.

    Returns
    -------
    dask.array.Array
        float32 ``(ny, nx, *tail)`` with the given chunks.
    """
    import dask
    import dask.array as da

    before, after = window_bounds(window)
    ny, nx = usable.shape
    model_key = _model_key(model, label)
    token = uuid.uuid4().hex
    task = dask.delayed(_window_task, pure=False)
    meta = np.empty((0,) * (2 + len(tail)), np.float32)
    rows, y0 = [], 0
    for i, cy in enumerate(chunks[0]):
        row, x0 = [], 0
        for j, cx in enumerate(chunks[1]):
            shape = (int(cy), int(cx), *tail)
            block = usable[y0:y0 + cy, x0:x0 + cx]
            if not block.any():
                row.append(da.full(shape, np.nan, dtype=np.float32, chunks=shape))
            else:
                ys, ye = max(y0 - before, 0), min(y0 + cy + after, ny)
                xs, xe = max(x0 - before, 0), min(x0 + cx + after, nx)
                pad = ((0, 0), (ys - (y0 - before), y0 + cy + after - ye),
                       (xs - (x0 - before), x0 + cx + after - xe))
                region_usable = np.zeros((cy + before + after, cx + before + after), bool)
                region_usable[before:before + cy, before:before + cx] = block
                blocks = tuple(e[y0:y0 + cy, x0:x0 + cx] for e in extra)
                out = task(kernel, model_key, image[:, ys:ye, xs:xe], pad, region_usable,
                           before, *blocks, dask_key_name=f"{label}-{token}-{i}-{j}", **kwargs)
                row.append(da.from_delayed(out, shape, dtype=np.float32, meta=meta))
            x0 += cx
        rows.append(da.concatenate(row, axis=1))
        y0 += cy
    return da.concatenate(rows, axis=0)
