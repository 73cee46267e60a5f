"""Boolean pixel masks that split an image into a training and a test region.

Every helper returns a *training* mask of shape ``(ny, nx)``; the matching test mask is
``heldout_mask(train, valid)``, i.e. the pixels not trained on that still hold a value (and, for
windowed models, whose window fits in the image: see :func:`window_valid`).

Window geometry used by the windowed models: the window of side ``w`` around pixel ``(y, x)``
covers rows ``y - w//2 ... y - w//2 + w - 1`` (and the same for columns), so for an odd ``w``
the pixel is the exact centre and for an even ``w`` it is the pixel just below and right of the
centre (index ``w//2`` of the window), as for the paper's 16x16 sub-images; this is the
geometry of :mod:`eelswidgets.patches`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_int, check_mask
from ..patches import border_mask

__all__ = ["block_split", "heldout_mask", "left_right_split", "random_split", "window_valid"]


def _yx_shape(shape) -> tuple[int, int]:
    """``(ny, nx)`` from a shape tuple or from anything with a ``.shape`` (array, SI)."""
    if hasattr(shape, "shape"):
        shape = shape.shape
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) < 2:
        raise TypeError(f"shape must be (ny, nx) (or (ny, nx, ne)), got {shape!r}")
    ny = check_int(shape[0], "shape[0] (ny)", low=1)
    nx = check_int(shape[1], "shape[1] (nx)", low=1)
    return ny, nx


def _fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"fraction must be a number between 0 and 1, got {fraction!r}")
    f = float(fraction)
    if not 0.0 < f < 1.0:
        raise ValueError(f"fraction must be strictly between 0 and 1 (the share of pixels "
                         f"used for training), got {fraction!r}")
    return f


def window_valid(shape, window: int) -> np.ndarray:
    """Pixels whose ``window x window`` neighbourhood lies entirely inside the image.

    Parameters
    ----------
    shape : tuple or array or SpectrumImage
        ``(ny, nx)`` (extra trailing dimensions are ignored).
    window : int
        Window side ``w``.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        True for ``w//2 <= y <= ny - w + w//2`` (and likewise for ``x``).

    Raises
    ------
    ValueError
        If the window is larger than the image.
    """
    ny, nx = _yx_shape(shape)
    w = check_int(window, "window", low=1)
    if w > min(ny, nx):
        raise ValueError(f"window {w} is larger than the image ({ny}x{nx} pixels); "
                         f"use a window of at most {min(ny, nx)}")
    return border_mask((ny, nx), w)


def left_right_split(shape, fraction: float = 0.5, axis: int = 1) -> np.ndarray:
    """Train on the first part of the image along one axis (left part by default).

    Parameters
    ----------
    shape : tuple or array or SpectrumImage
        ``(ny, nx)``.
    fraction : float
        Share of the columns (``axis=1``) or rows (``axis=0``) used for training, in (0, 1).
    axis : {0, 1}
        1: left (train) / right (test); 0: top (train) / bottom (test).

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        The training mask.

    Examples
    --------
    >>> left_right_split((2, 4)).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]])
    """
    ny, nx = _yx_shape(shape)
    f = _fraction(fraction)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (rows: top/bottom) or 1 (columns: left/right), "
                         f"got {axis!r}")
    n = (ny, nx)[axis]
    cut = round(f * n)
    if not 0 < cut < n:
        raise ValueError(f"fraction {f} of {n} {'columns' if axis else 'rows'} leaves one "
                         f"side empty; choose a fraction between {1 / n:.3g} and "
                         f"{1 - 1 / n:.3g}")
    train = np.zeros((ny, nx), dtype=bool)
    if axis == 1:
        train[:, :cut] = True
    else:
        train[:cut, :] = True
    return train


def random_split(shape, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Train on a random subset of pixels (exactly ``round(fraction * ny * nx)`` of them).

    Parameters
    ----------
    shape : tuple or array or SpectrumImage
        ``(ny, nx)``.
    fraction : float
        Share of pixels used for training, in (0, 1).
    seed : int
        Seed of the random generator (same seed, same mask).

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
    """
    ny, nx = _yx_shape(shape)
    f = _fraction(fraction)
    seed = check_int(seed, "seed", low=0)
    n = ny * nx
    k = min(max(round(f * n), 1), n - 1) if n > 1 else 1
    rng = np.random.default_rng(seed)
    train = np.zeros(n, dtype=bool)
    train[rng.choice(n, size=k, replace=False)] = True
    return train.reshape(ny, nx)


def block_split(shape, blocks: tuple[int, int] = (4, 4), fraction: float = 0.5,
                seed: int = 0) -> np.ndarray:
    """Train on a random subset of rectangular blocks (less spatial leakage than pixels).

    The image is cut into ``blocks[0] x blocks[1]`` near-equal tiles and
    ``round(fraction * n_blocks)`` of them (at least one, at most all but one) are drawn.

    Parameters
    ----------
    shape : tuple or array or SpectrumImage
        ``(ny, nx)``.
    blocks : (int, int)
        Number of tiles along y and x.
    fraction : float
        Share of tiles used for training, in (0, 1).
    seed : int
        Seed of the random generator.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
    """
    ny, nx = _yx_shape(shape)
    f = _fraction(fraction)
    seed = check_int(seed, "seed", low=0)
    if not hasattr(blocks, "__len__") or len(blocks) != 2:
        raise TypeError(f"blocks must be a pair (by, bx), got {blocks!r}")
    by = check_int(blocks[0], "blocks[0]", low=1, high=ny)
    bx = check_int(blocks[1], "blocks[1]", low=1, high=nx)
    nb = by * bx
    if nb < 2:
        raise ValueError("block_split needs at least 2 blocks, e.g. blocks=(2, 2)")
    k = min(max(round(f * nb), 1), nb - 1)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(nb, dtype=bool)
    chosen[rng.choice(nb, size=k, replace=False)] = True
    row_block = np.minimum(np.arange(ny) * by // ny, by - 1)
    col_block = np.minimum(np.arange(nx) * bx // nx, bx - 1)
    return chosen.reshape(by, bx)[row_block[:, None], col_block[None, :]]


def heldout_mask(train, valid=None) -> np.ndarray:
    """Pixels not in ``train`` that are in ``valid`` (the test region).

    Parameters
    ----------
    train : array_like of bool, shape (ny, nx)
        Training mask.
    valid : array_like of bool, shape (ny, nx), optional
        Pixels that can be evaluated (e.g. ``si.valid & window_valid(si, w)``).

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
    """
    t = np.asarray(train)
    if t.ndim != 2:
        raise ValueError(f"train must be a 2D (ny, nx) mask, got shape {t.shape}")
    t = check_mask(t, t.shape, "train")
    out = ~t
    if valid is not None:
        out &= check_mask(valid, t.shape, "valid")
    return out
