"""Run the per-block kernels of :mod:`._kernels` over an in-memory cube, strip by strip.

A strip is a few whole scan rows (about :data:`STRIP_BYTES`): a view of the cube, so a pass
over the data holds one strip's temporaries at a time and never a copy of the cube.
"""

from __future__ import annotations

import numpy as np

from ._kernels import Location, Prep, prepared

__all__ = ["STRIP_BYTES", "Strips", "add_sums"]

STRIP_BYTES = 8 * 2**20


def add_sums(a: tuple | None, b: tuple, in_place: bool = False) -> tuple:
    """Element-wise sum of two tuples of sums (``a`` None: ``b``); arrays add up in float64.

    ``in_place`` adds the arrays of ``b`` into the float64 arrays of ``a`` (which must be
    owned by the caller).
    """
    if a is None:
        return b

    def add(x, y):
        if not isinstance(x, np.ndarray):
            return x + y
        if in_place and x.dtype == np.float64:
            return np.add(x, y, out=x)
        return np.add(x, y, dtype=np.float64)

    return tuple(add(x, y) for x, y in zip(a, b, strict=True))


class Strips:
    """The row strips of an in-memory cube ``(ny, nx, ne)`` and its valid mask."""

    def __init__(self, cube: np.ndarray, valid: np.ndarray):
        self.cube, self.valid = cube, valid
        ny, nx, ne = cube.shape
        self.shape = (ny, nx, ne)
        self.n_valid = int(valid.sum())
        step = max(1, STRIP_BYTES // max(1, nx * ne * cube.itemsize))
        counts = valid.sum(axis=1)
        self.locations = [Location(y, min(y + step, ny), 0, nx, int(counts[:y].sum()))
                          for y in range(0, ny, step)]

    def _block(self, loc: Location, wa: np.ndarray | None):
        w = None if wa is None else wa[loc.y0:loc.y1]
        return self.cube[loc.y0:loc.y1], self.valid[loc.y0:loc.y1], w

    def run(self, fn, *args, wa: np.ndarray | None = None, width: int | None = None):
        """``(maps, sums)``: ``fn(block, valid, wa, location, *args)`` over every strip.

        ``maps`` is ``(ny, nx, width)`` float32 holding the per-pixel values (NaN at invalid
        pixels), None without ``width``; ``sums`` adds up the strips' sums.
        """
        ny, nx, _ = self.shape
        maps = None if width is None else np.full((ny, nx, width), np.nan, np.float32)
        total = None
        for loc in self.locations:
            block, valid, w = self._block(loc, wa)
            values, sums = fn(block, valid, w, loc, *args)
            if maps is not None:
                maps[loc.y0:loc.y1][valid] = values
            total = add_sums(total, sums, in_place=True)
        return maps, total

    def first(self, prep: Prep, wa: np.ndarray | None) -> np.ndarray:
        """The prepared rows of the first strip with a valid pixel."""
        for loc in self.locations:
            xw = prepared(*self._block(loc, wa), loc, prep)[1]
            if len(xw):
                return xw
        raise ValueError("no valid pixel")   # decompose refuses this case before

    def matrix(self, prep: Prep, wa: np.ndarray | None, clipped: bool) -> np.ndarray:
        """All prepared rows ``(n_valid, ne)``.

        A view of the cube when they are the cube's own values (every pixel valid, nothing
        clipped or weighted), else one float32 copy.
        """
        ny, nx, ne = self.shape
        if self.valid.all() and not clipped and prep.wb is None \
                and self.cube.dtype == np.float32:
            return self.cube.reshape(ny * nx, ne)
        out = np.empty((self.n_valid, ne), np.float32)
        for loc in self.locations:
            xw = prepared(*self._block(loc, wa), loc, prep)[1]
            out[loc.row0:loc.row0 + len(xw)] = xw
        return out
