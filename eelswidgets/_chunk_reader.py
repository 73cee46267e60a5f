"""Chunk-wise reads of a lazy cube for interactive views (one spectrum per click, reductions).

An explorer on a lazy (dask) spectrum image must never compute the cube. :class:`ChunkReader`
serves what its views need:

- :meth:`~ChunkReader.spectrum` reads the one chunk that holds a pixel and keeps the last few
  chunks in a small LRU cache, so a click next to the previous one costs no read; readers of
  the same dask array (linked explorers on one spectrum image) share one cache, so a click
  seen by all of them reads its chunk once. For a cube loaded from a file
  (:class:`eelswidgets._lazy.StoredTiles`), a click in a chunk not cached reads only its
  spectrum from the file's storage chunk holding it, checked as the chunk check does (dask
  would read and check the whole chunk); such a read is about as fast as a cache hit, so
  it is not cached. Storage chunks above ``TILE_BYTES`` (stores written with large chunks)
  would cost a large read per click: their chunks are read once and cached instead;
- :meth:`~ChunkReader.reduce` runs a small per-chunk function over the chunks (a few at a
  time, through dask, so a scheduler or cluster reads them in parallel), counting chunks in a
  progress display (:func:`eelswidgets._progress.steps`) and stopping between batches when
  asked; :meth:`~ChunkReader.energy_image`, :meth:`~ChunkReader.overview` and
  :meth:`~ChunkReader.mean_spectrum` are built on it.

Every reduction uses the same arithmetic per pixel as the in-memory explorer (float64 sums
cast to float32), so the results agree exactly. dask is imported inside the methods.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ._checks import check_int
from ._progress import steps

__all__ = ["CACHE_BYTES", "ChunkReader", "Overview", "TILE_BYTES"]

CACHE_BYTES = 256 * 2**20  # chunks kept for clicks (at least one chunk is always kept)
TILE_BYTES = 4 * 2**20  # largest storage chunk a click reads its spectrum from


class _Chunks(OrderedDict):
    """Chunks by ``(i, j)``, least recently used first (weakly shareable)."""


_SHARED: weakref.WeakValueDictionary[str, _Chunks] = weakref.WeakValueDictionary()


class Overview:
    """What one pass over every chunk gives: the total intensity image and the mean spectrum.

    Attributes
    ----------
    total : numpy.ndarray, shape (ny, nx)
        Sum over all channels (float32; NaN at invalid pixels).
    mean : numpy.ndarray, shape (ne,)
        Mean spectrum of the valid pixels (float32; NaN when none is valid).
    """

    def __init__(self, total: np.ndarray, mean: np.ndarray):
        self.total, self.mean = total, mean


class ChunkReader:
    """Read a lazy cube ``(ny, nx, ne)`` chunk by chunk (see the module docstring).

    Parameters
    ----------
    data : dask.array.Array
        Chunked over the scan only: ``(cy, cx, ne)`` (whole spectra per chunk).
    valid : numpy.ndarray of bool, shape (ny, nx), optional
        Pixels that hold a value (default all).
    cache_bytes : int
        Bytes of chunks kept for :meth:`spectrum` (at least one chunk).
    batch : int
        Chunks computed together by :meth:`reduce` (progress and cancellation act between
        batches; memory holds about ``batch`` chunks).
    tiles : eelswidgets._lazy.StoredTiles, optional
        Checked reads of the storage chunks ``data`` was loaded from (exactly its values):
        :meth:`spectrum` then reads one spectrum from its storage chunk, not a chunk, when
        a storage chunk holds at most ``tile_bytes``.
    tile_bytes : int
        Largest storage chunk (bytes as float32) read per click (see the module docstring).

    Attributes
    ----------
    reads : int
        Chunks read so far by this reader's :meth:`spectrum` (misses of the shared cache).
    tile_reads : int
        Spectra read so far from storage chunks by :meth:`spectrum` (with ``tiles``).
    """

    def __init__(self, data, valid: np.ndarray | None = None, *, cache_bytes: int = CACHE_BYTES,
                 batch: int = 4, tiles=None, tile_bytes: int = TILE_BYTES):
        if data.ndim != 3 or len(data.chunks[2]) != 1:
            raise ValueError(f"a ChunkReader needs a cube (ny, nx, ne) with whole spectra per "
                             f"chunk, got shape {data.shape} and chunks {data.chunks}")
        self.data = data
        ny, nx, ne = data.shape
        self.valid = (np.ones((ny, nx), bool) if valid is None
                      else np.asarray(valid, bool).reshape(ny, nx))
        self._ys = np.cumsum((0, *data.chunks[0]))
        self._xs = np.cumsum((0, *data.chunks[1]))
        self._blocks = None  # delayed chunks, made on first use
        chunk_bytes = max(data.chunks[0]) * max(data.chunks[1]) * ne * data.dtype.itemsize
        self._keep = max(1, int(cache_bytes) // max(1, chunk_bytes))
        self._batch = check_int(batch, "batch", low=1)
        cache = _SHARED.get(data.name)
        if cache is None:  # one cache per dask array, kept while a reader holds it
            cache = _SHARED[data.name] = _Chunks()
        self._cache = cache
        self.reads = 0
        self.tile_reads = 0
        if tiles is not None and tiles.shape != tuple(data.shape):
            raise ValueError(f"tiles of shape {tiles.shape} do not match the cube's "
                             f"{data.shape}")
        small = tiles is not None and tiles.block[0] * tiles.block[1] * ne * 4 <= tile_bytes
        self.tiles = tiles if small else None

    # ------------------------------------------------------------------ geometry
    @property
    def grid(self) -> tuple[int, int]:
        """Number of chunks along y and x."""
        return len(self._ys) - 1, len(self._xs) - 1

    def chunk_of(self, y: int, x: int) -> tuple[int, int]:
        """Index ``(i, j)`` of the chunk holding pixel ``(y, x)``."""
        return (int(np.searchsorted(self._ys, y, side="right")) - 1,
                int(np.searchsorted(self._xs, x, side="right")) - 1)

    def bounds(self, i: int, j: int) -> tuple[slice, slice]:
        """The pixels of chunk ``(i, j)`` as ``(rows, columns)`` slices."""
        return (slice(int(self._ys[i]), int(self._ys[i + 1])),
                slice(int(self._xs[j]), int(self._xs[j + 1])))

    def _delayed(self, i: int, j: int):
        if self._blocks is None:
            self._blocks = self.data.to_delayed()
        return self._blocks[i, j, 0]

    # ------------------------------------------------------------------ clicks
    def block(self, i: int, j: int) -> np.ndarray:
        """Chunk ``(i, j)`` as a read-only numpy array (from the cache, or read and cached)."""
        key = (int(i), int(j))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        arr = np.asarray(self._delayed(*key).compute())
        arr.setflags(write=False)
        self.reads += 1
        self._cache[key] = arr
        while len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return arr

    def clear(self) -> None:
        """Drop the cached chunks (they are read again when needed)."""
        self._cache.clear()

    def spectrum(self, y: int, x: int) -> np.ndarray:
        """The spectrum at ``(y, x)`` as a new float32 array.

        From a cached chunk when there is one, else read alone from its storage chunk (with
        ``tiles``), else its chunk is read and cached.
        """
        ny, nx = self.valid.shape
        y = check_int(y, "y", low=0, high=ny - 1)
        x = check_int(x, "x", low=0, high=nx - 1)
        i, j = self.chunk_of(y, x)
        if self.tiles is not None and (i, j) not in self._cache:
            self.tile_reads += 1
            return np.array(self.tiles.spectrum(y, x), dtype=np.float32)
        rows, cols = self.bounds(i, j)
        return np.array(self.block(i, j)[y - rows.start, x - cols.start], dtype=np.float32)

    # ------------------------------------------------------------------ reductions
    def reduce(self, func: Callable[[np.ndarray, slice, slice], Any], chunks=None, *,
               progress: Any = None, desc: str = "reading chunks",
               cancelled: Callable[[], bool] | None = None) -> list | None:
        """``func(chunk, rows, cols)`` for every chunk (or the given ``(i, j)`` chunks).

        Cached chunks are not read again. The others are computed ``batch`` at a time in one
        dask call each (only ``func``'s small results come back).

        Parameters
        ----------
        func : callable
            ``func(chunk, rows, cols)``: the chunk ``(cy, cx, ne)`` and its pixel slices.
        chunks : iterable of (int, int), optional
            The chunks to visit (default all, row by row).
        progress : see :func:`eelswidgets._progress.steps`
            Counts chunks (default: nothing shown).
        desc : str
            Label of the progress display.
        cancelled : callable, optional
            Asked between batches; when it returns True the pass stops and None is returned.

        Returns
        -------
        list or None
            The results in the order of ``chunks``; None when cancelled.
        """
        import dask

        ids = ([(i, j) for i in range(self.grid[0]) for j in range(self.grid[1])]
               if chunks is None else [(int(i), int(j)) for i, j in chunks])
        results: list = [None] * len(ids)
        todo = []
        for k, (i, j) in enumerate(ids):
            cached = self._cache.get((i, j))
            if cached is not None:
                results[k] = func(cached, *self.bounds(i, j))
            else:
                todo.append(k)
        with steps(len(ids), desc, progress) as counter:
            counter.advance(len(ids) - len(todo))
            for s in range(0, len(todo), self._batch):
                if cancelled is not None and cancelled():
                    return None
                part = todo[s:s + self._batch]
                tasks = [dask.delayed(func)(self._delayed(*ids[k]), *self.bounds(*ids[k]))
                         for k in part]
                for k, value in zip(part, dask.compute(*tasks), strict=True):
                    results[k] = value
                counter.advance(len(part))
        return results

    def energy_image(self, channels: slice, *, progress: Any = None,
                     cancelled: Callable[[], bool] | None = None) -> np.ndarray | None:
        """Sum of the ``channels`` at every pixel, ``(ny, nx)`` float32, NaN at invalid pixels.

        None when ``cancelled`` stopped the pass (see :meth:`reduce`).
        """
        def part(chunk, rows, cols):
            return chunk[..., channels].sum(axis=-1, dtype=np.float64)

        pieces = self.reduce(part, progress=progress, desc="energy-filtered image",
                             cancelled=cancelled)
        return None if pieces is None else self._assemble(pieces)

    def overview(self, *, progress: Any = None) -> Overview:
        """The total intensity image and the mean spectrum of the valid pixels, in one pass."""
        valid = self.valid

        def part(chunk, rows, cols):
            inside = valid[rows, cols]
            return (chunk.sum(axis=-1, dtype=np.float64),
                    chunk[inside].sum(axis=0, dtype=np.float64))

        pieces = self.reduce(part, progress=progress, desc="overview")
        total = self._assemble([p[0] for p in pieces])
        n = int(np.count_nonzero(valid))
        summed = np.sum([p[1] for p in pieces], axis=0)
        mean = (summed / n if n else np.full(self.data.shape[2], np.nan)).astype(np.float32)
        return Overview(total, mean)

    def mean_spectrum(self, ys: np.ndarray, xs: np.ndarray, *,
                      progress: Any = None) -> np.ndarray | None:
        """Mean spectrum of the pixels ``(ys, xs)`` (valid ones only; None if none).

        Only the chunks holding a selected pixel are read.
        """
        ys, xs = np.asarray(ys, np.int64), np.asarray(xs, np.int64)
        keep = self.valid[ys, xs]
        ys, xs = ys[keep], xs[keep]
        if ys.size == 0:
            return None
        ci = np.searchsorted(self._ys, ys, side="right") - 1
        cj = np.searchsorted(self._xs, xs, side="right") - 1
        ids = sorted(set(zip(ci.tolist(), cj.tolist(), strict=True)))
        groups = {c: (ci == c[0]) & (cj == c[1]) for c in ids}

        def part(chunk, rows, cols):
            m = groups[(self.chunk_of(rows.start, cols.start))]
            return chunk[ys[m] - rows.start, xs[m] - cols.start].sum(axis=0, dtype=np.float64)

        pieces = self.reduce(part, ids, progress=progress, desc="selection mean")
        return (np.sum(pieces, axis=0) / ys.size).astype(np.float32)

    def _assemble(self, pieces: list) -> np.ndarray:
        """An ``(ny, nx)`` float32 image from per-chunk pieces (row by row); NaN if invalid."""
        out = np.empty(self.valid.shape, np.float32)
        gx = self.grid[1]
        for k, piece in enumerate(pieces):
            out[self.bounds(*divmod(k, gx))] = piece
        out[~self.valid] = np.nan
        return out

