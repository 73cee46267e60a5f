"""What a decomposition computes on one block of a cube: numpy in, small results out.

A block is ``(cy, cx, ne)`` spectra with its ``(cy, cx)`` valid mask and (Poisson weighting)
its ``(cy, cx)`` pixel weights; only valid pixels enter. The same functions run on the row
strips of an in-memory cube (:mod:`._strips`) and on the chunks of a dask cube (:mod:`._chunks`),
so the two paths give the same numbers. Each returns ``(values, sums)``: per-pixel values
``(m, d)`` for the ``m`` valid pixels of the block (or None) and a tuple of sums that add up
over blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GRAM_ROWS", "Location", "Prep", "gram", "prepared", "residual", "sample", "stats"]

GRAM_ROWS = 4096  # rows per float32 product before adding it to the float64 Gram matrix


@dataclass(frozen=True)
class Location:
    """Where a block sits: scan rows ``y0:y1``, columns ``x0:x1``.

    ``row0`` is the index of its first valid pixel among all valid pixels (in-memory strips
    only, else -1).
    """

    y0: int
    y1: int
    x0: int
    x1: int
    row0: int = -1

    def __str__(self) -> str:
        return f"y {self.y0}:{self.y1}, x {self.x0}:{self.x1}"


@dataclass(frozen=True)
class Prep:
    """How raw spectra become the rows that are factorised.

    Attributes
    ----------
    needs : str or None
        What needs non-negative data (``"NMF"``, ``"Poisson weighting"``), None if nothing.
    clip : bool
        Set negative values to 0 (else they raise, when ``needs`` is set).
    wb : numpy.ndarray or None
        ``(ne,)`` float32 channel weights (``sqrt`` of the mean spectrum); None: unweighted.
    """

    needs: str | None = None
    clip: bool = False
    wb: np.ndarray | None = None


def _rows(block: np.ndarray, valid: np.ndarray) -> np.ndarray:
    flat = block.reshape(-1, block.shape[-1])
    return flat if valid.all() else flat[valid.ravel()]


def prepared(block, valid, wa, where: Location, prep: Prep):
    """Prepare the valid rows of a block.

    Returns ``(x, xw, wa_rows, negatives)``: the valid rows (clipped), the weighted rows
    (``x`` itself when unweighted), their pixel weights and the number of values clipped.

    Raises
    ------
    ValueError
        Negative values where ``prep.needs`` non-negative data and ``prep.clip`` is False;
        the message names the block and the fix.
    """
    x = _rows(block, valid)
    negatives = 0
    if prep.needs is not None:
        negatives = int(np.count_nonzero(x < 0))
        if negatives and not prep.clip:
            raise ValueError(
                f"{prep.needs} needs non-negative data but the pixels {where} hold {negatives} "
                f"negative value(s) (min {float(x.min()):.3g}); remove the zero-loss tail or "
                "background first (si.remove_zlp(...) / si.remove_background(...)) and then "
                "si.clip(0), or pass allow_negative='clip'")
        if negatives:
            x = np.maximum(x, 0)
    if prep.wb is None:
        return x, x, None, negatives
    wa_rows = _rows(wa[..., None], valid)[:, 0]
    return x, x / (wa_rows[:, None] * prep.wb), wa_rows, negatives


def stats(block, valid, wa, where: Location, prep: Prep):
    """Per pixel: the mean of its spectrum; sums: ``(n, column sums)`` (float64)."""
    x = prepared(block, valid, wa, where, prep)[0]
    return x.mean(axis=1, dtype=np.float64)[:, None], (x.shape[0], x.sum(0, dtype=np.float64))


def sample(block, valid, wa, where: Location, prep: Prep, step: int) -> np.ndarray:
    """Every ``step``-th prepared row of the block (a float32 copy)."""
    return np.array(prepared(block, valid, wa, where, prep)[1][::step], np.float32)


def gram(block, valid, wa, where: Location, prep: Prep, shift: np.ndarray):
    """Sums of ``c = xw - shift``: ``(n, sum of c, c^T c, values clipped)``.

    The products run in float32 on at most :data:`GRAM_ROWS` rows at a time and are added up
    in float64 (here and by :func:`._strips.add_sums`); ``shift`` (close to the mean) keeps the
    centring exact.
    """
    _, xw, _, negatives = prepared(block, valid, wa, where, prep)
    m, ne = xw.shape
    g, s = None, np.zeros(ne)
    buffer = np.empty((min(m, GRAM_ROWS), ne), np.float32)
    for i in range(0, m, GRAM_ROWS):
        c = buffer[:min(GRAM_ROWS, m - i)]
        np.subtract(xw[i:i + GRAM_ROWS], shift, out=c)
        product = c.T @ c
        g = product if g is None else np.add(g, product, dtype=np.float64)
        s += c.sum(0)
    return None, (m, s, np.zeros((ne, ne), np.float32) if g is None else g, negatives)


def _squares(r: np.ndarray) -> float:
    """``sum(r**2)``: float32 per row, float64 over rows."""
    return float(np.einsum("ij,ij->i", r, r).sum(dtype=np.float64))


def residual(block, valid, wa, where: Location, prep: Prep, scorer, spectra: np.ndarray,
             offset: np.ndarray | None, with_norm: bool):
    """Per pixel: the scores ``A = scorer(xw, where)``; sums: ``(|x - model|^2, |x|^2)``.

    The model is ``(A spectra + offset) * weights`` in the data's scale; it is built for this
    block only. ``|x|^2`` is 0 unless ``with_norm``.
    """
    x, xw, wa_rows, _ = prepared(block, valid, wa, where, prep)
    scores = np.asarray(scorer(xw, where), dtype=np.float32)
    r = scores @ spectra
    if offset is not None:
        r += offset
    r -= xw
    if wa_rows is not None:
        r *= wa_rows[:, None]
        r *= prep.wb
    return scores, (_squares(r), _squares(x) if with_norm else 0.0)
