"""Lazy (dask) spectrum-image cubes: chunking, chunk-wise validation and per-chunk kernels.

A lazy cube is a ``dask.array.Array`` of shape ``(ny, nx, ne)``, float32, chunked over the scan
with the whole energy axis in every chunk: ``(cy, cx, ne)``. Every per-pixel kernel of
:mod:`eelswidgets.preprocess` then runs unchanged on one chunk at a time (no second
implementation). Nothing here computes: validation that needs the values (finiteness, float32
overflow) is a step of the graph that raises a ``ValueError`` naming the chunk and the first bad
pixel when that chunk is computed.

dask is imported inside the functions, so in-memory use never pays for it; a lazy cube can only
exist where dask is installed.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ._checks import check_int, check_real_dtype, count_nonfinite

__all__ = ["STORAGE_CHUNK_BYTES", "TARGET_CHUNK_BYTES", "StoredTiles", "checked",
           "chunks_over", "default_chunks", "exact_median", "is_lazy_array", "lazy_cube",
           "map_spectra", "mark_stored", "scan_chunks", "storage_chunks",
           "stored_tiles"]

TARGET_CHUNK_BYTES = 64 * 2**20  # default chunk size (float32 values of whole spectra)
STORAGE_CHUNK_BYTES = 2**20  # default storage chunk of a .zarr store (what a click reads)
_STORED = "_eelswidgets_stored"  # attribute of a dask cube read straight from a file


def is_lazy_array(x: Any) -> bool:
    """Whether ``x`` is a dask array (without importing dask when it is not loaded)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def default_chunks(shape: tuple[int, int, int], itemsize: int = 4,
                   target: int = TARGET_CHUNK_BYTES) -> tuple[int, int, int]:
    """``(cy, cx, ne)``: square-ish scan blocks of whole spectra of about ``target`` bytes."""
    ny, nx, ne = (int(n) for n in shape)
    pixels = max(1, target // max(1, ne * itemsize))
    cx = min(nx, max(1, math.isqrt(pixels)))
    cy = min(ny, max(1, pixels // cx))
    return cy, cx, ne


def storage_chunks(shape: tuple[int, int, int], chunks: Any = None,
                   target: int = STORAGE_CHUNK_BYTES) -> tuple[int, int, int]:
    """``(sy, sx, ne)``: storage chunks of about ``target`` bytes for a cube written in ``chunks``.

    Without ``chunks``, :func:`default_chunks` of ``target``. With the ``(cy, cx)`` chunks of a
    lazy cube, each storage side divides the chunk side (so every chunk is written as whole
    storage chunks): the side itself when it is at most the target's, else its largest divisor
    between half the target's side and the target's side, else the target's side (the cube is
    then rechunked to multiples of it for writing, see :func:`chunks_over`).
    """
    ty, tx, ne = default_chunks(shape, target=target)
    if chunks is None:
        return ty, tx, ne
    sides = []
    for c, t in zip(chunks[:2], (ty, tx), strict=True):
        c = int(c)
        if c <= t:
            sides.append(c)
            continue
        divisors = [d for d in range(t, max(1, t // 2) - 1, -1) if c % d == 0]
        sides.append(divisors[0] if divisors else t)
    return sides[0], sides[1], ne


def chunks_over(storage: tuple[int, ...], shape: tuple[int, int, int],
                target: int = TARGET_CHUNK_BYTES,
                near: tuple[int, ...] | None = None) -> tuple[int, int, int]:
    """``(cy, cx, ne)``: chunks of about ``target`` bytes (or ``near``) of whole storage chunks.

    Each side is the largest multiple of the storage side not above the wanted side (at least
    one storage chunk), so a dask chunk reads or writes only whole storage chunks.
    """
    ny, nx, ne = (int(n) for n in shape)
    want = default_chunks(shape, target=target) if near is None else near
    out = []
    for s, w, n in zip(storage[:2], want[:2], (ny, nx), strict=True):
        s = max(1, int(s))
        out.append(min(n, max(s, (int(w) // s) * s)))
    return out[0], out[1], ne


def scan_chunks(shape: tuple[int, int, int], chunks: Any = None) -> tuple[int, int, int]:
    """Check chunks given by a user and return them as ``(cy, cx, ne)``.

    Parameters
    ----------
    shape : (int, int, int)
        The cube's shape.
    chunks : None, "auto", (cy, cx) or (cy, cx, ne)
        Pixels per chunk along y and x; the energy axis is always whole (``ne`` or -1).

    Raises
    ------
    TypeError, ValueError
        Not a pair/triple of positive integers, or the energy axis split.
    """
    ny, nx, ne = shape
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        return default_chunks(shape)
    if isinstance(chunks, (str, bytes)) or not hasattr(chunks, "__len__") \
            or len(chunks) not in (2, 3):
        raise TypeError(f"chunks must be 'auto', (cy, cx) or (cy, cx, ne) pixels per chunk, "
                        f"got {chunks!r}")
    cy = check_int(chunks[0], "chunks[0] (rows per chunk)", low=1)
    cx = check_int(chunks[1], "chunks[1] (columns per chunk)", low=1)
    if len(chunks) == 3 and chunks[2] not in (-1, ne):
        raise ValueError(f"chunks must keep the energy axis whole (chunks[2] = {ne} or -1, got "
                         f"{chunks[2]!r}): every per-pixel kernel needs whole spectra")
    return min(cy, ny), min(cx, nx), ne


def _checked_float32(block: np.ndarray, valid: np.ndarray, *, name: str,
                     block_info: dict | None = None) -> np.ndarray:
    """One chunk as float32, refusing NaN/Inf at valid pixels and float32 overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = block.astype(np.float32, copy=False)
    where = valid[..., 0]
    if out.size == 0:
        return out
    if block_info and 0 in block_info:
        (y0, y1), (x0, x1) = block_info[0]["array-location"][:2]
    else:
        (y0, y1), (x0, x1) = (0, out.shape[0]), (0, out.shape[1])
    overflow = (count_nonfinite(out, test=lambda b: ~np.isinf(b))
                - count_nonfinite(block, test=lambda b: ~np.isinf(b)))
    if overflow:
        raise ValueError(f"{name} holds {overflow} finite value(s) beyond the float32 range in "
                         f"the chunk y {y0}:{y1}, x {x0}:{x1}; rescale it first, e.g. divide it "
                         "by its largest absolute value")
    bad = count_nonfinite(out, where=where)
    if bad:
        finite = np.isfinite(out).all(axis=-1) | ~where
        y, x = (int(v) for v in np.argwhere(~finite)[0])
        raise ValueError(f"{name} contains {bad} NaN/Inf value(s) in the chunk y {y0}:{y1}, "
                         f"x {x0}:{x1} (the first at pixel ({y0 + y}, {x0 + x})); replace "
                         "them first (e.g. data.map_blocks(np.nan_to_num)) or mark those "
                         "pixels invalid with valid=")
    return out


class StoredTiles:
    """Checked reads of the stored array under a lazy cube, one storage chunk at a time.

    A click needs one spectrum: reading it through the dask graph would compute the whole
    chunk through the check step (dask does not narrow a slice through it). This reads it
    straight from the array the cube was loaded from (which reads only the storage chunk
    holding it) and applies the same check as :func:`checked` to what it read (float32
    conversion, overflow, NaN/Inf at valid pixels), with the same message naming the pixel.

    Parameters
    ----------
    array : array-like
        The stored ``(ny, nx, ne)`` array (numpy slicing by ``[rows, cols]``), e.g. a zarr
        array; exactly the values of the lazy cube before its check.
    block : (int, int)
        Pixels per storage chunk along y and x (what one read decompresses at most).
    valid : numpy.ndarray of bool, shape (ny, nx)
        Pixels whose spectra must be finite.
    name : str
        Name used in messages.
    """

    def __init__(self, array, block: tuple[int, int], valid: np.ndarray, name: str):
        self.array = array
        self.shape = tuple(int(n) for n in array.shape)
        self.block = (max(1, int(block[0])), max(1, int(block[1])))
        self.valid = np.asarray(valid, bool)
        self.name = name

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """The checked float32 block ``[rows, cols]`` (``ValueError`` as :func:`checked`)."""
        want = (rows.stop - rows.start, cols.stop - cols.start, self.shape[2])
        block = np.asarray(self.array[rows, cols])
        if block.shape != want:
            raise ValueError(f"{self.name}: reading pixels y {rows.start}:{rows.stop}, x "
                             f"{cols.start}:{cols.stop} gave shape {block.shape}, not {want}; "
                             "the file is corrupt")
        location = {0: {"array-location": [(rows.start, rows.stop), (cols.start, cols.stop)]}}
        return _checked_float32(block, self.valid[rows, cols, None], name=self.name,
                                block_info=location)

    def spectrum(self, y: int, x: int) -> np.ndarray:
        """The checked float32 spectrum at ``(y, x)`` (reads only from its storage chunk)."""
        return self.read(slice(y, y + 1), slice(x, x + 1))[0, 0]


def mark_stored(cube, array, block: tuple[int, int]):
    """Note on the dask ``cube`` that it is ``array`` read unchanged (storage chunks ``block``).

    Only this dask array object carries the note: any array derived from it (rechunked,
    sliced, converted) is a new object without it, so :class:`StoredTiles` is only ever used
    for a cube whose values are exactly the stored ones. Returns ``cube``.
    """
    if tuple(cube.shape) != tuple(array.shape):
        raise ValueError(f"the stored array has shape {array.shape}, the cube {cube.shape}")
    setattr(cube, _STORED, (array, (int(block[0]), int(block[1]))))
    return cube


def stored_tiles(cube, valid: np.ndarray, name: str) -> StoredTiles | None:
    """:class:`StoredTiles` of a cube marked by :func:`mark_stored`, else None."""
    mark = getattr(cube, _STORED, None)
    return None if mark is None else StoredTiles(mark[0], mark[1], valid, name)


def lazy_cube(x, name: str, chunks: Any = None):
    """Check a dask cube's type and shape (without computing) and chunk it ``(cy, cx, ne)``.

    Parameters
    ----------
    x : dask.array.Array, shape (ny, nx, ne)
        Real numbers (bool, int or float).
    name : str
        Name used in messages.
    chunks : see :func:`scan_chunks`, optional
        Default: keep the chunks of ``x`` when the energy axis is whole, else
        :func:`default_chunks`.

    Returns
    -------
    dask.array.Array
        ``x``, rechunked if needed (same dtype: see :func:`checked`).
    """
    check_real_dtype(x.dtype, name)
    if x.ndim != 3:
        raise ValueError(f"{name} must have 3 dimensions, got shape {x.shape} ({x.ndim} "
                         "dimensions)")
    if any(math.isnan(n) for n in x.shape):
        raise ValueError(f"{name} has unknown chunk sizes {x.shape}; call "
                         "data.compute_chunk_sizes() first")
    if chunks is not None:
        return x.rechunk(scan_chunks(x.shape, chunks))
    if len(x.chunks[2]) > 1:
        return x.rechunk(default_chunks(x.shape))
    return x


def checked(x, name: str, valid: np.ndarray):
    """``x`` as float32 whose chunks are checked when computed (see the module docstring).

    Parameters
    ----------
    x : dask.array.Array
        From :func:`lazy_cube`.
    name : str
        Name used in messages.
    valid : numpy.ndarray of bool, shape (ny, nx)
        Pixels whose spectra must be finite.

    Returns
    -------
    dask.array.Array
        float32; computing a chunk raises ``ValueError`` (naming the chunk and the first bad
        pixel) for NaN/Inf at a valid pixel or a finite value beyond the float32 range.
    """
    import dask.array as da

    v = da.from_array(np.asarray(valid, bool)[..., None], chunks=(x.chunks[0], x.chunks[1], 1))
    return da.map_blocks(functools.partial(_checked_float32, name=name), x, v,
                         dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))


def map_spectra(func: Callable[..., np.ndarray], cube, *, maps: tuple[np.ndarray, ...] = (),
                lazy_args: tuple = (), ne_out: int | None = None, **kwargs):
    """Apply a per-pixel kernel to every chunk of a lazy cube; the result is lazy too.

    ``func(block, *map_blocks, *lazy_values, **kwargs)`` gets one chunk ``(cy, cx, ne)``, the
    matching ``(cy, cx)`` blocks of the pixel ``maps`` (numpy, e.g. the valid mask) and the
    whole value of each of ``lazy_args`` (dask arrays: global results such as a maximum or
    fitted constants, computed once when the graph runs); it returns ``(cy, cx, ne_out)``.

    Parameters
    ----------
    func : callable
        The numpy kernel (the same one the in-memory method calls).
    cube : dask.array.Array
        ``(ny, nx, ne)`` with the energy axis in one chunk.
    maps : tuple of numpy.ndarray
        ``(ny, nx)`` arrays, chunked like the scan.
    lazy_args : tuple of dask.array.Array
        Arrays passed whole (at most 8 dimensions each).
    ne_out : int, optional
        Channels of the result (default: those of ``cube``).
    **kwargs
        Passed to ``func``.

    Returns
    -------
    dask.array.Array
        float32 ``(ny, nx, ne_out)``, same scan chunks.
    """
    import dask.array as da

    pairs: list[Any] = [cube, "yxe"]
    for m in maps:
        pairs += [da.from_array(np.asarray(m), chunks=cube.chunks[:2]), "yx"]
    for i, a in enumerate(lazy_args):
        pairs += [a, "".join(chr(ord("A") + 8 * i + k) for k in range(a.ndim))]
    adjust = None if ne_out is None else {"e": int(ne_out)}
    return da.blockwise(func, "yxe", *pairs, dtype=np.float32, concatenate=True,
                        adjust_chunks=adjust, meta=np.empty((0, 0, 0), np.float32), **kwargs)


_KEY_SHIFT = 48  # a float64's sign, exponent and 4 mantissa bits: bins of 1/16 octave


def _keys(values: np.ndarray) -> np.ndarray:
    return (np.abs(np.asarray(values, np.float64)) + 0.0).view(np.uint64) >> _KEY_SHIFT


def _histogram(values: np.ndarray) -> np.ndarray:
    return np.bincount(_keys(values).astype(np.int64), minlength=1 << 15)[None, :]


def _inside(values: np.ndarray, bins: tuple[int, ...]) -> np.ndarray:
    values = np.abs(np.asarray(values, np.float64)) + 0.0
    return values[np.isin(_keys(values), bins)]


def exact_median(parts: list) -> float:
    """``np.median`` of the non-negative values of many pieces, without holding them together.

    Two passes over the pieces: the first counts the values per bin of their float64 bit
    pattern (1/16 of an octave wide, monotonic for non-negative floats) to find the bins that
    hold the middle rank(s); the second gathers only the values in those bins, which are
    sorted to give the exact median (the mean of the two middle values for an even count).

    Parameters
    ----------
    parts : list of dask.delayed.Delayed
        Each computes a 1-D array of non-negative values (NaN is not allowed).

    Returns
    -------
    float
        NaN when there are no values.
    """
    import dask
    import dask.array as da

    nbins = 1 << 15
    hists = [da.from_delayed(dask.delayed(_histogram)(p), (1, nbins), np.int64) for p in parts]
    counts = da.concatenate(hists).sum(axis=0).compute()
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    cum = np.cumsum(counts)
    ranks = sorted({(n - 1) // 2, n // 2})
    bins = tuple(int(np.searchsorted(cum, r, side="right")) for r in ranks)
    chosen = np.sort(np.concatenate(dask.compute(*[dask.delayed(_inside)(p, bins)
                                                    for p in parts])))
    below = int(cum[min(bins) - 1]) if min(bins) > 0 else 0
    return float(np.mean([chosen[r - below] for r in ranks]))
