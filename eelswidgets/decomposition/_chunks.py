"""Run the per-block kernels of :mod:`._kernels` over the chunks of a lazy (dask) cube.

Every pass is one dask graph: a kernel task per chunk (after the chunk's own graph: reading,
preprocessing, the finiteness check) and a tree of additions of the small sums, so only a few
chunks and partial sums are in memory at once and the work runs on whatever scheduler is
active (threads, or a ``dask.distributed`` client). Per-pixel values come back as numpy maps.
The NMF fit reads the chunks one group at a time instead (:meth:`Chunks.batches`), as it
updates the estimator in between.
"""

from __future__ import annotations

from operator import getitem

import numpy as np

from ._kernels import Location, Prep, prepared, sample
from ._strips import add_sums

__all__ = ["Chunks", "SPLIT_EVERY"]

SPLIT_EVERY = 4   # partial sums added per task of the reduction tree


def _add(*parts: tuple) -> tuple:
    total = None
    for p in parts:
        total = add_sums(total, p)
    return total


def _tree_sum(parts: list):
    import dask

    add = dask.delayed(_add, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[i:i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


class Chunks:
    """The chunks ``(cy, cx, ne)`` of a dask cube and the numpy valid mask."""

    def __init__(self, cube, valid: np.ndarray):
        self.cube, self.valid = cube, valid
        self.shape = tuple(int(n) for n in cube.shape)
        self.n_valid = int(valid.sum())
        ys = np.cumsum((0, *cube.chunks[0]))
        xs = np.cumsum((0, *cube.chunks[1]))
        delayed = cube.to_delayed()
        self.blocks = [(delayed[i, j, 0], Location(int(ys[i]), int(ys[i + 1]),
                                                   int(xs[j]), int(xs[j + 1])))
                       for i in range(len(ys) - 1) for j in range(len(xs) - 1)]

    def _tasks(self, fn, args, wa):
        import dask

        call = dask.delayed(fn, pure=True)
        tasks = []
        for block, loc in self.blocks:
            v = self.valid[loc.y0:loc.y1, loc.x0:loc.x1]
            if not v.any():
                continue
            w = None if wa is None else wa[loc.y0:loc.y1, loc.x0:loc.x1]
            tasks.append((call(block, v, w, loc, *args), loc, v))
        return tasks

    def run(self, fn, *args, wa: np.ndarray | None = None, width: int | None = None):
        """``(maps, sums)`` as :meth:`._strips.Strips.run`, as one dask computation."""
        import dask

        tasks = self._tasks(fn, args, wa)
        sums = _tree_sum([dask.delayed(getitem, pure=True)(t, 1) for t, _, _ in tasks])
        if width is None:
            return None, dask.compute(sums)[0]
        values = [dask.delayed(getitem, pure=True)(t, 0) for t, _, _ in tasks]
        total, values = dask.compute(sums, values)
        ny, nx, _ = self.shape
        maps = np.full((ny, nx, width), np.nan, np.float32)
        for (_, loc, v), vals in zip(tasks, values, strict=True):
            maps[loc.y0:loc.y1, loc.x0:loc.x1][v] = vals
        return maps, total

    def first(self, prep: Prep, wa: np.ndarray | None) -> np.ndarray:
        """The prepared rows of the first chunk with a valid pixel (that chunk is computed)."""
        t = self._tasks(prepared, (prep,), wa)[0][0]
        return t.compute()[1]

    def sample(self, prep: Prep, wa: np.ndarray | None, max_rows: int) -> np.ndarray:
        """At most about ``max_rows`` prepared rows, every n-th valid pixel of every chunk."""
        import dask

        step = max(1, -(-self.n_valid // max_rows))
        parts = dask.compute(*[t for t, _, _ in self._tasks(sample, (prep, step), wa)])
        return np.concatenate(parts)

    def batches(self, prep: Prep, wa: np.ndarray | None, min_rows: int, group: int = 2):
        """Yield the prepared rows chunk after chunk (``group`` chunks per computation).

        Chunks with fewer than ``min_rows`` valid pixels are joined to the next.
        """
        import dask

        tasks = [t for t, _, _ in self._tasks(prepared, (prep,), wa)]
        pending: list[np.ndarray] = []
        for i in range(0, len(tasks), group):
            for part in dask.compute(*tasks[i:i + group]):
                pending.append(part[1])
                if sum(len(p) for p in pending) >= min_rows:
                    yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                    pending = []
        if pending:
            yield np.concatenate(pending)
