"""ManifoldView: a decoded latent grid as tiles, with live decoding of a clicked latent point.

The tiles (spectra, grey windows or RGB windows of three channels) travel once as one float32
buffer. Hovering shows a tile large in the browser alone; a click sends the latent position
``(z1, z2)`` under the pointer to the kernel, where :attr:`ManifoldView.decoder` turns it into
one tile that is sent back (``decoded``) and drawn large.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import anywidget
import numpy as np
import traitlets

from ._codec import ArrayTrait, coerce_array
from ._color_scale import ColormappedView
from ._front_end import FrontEndGate, InvalidType, InvalidValue

__all__ = ["ManifoldView", "as_tile", "as_tiles"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

_KINDS = ("spectra", "grey", "rgb")


def _to_rgb_channels(arr: np.ndarray, axis: int, name: str) -> np.ndarray:
    """Move a channel axis of size 1-3 last; 1 channel -> grey (squeezed), 2 -> padded RGB."""
    c = arr.shape[axis]
    arr = np.moveaxis(arr, axis, -1)
    if c == 1:
        return arr[..., 0]
    if c == 2:
        return np.concatenate([arr, np.zeros((*arr.shape[:-1], 1), arr.dtype)], axis=-1)
    if c == 3:
        return arr
    raise InvalidValue(f"{name} has {c} channels; RGB tiles show 1 to 3 channels, pick three, "
                       f"e.g. tiles[:, :, [0, 1, 2]]")


def as_tiles(tiles) -> tuple[np.ndarray, str]:
    """Check a tile grid and bring it to the layout the browser draws.

    Parameters
    ----------
    tiles : array_like
        ``(gy, gx, L)`` spectra, ``(gy, gx, h, w)`` grey windows, or windows with channels:
        ``(gy, gx, h, w, C)`` or ``(gy, gx, C, h, w)`` with C in 1..3 (one channel is grey,
        two are shown as red and green).

    Returns
    -------
    (numpy.ndarray, str)
        float32 tiles ``(gy, gx, L)``, ``(gy, gx, h, w)`` or ``(gy, gx, h, w, 3)`` and the kind
        ``"spectra"``, ``"grey"`` or ``"rgb"``.
    """
    arr = coerce_array(tiles, "tiles", dtype="float32", ndim=(3, 4, 5))
    if min(arr.shape) == 0:
        raise InvalidValue(f"tiles must not be empty, got shape {arr.shape}")
    if arr.ndim == 3:
        return arr, "spectra"
    if arr.ndim == 4:
        return arr, "grey"
    if arr.shape[-1] <= 3:
        out = _to_rgb_channels(arr, 4, "tiles")
    elif arr.shape[2] <= 3:
        out = _to_rgb_channels(arr, 2, "tiles")
    else:
        raise InvalidValue(f"tiles of shape {arr.shape} have no channel axis of size 1-3 at "
                           f"position 2 or 4; RGB tiles show 1 to 3 channels: pick three, e.g. "
                           f"tiles[:, :, [0, 1, 2]] for (gy, gx, C, h, w) tiles")
    out = np.ascontiguousarray(out, dtype=np.float32)
    out.flags.writeable = False
    return out, ("grey" if out.ndim == 4 else "rgb")


def as_tile(tile, kind: str, like: tuple[int, ...] | None = None) -> np.ndarray:
    """Check one decoded tile against the grid's kind (leading axes of size 1 are dropped).

    Parameters
    ----------
    tile : array_like
        ``(L,)`` for spectra, ``(h, w)`` for grey, ``(h, w, C)`` or ``(C, h, w)`` for RGB.
    kind : {"spectra", "grey", "rgb"}
        Kind of the tile grid.
    like : tuple of int, optional
        Shape of one grid tile; the decoded tile must match it.

    Returns
    -------
    numpy.ndarray
        float32 tile in the grid's layout.
    """
    if kind not in _KINDS:
        raise InvalidValue(f"unknown tile kind {kind!r}; expected one of {_KINDS}")
    arr = np.asarray(tile)
    want = {"spectra": 1, "grey": 2, "rgb": 3}[kind]
    while arr.ndim > want and arr.shape[0] == 1:  # batch or single-channel axis in front
        arr = arr[0]
    if kind == "grey" and arr.ndim == 3 and arr.shape[-1] == 1:  # (h, w, 1)
        arr = arr[..., 0]
    arr = coerce_array(arr, "decoded tile", dtype="float32", ndim=want)
    if kind == "rgb":
        if arr.shape[-1] <= 3:
            arr = _to_rgb_channels(arr, 2, "decoded tile")
        elif arr.shape[0] <= 3:
            arr = _to_rgb_channels(arr, 0, "decoded tile")
        else:
            raise InvalidValue(f"decoded RGB tile of shape {arr.shape} has no channel axis of "
                               f"size 1-3")
        if arr.ndim != 3:
            raise InvalidValue("decoded tile has one channel but the grid is RGB")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        arr.flags.writeable = False
    if like is not None and tuple(arr.shape) != tuple(like):
        raise InvalidValue(f"decoded tile has shape {arr.shape} but the grid's tiles have shape "
                           f"{tuple(like)}; the decoder must return one tile like those")
    return arr


class ManifoldView(FrontEndGate, ColormappedView, anywidget.AnyWidget):
    """Grid of decoded latent tiles; hover to enlarge, click to decode a latent point live.

    Parameters
    ----------
    tiles : array_like, optional
        The grid (see :func:`as_tiles`): ``tiles[i, j]`` is decoded at
        ``z1 = linspace(z1min, z1max, gx)[j]`` and ``z2 = linspace(z2min, z2max, gy)[i]``,
        the one grid orientation of :func:`eelswidgets.analysis.manifold_grid` and of every
        model's ``manifold``; row 0 is drawn at the bottom (z2 grows upwards).
    extent : (float, float, float, float)
        ``(z1min, z1max, z2min, z2max)``: latent values at the centres of the corner tiles.
    decoder : callable, optional
        ``decoder(z) -> tile`` for a latent point ``z`` of shape (2,); called when the user
        clicks the grid, its result becomes ``decoded``.
    **kwargs
        Initial values of the traits below.

    Attributes
    ----------
    tiles : numpy.ndarray
        float32 grid in the browser's layout.
    kind : str
        "spectra", "grey" or "rgb" (read only).
    extent : list of float
        ``[z1min, z1max, z2min, z2max]``.
    clicked : list of float or None
        Latent position ``[z1, z2]`` of the last click (set by the browser).
    decoded : numpy.ndarray or None
        The tile decoded at ``clicked``, drawn large.
    energy : numpy.ndarray or None
        x axis of spectra tiles (for the labels of the large view).
    colormap, clim, percentiles, autoscale
        Colour scale of grey tiles (:class:`~._color_scale.ColormappedView`; default "gray"
        with limits at the 0.5/99.5 percentiles of all tiles).
    xlabel, ylabel, title : str
        Labels.
    display_size, preview_size : int
        CSS size of the grid's longer side and of the large view.
    status : str
        Message shown under the large view (e.g. a decoder error).

    Notes
    -----
    The front end may set ``clicked`` only; every other trait is set from Python.

    Examples
    --------
    >>> tiles = np.random.rand(6, 6, 100)               # 6 x 6 spectra
    >>> mv = ManifoldView(tiles, extent=(-2, 2, -2, 2),
    ...                   decoder=lambda z: np.full(100, z.sum()))
    """

    _esm = _STATIC / "manifold_view.js"
    _from_browser = frozenset({"clicked"})

    tiles = ArrayTrait("float32", ndim=(3, 4, 5))
    kind = traitlets.Unicode("spectra", read_only=True).tag(sync=True)
    extent = traitlets.List(traitlets.Float(), default_value=[0.0, 1.0, 0.0, 1.0], minlen=4,
                            maxlen=4).tag(sync=True)
    clicked = traitlets.List(traitlets.Float(), default_value=None, allow_none=True, minlen=2,
                             maxlen=2).tag(sync=True)
    decoded = ArrayTrait("float32", ndim=(1, 2, 3))
    energy = ArrayTrait("float32", ndim=1)
    xlabel = traitlets.Unicode("z1").tag(sync=True)
    ylabel = traitlets.Unicode("z2").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    display_size = traitlets.Int(360).tag(sync=True)
    preview_size = traitlets.Int(220).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    _decode_serial = traitlets.Int(0).tag(sync=True)  # bumped after every decode
    _dom_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tiles=None, *, extent=(0.0, 1.0, 0.0, 1.0),
                 decoder: Callable | None = None, **kwargs):
        super().__init__(extent=list(extent), **kwargs)
        self._decoder = None
        self.decoder = decoder
        with self.hold_sync():
            if tiles is not None:
                self.tiles = tiles
            self._dom_id = self.model_id or ""

    @traitlets.default("colormap")
    def _default_colormap(self):
        return "gray"

    @traitlets.default("percentiles")
    def _default_percentiles(self):
        return (0.5, 99.5)

    def _autoscale_values(self) -> np.ndarray | None:
        return self.tiles if self.kind == "grey" else None

    # ------------------------------------------------------------------ decoder
    @property
    def decoder(self) -> Callable | None:
        """``decoder(z) -> tile`` called with a latent point of shape (2,) on every click."""
        return self._decoder

    @decoder.setter
    def decoder(self, fn) -> None:
        if fn is not None and not callable(fn):
            raise InvalidType(f"decoder must be callable (z -> tile) or None, got "
                              f"{type(fn).__name__}")
        self._decoder = fn

    @traitlets.observe("clicked")
    def _on_clicked(self, change):
        z = change["new"]
        if z is None or self._decoder is None:
            return
        try:
            self.decode(z)
        except Exception as err:  # shown in the widget (status); a click must not raise
            self.log.warning("ManifoldView: decoding z = %s failed: %s: %s", z,
                             type(err).__name__, err)

    @traitlets.validate("clicked")
    def _valid_clicked(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        z = [float(v) for v in value]
        if not all(np.isfinite(z)):
            raise InvalidValue(f"clicked must be a finite latent point [z1, z2], got {value!r}")
        return z

    def decode(self, z) -> np.ndarray:
        """Decode the latent point ``z`` with :attr:`decoder` and show the result large.

        Errors of the decoder are shown in the widget (``status``) and raised.
        """
        if self._decoder is None:
            raise InvalidValue("this ManifoldView has no decoder; pass decoder=... (z -> tile)")
        zz = coerce_array(z, "z", dtype="float32", ndim=1)
        if zz.size != 2:
            raise InvalidValue(f"z must hold two latent values (z1, z2), got {zz.size}")
        try:
            tile = as_tile(self._decoder(np.array(zz, dtype=np.float32)), self.kind,
                           like=None if self.tiles is None else self.tiles.shape[2:])
        except Exception as err:
            self.status = f"decoder failed: {type(err).__name__}: {err}"
            raise
        with self.hold_sync():
            self.decoded = tile
            self.status = ""
            self._decode_serial += 1
        return tile

    # ------------------------------------------------------------------ validation
    @traitlets.validate("tiles")
    def _valid_tiles(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        arr, kind = as_tiles(value)
        self._pending_kind = kind
        return arr

    @traitlets.observe("tiles")
    def _on_tiles(self, change):
        arr = change["new"]
        with self.hold_sync():
            if arr is None:
                self.decoded = None
                return
            self.set_trait("kind", self._pending_kind)
            self._rescale()
            d = self.decoded
            if d is not None and tuple(d.shape) != tuple(arr.shape[2:]):
                self.decoded = None

    @traitlets.validate("decoded")
    def _valid_decoded(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        like = None if self.tiles is None else self.tiles.shape[2:]
        return as_tile(value, self.kind, like=like)

    @traitlets.validate("extent")
    def _valid_extent(self, proposal):
        v = [float(a) for a in proposal["value"]]
        if not all(np.isfinite(v)):
            raise InvalidValue(f"extent must be four finite numbers (z1min, z1max, z2min, z2max), "
                               f"got {proposal['value']!r}")
        return v

    @traitlets.validate("display_size", "preview_size")
    def _valid_size(self, proposal):
        v = int(proposal["value"])
        if v < 16:
            raise InvalidValue(f"{proposal['trait'].name} must be >= 16 CSS pixels, got {v}")
        return v

    # ------------------------------------------------------------------ helpers
    @property
    def grid(self) -> tuple[int, int]:
        """``(gy, gx)``: rows and columns of tiles."""
        return (0, 0) if self.tiles is None else (int(self.tiles.shape[0]),
                                                  int(self.tiles.shape[1]))

    def tile_latents(self) -> np.ndarray:
        """Latent coordinates ``(gy, gx, 2)`` of the tile centres (``[..., 0]`` is z1)."""
        gy, gx = self.grid
        z1a, z1b, z2a, z2b = self.extent
        out = np.zeros((gy, gx, 2))
        out[..., 0] = np.linspace(z1a, z1b, gx)[None, :]
        out[..., 1] = np.linspace(z2a, z2b, gy)[:, None]
        return out

    def __repr__(self) -> str:
        gy, gx = self.grid
        return f"ManifoldView({gy}x{gx} {self.kind} tiles, extent={self.extent})"
