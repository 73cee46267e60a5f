"""Where the training samples of the pixel models come from: an in-memory cube or dask chunks.

A *sample* is one pixel of a spectrum image: its flat index ``y * nx + x`` and its spectrum.
Two sources give the same samples in the same units; the model turns a group of them into the
tensors of one mini-batch with its ``make_batch(pixels, rows)`` (normalising the spectra,
cutting HAADF windows...), so nothing per pixel is prepared for the whole data at once:

- :class:`ArraySamples` reads rows of an in-memory cube (a ``(n_pixels, ne)`` view, no copy)
  by index, one mini-batch at a time. It is a dataset with ``get_batch(idx)`` that the
  :class:`~eelswidgets.models.trainer.Trainer` permutes like any other.
- :class:`ChunkedSamples` streams a lazy (dask) cube through a *shuffle buffer*: an epoch
  visits the chunks in a seeded random order, reads ``buffer_chunks`` of them at a time (one
  ``dask.compute``, so a scheduler or cluster reads them in parallel), shuffles their pixels
  together and yields mini-batches; the pixels left over at the end of a buffer join the next
  one, so every kept pixel is seen exactly once per epoch and only the last mini-batch of an
  epoch may be short. The chunks of a buffer stay separate pieces (a mini-batch copies only
  its own rows), so a buffer holds its spectra once. Validation holds out whole chunks (see
  :meth:`ChunkedSamples.split`).

``make_batch`` may receive views of the data: it must not write to ``rows``.

Both compute the normalisation statistics the models need (:func:`spectra_stats`: the count,
the largest absolute value, and optionally the per-channel mean and standard deviation) in one
pass over blocks of rows, in float64 accumulators merged block by block, never through a
temporary of the whole data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from .._checks import check_int
from .._lazy import is_lazy_array
from .._limits import ENV_VAR, resolve_max_bytes

__all__ = ["BUFFER_BYTES", "ArraySamples", "ChunkGroup", "ChunkedSamples", "SpectraStats",
           "computed_maps", "finite_rows", "pixel_samples", "spectra_stats"]

BUFFER_BYTES = 256 * 2**20  #: about how many bytes of chunks one shuffle buffer reads
_BLOCK_BYTES = 2**20        #: bytes of spectra per block of an in-memory pass (stats, codes)

MakeBatch = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, ...]]


def _raw_batch(pixels: np.ndarray, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (torch.from_numpy(np.ascontiguousarray(rows)),)


class SpectraStats(NamedTuple):
    """Statistics of the kept spectra.

    ``count``, ``peak`` (largest absolute value) and, when asked for, ``mean`` and ``std``
    per channel (float64; None otherwise).
    """

    count: int
    peak: float
    mean: np.ndarray | None
    std: np.ndarray | None


def spectra_stats(blocks: Iterator[np.ndarray], moments: bool = False) -> SpectraStats:
    """Count, peak and (with ``moments``) per-channel mean and std of row blocks ``(m, ne)``.

    The moments are merged block by block (Chan et al.'s pairwise update of the mean and the
    sum of squared deviations), in float64, so no temporary is larger than one block.
    """
    count, peak, mean, m2 = 0, 0.0, None, None
    for rows in blocks:
        m = rows.shape[0]
        if m == 0:
            continue
        peak = max(peak, float(np.max(np.abs(rows))))
        if moments:
            bmean = rows.mean(axis=0, dtype=np.float64)
            bm2 = ((rows - bmean) ** 2).sum(axis=0, dtype=np.float64)
            if mean is None:
                mean, m2 = bmean, bm2
            else:
                delta = bmean - mean
                total = count + m
                mean = mean + delta * (m / total)
                m2 = m2 + bm2 + delta ** 2 * (count * m / total)
        count += m
    std = None if m2 is None else np.sqrt(m2 / max(count, 1))
    return SpectraStats(count, peak, mean, std)


# ----------------------------------------------------------------------------- in memory
class ArraySamples:
    """Samples from an in-memory cube, gathered (and made into tensors) one batch at a time.

    Parameters
    ----------
    rows : numpy.ndarray, shape (n_pixels, ne)
        The spectra of every pixel, row-major (a reshaped view of the cube: not copied).
    pixels : numpy.ndarray of int64, shape (n,)
        The flat indices of the pixels to use, in the order samples are numbered.
    make_batch : callable, optional
        ``make_batch(pixels, rows) -> tuple of tensors``; default: ``(rows,)``.
    """

    def __init__(self, rows: np.ndarray, pixels: np.ndarray, make_batch: MakeBatch | None = None):
        self.rows = rows
        self.pixels = np.asarray(pixels, dtype=np.int64)
        self.make_batch = make_batch or _raw_batch

    def __len__(self) -> int:
        return int(self.pixels.size)

    @property
    def n_energy(self) -> int:
        """Channels per spectrum."""
        return int(self.rows.shape[-1])

    def get_batch(self, idx) -> tuple[torch.Tensor, ...]:
        """Trainer protocol: the tensors of the samples ``idx``."""
        pix = self.pixels[np.asarray(torch.as_tensor(idx).cpu(), dtype=np.int64)]
        return self.make_batch(pix, self.rows[pix])

    def ordered(self, batch_size: int | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every sample once in order: ``(pixels, rows)`` per block of ``batch_size`` rows.

        Default: blocks of about ``_BLOCK_BYTES`` (1 MiB), so that a pass over the data (the
        statistics, the codes of the latent summary) holds no large temporary.
        """
        if batch_size is None:
            batch_size = _block_rows(self.rows.shape[-1])
        for start in range(0, len(self), batch_size):
            pix = self.pixels[start:start + batch_size]
            yield pix, self.rows[pix]

    def stats(self, moments: bool = False) -> SpectraStats:
        """See :func:`spectra_stats`."""
        return spectra_stats((rows for _, rows in self.ordered()), moments)


# ----------------------------------------------------------------------------- chunked
def _kept_rows(block: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The spectra of the kept pixels of one chunk, ``(m, ne)`` float32 (run on the worker).

    A chunk whose pixels are all kept is returned as a view (no copy).
    """
    block = np.asarray(block, dtype=np.float32)
    if keep.all():
        return block.reshape(-1, block.shape[-1])
    return np.ascontiguousarray(block[keep])


class _Buffer:
    """The rows of a few chunks, kept as separate pieces and indexed as if concatenated.

    Gathering a mini-batch copies only its rows, so a buffer never holds its spectra twice.
    """

    def __init__(self, pixels: list[np.ndarray], rows: list[np.ndarray]):
        self.pixels = np.concatenate(pixels).astype(np.int64, copy=False)
        self.rows = rows
        self.starts = np.cumsum([0, *(len(r) for r in rows)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def take(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels and spectra (a new array) of the rows ``sel`` of the concatenation."""
        which = np.searchsorted(self.starts, sel, side="right") - 1
        out = np.empty((len(sel), self.rows[0].shape[1]), dtype=np.float32)
        for i in np.unique(which):
            at = which == i
            out[at] = self.rows[i][sel[at] - self.starts[i]]
        return self.pixels[sel], out

    def pieces(self, step: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row once in order, ``(pixels, rows)`` in blocks of at most ``step`` (views)."""
        for i, rows in enumerate(self.rows):
            pix = self.pixels[self.starts[i]:self.starts[i + 1]]
            for start in range(0, len(rows), step):
                yield pix[start:start + step], rows[start:start + step]


class ChunkGroup(NamedTuple):
    """Chunks of a :class:`ChunkedSamples` (their numbers) and the samples they hold.

    ``len(group)`` is the number of samples, as the trainer counts them.
    """

    chunks: np.ndarray
    n: int

    def __len__(self) -> int:
        return self.n


class ChunkedSamples:
    """Samples streamed from the chunks of a lazy cube through a shuffle buffer.

    Parameters
    ----------
    cube : dask.array.Array, shape (ny, nx, ne)
        Chunked over the scan with the whole energy axis in every chunk.
    keep : numpy.ndarray of bool, shape (ny, nx)
        The pixels to use (valid, inside the training mask...).
    make_batch : callable, optional
        ``make_batch(pixels, rows) -> tuple of tensors``; default: ``(rows,)``.
    buffer_chunks : int, optional
        Chunks read into one shuffle buffer; default: as many as fit in
        :data:`BUFFER_BYTES` (at least one).

    Notes
    -----
    Chunks without a kept pixel are never read. :attr:`reads` counts the chunks read so far.
    """

    def __init__(self, cube, keep: np.ndarray, make_batch: MakeBatch | None = None, *,
                 buffer_chunks: int | None = None):
        if cube.ndim != 3 or len(cube.chunks[2]) != 1:
            raise ValueError(f"the lazy cube must be (ny, nx, ne) with the whole energy axis in "
                             f"every chunk, got chunks {cube.chunks}; rechunk it "
                             f"(si.rechunk((cy, cx)))")
        self.cube = cube
        self.keep = np.asarray(keep, dtype=bool)
        if self.keep.shape != cube.shape[:2]:
            raise ValueError(f"keep must have the scan shape {cube.shape[:2]}, got "
                             f"{self.keep.shape}")
        self.make_batch = make_batch or _raw_batch
        self.nx = int(cube.shape[1])
        ystarts = np.cumsum((0, *cube.chunks[0]))
        xstarts = np.cumsum((0, *cube.chunks[1]))
        blocks = cube.to_delayed()
        self._chunks: list[tuple[Any, slice, slice]] = []  # (delayed chunk, rows, columns)
        counts = []
        for i in range(len(cube.chunks[0])):
            for j in range(len(cube.chunks[1])):
                ys = slice(int(ystarts[i]), int(ystarts[i + 1]))
                xs = slice(int(xstarts[j]), int(xstarts[j + 1]))
                n = int(self.keep[ys, xs].sum())
                if n:
                    self._chunks.append((blocks[i, j, 0], ys, xs))
                    counts.append(n)
        self._counts = np.asarray(counts, dtype=np.int64)
        chunk_bytes = max(cube.chunks[0]) * max(cube.chunks[1]) * int(cube.shape[2]) * 4
        default = max(1, BUFFER_BYTES // max(1, chunk_bytes))
        self.buffer_chunks = (default if buffer_chunks is None
                              else check_int(buffer_chunks, "buffer_chunks", low=1))
        self.reads = 0

    def __len__(self) -> int:
        return int(self._counts.sum())

    @property
    def n_energy(self) -> int:
        """Channels per spectrum."""
        return int(self.cube.shape[2])

    @property
    def n_chunks(self) -> int:
        """Chunks that hold at least one kept pixel."""
        return len(self._chunks)

    # ------------------------------------------------------------------ reading
    def _read(self, chunk_ids, carry: tuple[np.ndarray, np.ndarray] | None = None) -> _Buffer:
        """The kept pixels and spectra of some chunks (after ``carry``, rows left over)."""
        import dask

        tasks, pixels = [], []
        for c in chunk_ids:
            block, ys, xs = self._chunks[int(c)]
            keep = self.keep[ys, xs]
            tasks.append(dask.delayed(_kept_rows)(block, keep))
            yy, xx = np.nonzero(keep)
            pixels.append((yy + ys.start) * self.nx + (xx + xs.start))
        rows = list(dask.compute(*tasks))
        self.reads += len(tasks)
        if carry is not None and len(carry[0]):
            pixels, rows = [carry[0], *pixels], [carry[1], *rows]
        return _Buffer(pixels, rows)

    def _pieces(self, chunk_ids: np.ndarray, step: int
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The kept rows of ``chunk_ids`` in order, a buffer at a time, in blocks of ``step``."""
        for start in range(0, len(chunk_ids), self.buffer_chunks):
            buf = self._read(chunk_ids[start:start + self.buffer_chunks])
            yield from buf.pieces(step)
            del buf  # before the next read: one buffer at a time

    def ordered(self, batch_size: int | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every sample once, chunk by chunk (no shuffle): ``(pixels, rows)`` per block.

        Blocks of ``batch_size`` rows (default about ``_BLOCK_BYTES``) are views of one
        buffer, so a pass holds one buffer and no large temporary.
        """
        yield from self._pieces(np.arange(self.n_chunks),
                                batch_size or _block_rows(self.n_energy))

    def stats(self, moments: bool = False) -> SpectraStats:
        """See :func:`spectra_stats` (one pass over the chunks, a buffer at a time)."""
        return spectra_stats((rows for _, rows in self.ordered()), moments)

    # ------------------------------------------------------------------ trainer protocol
    def split(self, val_fraction: float, gen: torch.Generator) -> tuple[ChunkGroup, ChunkGroup]:
        """Hold out whole chunks (seeded) for validation.

        Chunks are taken in a random order until they hold at least ``val_fraction`` of the
        samples (at least one chunk when ``val_fraction > 0``), so the validation pass reads
        only those chunks; validation pixels are therefore spatially grouped.

        Raises
        ------
        ValueError
            The held-out chunks would leave no training chunk.
        """
        if self.n_chunks == 0:
            raise ValueError("there are no training samples")
        if val_fraction <= 0:
            return ChunkGroup(np.arange(self.n_chunks), len(self)), ChunkGroup(
                np.zeros(0, np.int64), 0)
        order = torch.randperm(self.n_chunks, generator=gen).numpy()
        want = max(1, round(val_fraction * len(self)))
        held = np.cumsum(self._counts[order])
        n_val_chunks = int(np.searchsorted(held, want)) + 1
        if n_val_chunks >= self.n_chunks:
            raise ValueError(f"val_fraction={val_fraction} holds out every one of the "
                             f"{self.n_chunks} chunk(s) (validation holds out whole chunks); "
                             f"use smaller chunks (si.rechunk(...)) or a lower val_fraction")
        val, train = np.sort(order[:n_val_chunks]), np.sort(order[n_val_chunks:])
        return (ChunkGroup(train, int(self._counts[train].sum())),
                ChunkGroup(val, int(self._counts[val].sum())))

    def train_batches(self, part: ChunkGroup, batch_size: int, gen: torch.Generator
                      ) -> Iterator[tuple[torch.Tensor, ...]]:
        """One epoch: chunks in a seeded order, pixels shuffled within each buffer."""
        order = part.chunks[torch.randperm(len(part.chunks), generator=gen).numpy()]
        carry = None
        for start in range(0, len(order), self.buffer_chunks):
            buf = self._read(order[start:start + self.buffer_chunks], carry)
            perm = torch.randperm(len(buf), generator=gen).numpy()
            last = start + self.buffer_chunks >= len(order)
            end = len(buf) if last else len(buf) // batch_size * batch_size
            for first in range(0, end, batch_size):
                yield self.make_batch(*buf.take(perm[first:first + batch_size]))
            carry = buf.take(perm[end:])
            del buf  # before the next read: one buffer at a time

    def val_batches(self, part: ChunkGroup, batch_size: int
                    ) -> Iterator[tuple[torch.Tensor, ...]]:
        """The held-out chunks in order, in mini-batches (a chunk's last one may be short)."""
        for pix, rows in self._pieces(part.chunks, batch_size):
            yield self.make_batch(pix, rows)


# ----------------------------------------------------------------------------- factory
def _block_rows(ne: int) -> int:
    return max(1, _BLOCK_BYTES // (4 * max(1, int(ne))))


def finite_rows(rows: np.ndarray) -> np.ndarray:
    """Which rows of ``(n, ne)`` are finite throughout, one block of rows at a time."""
    out = np.empty(rows.shape[0], dtype=bool)
    step = _block_rows(rows.shape[-1])
    for start in range(0, rows.shape[0], step):
        out[start:start + step] = np.isfinite(rows[start:start + step]).all(axis=-1)
    return out


def computed_maps(stack, name: str = "stack"):
    """A lazy map stack ``(C, ny, nx)`` or image computed to NumPy; anything else unchanged.

    A stack of maps is small beside the cube it came from (C x ny x nx float32: 1024 x 1024 x
    3 is 12 MiB, the size of one row of a 1024 x 1024 x 3072 cube's chunks), and the rVAE's
    :class:`~eelswidgets.patches.Windows` keeps one normalised float32 copy of it anyway: the
    windows (C * w**2 values per pixel, 100 times the stack for 10 x 10 windows) are what must
    never be held, and they are cut one mini-batch at a time. So a dask stack is computed
    once, within the memory budget of :func:`eelswidgets._limits.resolve_max_bytes`.

    Raises
    ------
    ValueError
        A lazy array of ready-made windows ``(n, C, w, w)``, or a stack over the budget.
    """
    if not is_lazy_array(stack):
        return stack
    if stack.ndim not in (2, 3):
        raise ValueError(f"{name} is a lazy array of {stack.ndim} dimensions; pass the lazy "
                         f"stack of maps (C, ny, nx) (its windows are cut per batch) or "
                         f"compute ready-made windows first")
    nbytes = int(np.prod(stack.shape)) * 4
    budget = resolve_max_bytes()
    if nbytes > budget:
        raise ValueError(f"{name} {stack.shape} takes {nbytes / 2**30:.1f} GiB as float32, "
                         f"more than the memory budget of {budget / 2**30:.1f} GiB; bin the "
                         f"maps (fewer pixels) or raise ${ENV_VAR}")
    return np.asarray(stack.astype(np.float32).compute())


def pixel_samples(cube, keep: np.ndarray, make_batch: MakeBatch | None = None
                  ) -> ArraySamples | ChunkedSamples:
    """The sample source of the ``keep`` pixels of a cube ``(ny, nx, ne)``.

    A dask cube gives a :class:`ChunkedSamples`; an in-memory one an :class:`ArraySamples`
    over a ``(ny * nx, ne)`` view of it (a copy only if the cube is not contiguous).
    """
    if is_lazy_array(cube):
        return ChunkedSamples(cube, keep, make_batch)
    rows = np.asarray(cube).reshape(-1, cube.shape[-1])
    return ArraySamples(rows, np.flatnonzero(np.asarray(keep, dtype=bool)), make_batch)
