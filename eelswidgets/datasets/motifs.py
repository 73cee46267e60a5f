"""Stacks of maps holding copies of one multichannel motif rotated by known angles.

Ground truth for rotationally invariant models: every copy is the same motif rendered
analytically (no interpolation) at a known angle, so an encoder's angle can be compared with
``MotifStack.angles`` modulo ``2 pi / symmetry``.

Rotation convention
-------------------
Offsets from a copy's centre are ``(dx, dy)`` = (column, row) offsets, rows pointing down. A
copy at angle ``theta`` satisfies ``copy(d) = reference(R(-theta) d)`` with
``R(theta) = [[cos, -sin], [sin, cos]]`` acting on ``(dx, dy)``: a feature of the reference at
``d0`` appears at ``R(theta) d0``, i.e. the motif is turned from +x towards +y (clockwise as
displayed with row 0 at the top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int
from ._common import check_seed

__all__ = ["MotifStack", "rotated_motifs", "render_motif"]

# Petals per channel: (radius, polar angle, radial sigma, tangential sigma), lengths in units
# of the spacing. Channel 0 is an L shape (a bar plus a thumb) so that even one channel has no
# mirror symmetry; the other channels are blobs at irregular angles.
_PETALS = (
    ((0.17, 0.00, 0.09, 0.045), (0.22, 1.25, 0.05, 0.05)),
    ((0.26, 2.10, 0.06, 0.06),),
    ((0.24, 3.90, 0.07, 0.045),),
    ((0.28, 5.00, 0.04, 0.06),),
    ((0.12, 2.90, 0.05, 0.05),),
    ((0.30, 0.70, 0.045, 0.045),),
    ((0.15, 4.60, 0.06, 0.04),),
    ((0.28, 3.30, 0.04, 0.06),),
)
MAX_CHANNELS = len(_PETALS)


@dataclass(frozen=True, eq=False)
class MotifStack:
    """A stack of maps with rotated copies of one motif (see :func:`rotated_motifs`).

    Attributes
    ----------
    maps : numpy.ndarray, shape (C, ny, nx)
        float32 values in [0, 1]; channel ``c`` holds part ``c`` of the motif.
    centers : numpy.ndarray, shape (n, 2)
        Integer pixel ``(y, x)`` of each copy's rotation centre.
    angles : numpy.ndarray, shape (n,)
        Rotation of each copy in radians (convention in the module docstring). Only
        ``angles % (2 pi / symmetry)`` is observable.
    symmetry : int
        Rotational symmetry order of the motif (1 = none).
    reference : numpy.ndarray, shape (C, spacing, spacing)
        The motif at angle 0, centred at index ``(spacing // 2, spacing // 2)``.
    spacing : int
        Distance in pixels between neighbouring copies (also the reference window size).
    """

    maps: np.ndarray
    centers: np.ndarray
    angles: np.ndarray
    symmetry: int
    reference: np.ndarray
    spacing: int

    def windows(self, size: int | None = None) -> np.ndarray:
        """Windows ``(n, C, size, size)`` cut around every centre (default ``size=spacing``).

        The centre of a copy is at index ``size // 2`` of its window.
        """
        size = self.spacing if size is None else check_int(size, "size", low=1,
                                                           high=self.spacing)
        lo = size // 2
        out = np.empty((len(self.centers), self.maps.shape[0], size, size), np.float32)
        for i, (cy, cx) in enumerate(self.centers):
            out[i] = self.maps[:, cy - lo:cy - lo + size, cx - lo:cx - lo + size]
        return out


def _render(dy, dx, channels, symmetry, angle, spacing):
    """Evaluate the motif at offsets ``(dy, dx)`` (pixels) for a copy turned by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    u = c * dx + s * dy              # R(-angle) (dx, dy)
    v = -s * dx + c * dy
    out = np.empty((channels, *np.shape(dx)))
    for ch in range(channels):
        keep = np.ones(np.shape(dx))  # 1 - prod(1 - g): smooth union of petals, stays in [0, 1]
        for r, phi, sr, st in _PETALS[ch]:
            for j in range(symmetry):
                p = phi + 2 * np.pi * j / symmetry
                cp, sp = np.cos(p), np.sin(p)
                du, dv = u - r * spacing * cp, v - r * spacing * sp
                along = cp * du + sp * dv
                across = -sp * du + cp * dv
                g = np.exp(-0.5 * ((along / (sr * spacing)) ** 2
                                   + (across / (st * spacing)) ** 2))
                keep *= 1.0 - g
        out[ch] = 1.0 - keep
    return out


def render_motif(window: int = 16, channels: int = 3, symmetry: int = 1,
                 angle: float = 0.0) -> np.ndarray:
    """Render the motif of :func:`rotated_motifs` in a ``window x window`` frame.

    Parameters
    ----------
    window : int
        Frame size in pixels; the motif is scaled to it (as for ``spacing=window``) and
        centred at index ``(window // 2, window // 2)``.
    channels : int
        Number of channels (1 to 8).
    symmetry : int
        Rotational symmetry order (1 = no symmetry).
    angle : float
        Rotation in radians (convention in the module docstring).

    Returns
    -------
    numpy.ndarray, shape (channels, window, window)
        float32 values in [0, 1].
    """
    window = check_int(window, "window", low=4)
    channels = check_int(channels, "channels", low=1, high=MAX_CHANNELS)
    symmetry = check_int(symmetry, "symmetry", low=1, high=12)
    d = np.arange(window) - window // 2
    dy, dx = np.meshgrid(d, d, indexing="ij")
    return _render(dy, dx, channels, symmetry, float(angle), window).astype(np.float32)


def rotated_motifs(n_side: int = 8, spacing: int = 16, channels: int = 3, symmetry: int = 1,
                   seed: int = 0, *, angles=None, noise: float = 0.0) -> MotifStack:
    """An ``n_side x n_side`` grid of copies of one multichannel motif at random rotations.

    The motif is a set of anisotropic Gaussian "petals" (peak 1), each channel holding a
    different part: channel 0 an L-shaped bar-and-thumb, the others blobs at irregular
    angles and radii (no mirror or rotational symmetry for ``symmetry=1``). With
    ``symmetry=k`` every petal is repeated at ``2 pi j / k``, giving a k-fold symmetric motif.
    Petals of one channel combine as ``1 - prod(1 - g)``, so values stay in [0, 1]. Each copy
    is rendered analytically at its angle (no interpolation); the motif fits inside a disc of
    ~0.45 ``spacing``, so copies do not overlap.

    Parameters
    ----------
    n_side : int
        Copies per side (``n = n_side**2`` copies).
    spacing : int
        Pixels between neighbouring centres (at least 8); maps are
        ``(C, n_side * spacing, n_side * spacing)``.
    channels : int
        Number of channels ``C`` (1 to 8).
    symmetry : int
        Rotational symmetry order of the motif (1 to 12).
    seed : int
        Seed for the angles (uniform in [0, 2 pi)) and the noise.
    angles : array_like, optional
        Explicit angles (radians), one per copy, in row-major grid order.
    noise : float
        Standard deviation of additive Gaussian noise (values are clipped back to [0, 1]).

    Returns
    -------
    MotifStack
        ``maps``, ``centers`` (y, x), ``angles``, ``symmetry``, ``reference``, ``spacing``.

    Examples
    --------
    >>> from eelswidgets.datasets import rotated_motifs
    >>> st = rotated_motifs(n_side=4, spacing=16, channels=3, seed=0)
    >>> st.maps.shape, st.centers.shape, st.angles.shape
    ((3, 64, 64), (16, 2), (16,))
    """
    n_side = check_int(n_side, "n_side", low=1, high=256)
    spacing = check_int(spacing, "spacing", low=8, high=512)
    channels = check_int(channels, "channels", low=1, high=MAX_CHANNELS)
    symmetry = check_int(symmetry, "symmetry", low=1, high=12)
    seed = check_seed(seed)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise TypeError(f"noise must be a non-negative number, got {noise!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    n = n_side * n_side
    rng = np.random.default_rng(seed)
    if angles is None:
        ang = rng.uniform(0.0, 2 * np.pi, n)
    else:
        ang = np.array(angles, dtype=np.float64).ravel()
        if ang.size != n or not np.all(np.isfinite(ang)):
            raise ValueError(f"angles must hold {n} finite values (one per copy, n_side**2), "
                             f"got {np.size(angles)}")
    size = n_side * spacing
    maps = np.zeros((channels, size, size), dtype=np.float64)
    d = np.arange(spacing) - spacing // 2
    dy, dx = np.meshgrid(d, d, indexing="ij")
    centers = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        cy = (i // n_side) * spacing + spacing // 2
        cx = (i % n_side) * spacing + spacing // 2
        centers[i] = cy, cx
        y0, x0 = cy - spacing // 2, cx - spacing // 2
        maps[:, y0:y0 + spacing, x0:x0 + spacing] = _render(dy, dx, channels, symmetry,
                                                            ang[i], spacing)
    if noise > 0:
        maps = np.clip(maps + rng.normal(0.0, float(noise), maps.shape), 0.0, 1.0)
    reference = render_motif(spacing, channels, symmetry, 0.0)
    maps = maps.astype(np.float32)
    for arr in (maps, centers, ang, reference):
        arr.setflags(write=False)
    return MotifStack(maps=maps, centers=centers, angles=ang, symmetry=symmetry,
                      reference=reference, spacing=spacing)
