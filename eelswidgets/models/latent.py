"""The latent-model protocol: what explorers and figures need from any fitted latent model.

Every latent model of the package (:class:`~eelswidgets.models.SpectralVAE`,
:class:`~eelswidgets.models.MultichannelRVAE`, :class:`~eelswidgets.models.Im2Spec`,
:class:`~eelswidgets.models.Spec2Im`) derives from :class:`LatentModel` and so has

- ``latent_ranges_`` ``(d, 2)``: the 2nd to 98th percentile of each latent over the training
  codes (:func:`eelswidgets.analysis.latent_ranges`), the span of every decoded manifold;
- ``latent_center_`` ``(d,)``: the median of the training codes, where a manifold holds the
  latents it does not vary;
- ``manifold(grid, dims=...)``: the decoded ``grid x grid`` lattice in the one grid
  orientation of :func:`eelswidgets.analysis.manifold_grid` (row 0: lowest ``dims[1]``);
- ``decode(z)``: latent points ``(n, d)`` to outputs, at the default pose;
- ``latent_adapter(si, stack=None)``: a :class:`LatentAdapter` that encodes the data every
  pixel of which has a code and reconstructs one pixel. :class:`PoseAdapter` serves the
  rVAE, whose codes carry a rotation angle besides ``z``.

Both fitted constants live in ``state_`` (``latent_ranges``, ``latent_center``), so they
travel through model files like every other fitted constant.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..analysis import latent_center, latent_ranges, manifold_grid
from ..patches import window_slices
from ._params import FloatList, Rule
from .base import check_grid

__all__ = ["LATENT_STATE", "LatentAdapter", "LatentModel", "PoseAdapter"]

#: fitted-state rules of the latent summary, shared by every latent model
#: (None only in files saved before models stored it)
LATENT_STATE: dict[str, Rule] = {
    "latent_ranges": FloatList("latent_dim", width=2, none_ok=True),
    "latent_center": FloatList("latent_dim", none_ok=True),
}


class LatentAdapter:
    """A fitted latent model as an explorer sees it: per-pixel codes, one pixel decoded.

    This plain adapter serves models whose codes are ``z`` alone and that encode a
    :class:`~eelswidgets.SpectrumImage` (SpectralVAE, Im2Spec, Spec2Im).

    Parameters
    ----------
    model : LatentModel
        A fitted model.
    si : SpectrumImage
        The spectrum image shown (and, here, encoded).
    stack : array_like, optional
        Maps to encode, for models that encode maps (:class:`PoseAdapter`); refused here.

    Attributes
    ----------
    extra_maps : dict of str to (str, str)
        Per-pixel code maps besides ``z``: name -> (title, colormap).
    window : int or None
        Window of the model's input around a pixel (None: the pixel's spectrum).
    label : str
        Short name of the model for titles and legends.
    manifold_note : str
        Appended to the manifold's title (the pose at which it is decoded).
    """

    extra_maps: ClassVar[dict[str, tuple[str, str]]] = {}
    manifold_note: ClassVar[str] = ""

    def __init__(self, model, si, stack=None):
        self.model = model
        self.label = getattr(model, "_short_name", type(model).__name__)
        self.window: int | None = None
        self.data = self._input(si, stack)

    def _input(self, si, stack):
        if stack is not None:
            raise ValueError(f"a {type(self.model).__name__} encodes the spectrum image; "
                             f"stack= is for models that encode maps (MultichannelRVAE)")
        return si

    def encode(self) -> dict[str, np.ndarray]:
        """Codes of every pixel: ``{"z": (ny, nx, d)}`` plus :attr:`extra_maps` (float32)."""
        return {"z": np.asarray(self.model.encode(self.data), np.float32)}

    def reconstruct(self, codes: dict[str, Any]) -> np.ndarray:
        """Decode one pixel's codes (the values of :meth:`encode` at that pixel)."""
        return self.model.decode(np.asarray(codes["z"], np.float32)[None])[0]

    def input_at(self, y: int, x: int) -> np.ndarray | None:
        """The model's input window at ``(y, x)``; None for spectral models or the border."""
        return None

    def decode_point(self, z) -> np.ndarray:
        """Decode one latent point ``(d,)`` at the default pose (a manifold click)."""
        return self.model.decode(np.asarray(z, np.float32)[None])[0]


class PoseAdapter(LatentAdapter):
    """The rVAE as an explorer sees it: a rotation angle besides ``z``, windows of a stack.

    Codes are ``z`` and ``angle``; a pixel is reconstructed at its encoded angle, a manifold
    point at angle 0; the input at a pixel is the window of the stack around it.
    """

    extra_maps: ClassVar[dict[str, tuple[str, str]]] = {"angle": ("angle (rad)", "twilight")}
    manifold_note: ClassVar[str] = " (angle 0)"

    def _input(self, si, stack):
        name = type(self.model).__name__
        if stack is None:
            raise ValueError(f"a {name} encodes maps: pass stack=... (the (C, ny, nx) maps it "
                             f"was fitted on, e.g. dec.maps[[0, 1, 2]])")
        st = np.asarray(stack, dtype=np.float32)
        if st.ndim == 2:
            st = st[None]
        ny, nx = si.ny, si.nx
        if st.ndim != 3 or st.shape[1:] != (ny, nx):
            raise ValueError(f"stack must be (C, {ny}, {nx}) maps of this spectrum image's "
                             f"pixels, got shape {np.shape(stack)}")
        self.window = int(self.model.window)
        return st

    def encode(self) -> dict[str, np.ndarray]:
        """Codes of every pixel: ``z`` (ny, nx, d) and ``angle`` (ny, nx), float32."""
        enc = self.model.encode(self.data)
        return {"z": np.asarray(enc["z"], np.float32),
                "angle": np.asarray(enc["angle"], np.float32)}

    def reconstruct(self, codes: dict[str, Any]) -> np.ndarray:
        """Decode one pixel's ``z`` at its encoded ``angle``: a window ``(C, w, w)``."""
        return self.model.decode(np.asarray(codes["z"], np.float32)[None],
                                 angle=np.array([codes["angle"]], np.float32))[0]

    def input_at(self, y: int, x: int) -> np.ndarray | None:
        """The stack's window ``(C, w, w)`` around ``(y, x)``; None at the border."""
        where = window_slices(y, x, self.window, self.data.shape)
        return None if where is None else self.data[:, where[0], where[1]].copy()


class LatentModel:
    """Mixin of the latent models: fitted latent summary, common manifold, explorer adapter.

    Subclasses (which also derive from :class:`~eelswidgets.models.base.BaseModel`) call
    :meth:`_store_latent_summary` with the training codes at the end of ``fit``, add
    :data:`LATENT_STATE` to their ``_state_constraints``, and define ``decode`` and
    ``_output_shape``.
    """

    #: the adapter through which explorers use the model
    _adapter: ClassVar[type[LatentAdapter]] = LatentAdapter

    # ------------------------------------------------------------------ fitted summary
    def _store_latent_summary(self, codes) -> None:
        """Store the range and centre of the training codes ``(n, d)`` in ``state_``."""
        self.state_["latent_ranges"] = latent_ranges(codes).tolist()
        self.state_["latent_center"] = latent_center(codes).tolist()

    def _latent_state(self, key: str) -> np.ndarray:
        self._check_fitted()
        value = self.state_.get(key)
        if value is None:
            raise ValueError(f"this {type(self).__name__} holds no {key} (it was saved before "
                             f"models stored them); fit it again and save it")
        return np.array(value, dtype=np.float64)

    @property
    def latent_ranges_(self) -> np.ndarray:
        """``(d, 2)``: 2nd and 98th percentile of each latent over the training codes."""
        return self._latent_state("latent_ranges")

    @property
    def latent_center_(self) -> np.ndarray:
        """``(d,)``: median of each latent over the training codes."""
        return self._latent_state("latent_center")

    # ------------------------------------------------------------------ manifold
    def _output_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _manifold_coords(self, grid, ranges, dims) -> np.ndarray:
        """Checked latent lattice ``(g, g, d)`` (``(1, g, 1)`` for one latent), float32."""
        self._check_fitted()
        g = check_grid(grid, int(np.prod(self._output_shape())))
        d = int(self.latent_dim)
        if d == 1:
            r = self.latent_ranges_ if ranges is None else np.asarray(ranges, np.float64)
            if r.size != 2 or not np.all(np.isfinite(r)):
                raise ValueError(f"ranges must be (lo, hi) of the one latent, got {ranges!r}")
            r = r.reshape(2)
            return np.linspace(r[0], r[1], g, dtype=np.float32).reshape(1, g, 1)
        dims = tuple(dims)
        if len(dims) != 2 or any(isinstance(k, bool) or not isinstance(k, (int, np.integer))
                                 for k in dims):
            raise ValueError(f"dims must be two latent dimensions, got {dims!r}")
        a, b = (int(k) for k in dims)
        if not (0 <= a < d and 0 <= b < d and a != b):
            raise ValueError(f"dims must be two different latent dimensions in [0, {d}), "
                             f"got {dims!r}")
        if ranges is None:
            r = self.latent_ranges_[[a, b]]
        else:
            r = np.asarray(ranges, dtype=np.float64)
            if r.shape != (2, 2) or not np.all(np.isfinite(r)):
                raise ValueError(f"ranges must be ((lo0, hi0), (lo1, hi1)) of finite numbers, "
                                 f"got {ranges!r}")
        coords = manifold_grid(r, g, dims=(a, b), fixed=self.latent_center_)
        return coords.astype(np.float32)

    def manifold(self, grid: int = 8, ranges=None, *, dims: tuple[int, int] = (0, 1)
                 ) -> np.ndarray:
        """Decode a regular ``grid x grid`` lattice of latent points (default pose).

        Parameters
        ----------
        grid : int
            Points per latent axis.
        ranges : ((lo, hi), (lo, hi)), optional
            Span of the two latents; default: ``latent_ranges_`` (2nd-98th percentile of
            the training codes).
        dims : (int, int)
            The two latents that vary; the others are held at ``latent_center_`` (the
            median of the training codes).

        Returns
        -------
        numpy.ndarray, shape (grid, grid, *tile)
            ``out[i, j]`` has ``dims[0]`` increasing with the column ``j`` and ``dims[1]``
            increasing with the row ``i`` (row 0 is drawn at the bottom, see
            :func:`eelswidgets.analysis.manifold_grid`). With ``latent_dim == 1`` the
            shape is ``(1, grid, *tile)``.
        """
        coords = self._manifold_coords(grid, ranges, dims)
        out = self.decode(coords.reshape(-1, coords.shape[-1]))
        return out.reshape(*coords.shape[:2], *out.shape[1:])

    def latent_adapter(self, si, stack=None) -> LatentAdapter:
        """The :class:`LatentAdapter` through which an explorer shows this fitted model."""
        self._check_fitted()
        return self._adapter(self, si, stack)

    # ------------------------------------------------------------------ old model files
    @classmethod
    def _upgrade_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """Files saved before the latent summary existed load without it (None)."""
        state = dict(state)
        state.setdefault("latent_ranges", None)
        state.setdefault("latent_center", None)
        return state
