"""ImageView: a 2-D map on a canvas, with current pixel, window box and pixel selection.

The kernel keeps the full-resolution image; the browser gets it at display resolution (block
means when larger than ``max_display``) as a float32 binary buffer and colours it there
(colormap and contrast limits are cheap to change). Pixel coordinates that travel back
(``pixel``, ``selection``) always refer to the full-resolution image, whatever the display
resolution.
"""

from __future__ import annotations

import math
import pathlib

import anywidget
import numpy as np
import traitlets

from ._codec import ArrayTrait, coerce_array
from ._color_scale import ColormappedView
from ._front_end import FrontEndGate, InvalidType, InvalidValue
from ._pixels import as_indices

__all__ = ["ImageView", "block_mean", "display_factor"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

def display_factor(shape: tuple[int, ...], max_display: int) -> int:
    """Block size that brings the larger of the first two dimensions to <= ``max_display``."""
    if max_display < 1:
        raise InvalidValue(f"max_display must be >= 1, got {max_display}")
    return max(1, math.ceil(max(shape[0], shape[1]) / max_display))


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks, ignoring NaN (a block of only NaN stays NaN).

    Parameters
    ----------
    image : numpy.ndarray, shape (ny, nx) or (ny, nx, c)
        Values to reduce; not modified.
    factor : int
        Block size (1 returns a float32 copy). Edge blocks of a shape that is not a multiple
        of ``factor`` average the pixels they hold.

    Returns
    -------
    numpy.ndarray, shape (ceil(ny / factor), ceil(nx / factor)[, c]), float32
    """
    a = np.asarray(image, dtype=np.float32)
    if factor < 1:
        raise InvalidValue(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return a.copy()
    ny, nx = a.shape[:2]
    hy, hx = -(-ny // factor), -(-nx // factor)
    pad = [(0, hy * factor - ny), (0, hx * factor - nx)] + [(0, 0)] * (a.ndim - 2)
    padded = np.pad(a, pad, constant_values=np.nan)
    blocks = padded.reshape(hy, factor, hx, factor, *a.shape[2:])
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    count = finite.sum(axis=(1, 3))
    out = np.full(total.shape, np.nan, dtype=np.float32)
    np.divide(total, count, out=out, where=count > 0, casting="unsafe")
    return out


def _rgb_to_rgba(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGBA from uint8 RGB or float RGB in [0, 1] (NaN pixels transparent)."""
    if rgb.dtype == np.uint8:
        alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
        return np.concatenate([rgb, alpha], axis=2)
    f = rgb.astype(np.float32)
    bad = ~np.all(np.isfinite(f), axis=2)
    u8 = np.clip(np.round(np.nan_to_num(f, nan=0.0) * 255), 0, 255).astype(np.uint8)
    alpha = np.where(bad, 0, 255).astype(np.uint8)[..., None]
    return np.concatenate([u8, alpha], axis=2)


class ImageView(FrontEndGate, ColormappedView, anywidget.AnyWidget):
    """A map on a canvas: colormap, contrast limits, crosshair, window box, selection.

    Parameters
    ----------
    image : array_like, shape (ny, nx), optional
        The map (any real dtype; float32 internally). NaN pixels are transparent.
    rgb : array_like, shape (ny, nx, 3), optional
        An RGB picture instead of (or on top of the readout of) ``image``: uint8, or floats in
        [0, 1] (NaN pixels transparent). Must have the shape of ``image`` when both are set.
    **kwargs
        Initial values of the traits below.

    Attributes
    ----------
    image : numpy.ndarray or None
        Full-resolution map (kept in the kernel; the browser gets ``max_display``-sized block
        means).
    rgb : numpy.ndarray or None
        Full-resolution RGB picture.
    shape : tuple of int
        ``(ny, nx)`` of the full-resolution image (read only; (0, 0) when empty).
    colormap, clim, percentiles, autoscale
        Colour scale (:class:`~._color_scale.ColormappedView`); the automatic limits are
        percentiles of the finite values of ``image``.
    pixel : list of int
        Current pixel ``[y, x]`` (full resolution); set by clicks/drags and from Python.
    window : int
        Side of the model's window drawn around the current pixel (0: none); rows
        ``y - window // 2 .. y - window // 2 + window - 1``, same for columns.
    selection : numpy.ndarray
        Selected pixels as sorted unique flat indices ``y * nx + x`` (int32); set by rectangle
        and lasso selection and from Python (flat indices or a boolean (ny, nx) mask).
    overlay_color, overlay_alpha : str, float
        CSS colour and opacity of the selection overlay.
    mode : {"pixel", "rect", "lasso"}
        What a drag does: move the current pixel, select a rectangle or a lasso. In "pixel"
        mode, shift-drag selects a rectangle and alt-drag a lasso; ctrl/cmd adds to the
        selection; Escape clears it.
    pixel_size, unit : float, str
        Calibration for the scale bar and the hover readout.
    title : str
        Title above the image.
    display_size : int
        CSS pixels of the longer image side.
    max_display : int
        Largest image side sent to the browser (larger images are block-averaged).
    show_scalebar, show_crosshair, show_colorbar, show_toolbar : bool
        Toggle the decorations.

    Notes
    -----
    The front end may set ``pixel``, ``selection`` and ``mode`` (a click, a rectangle or
    lasso, a toolbar button); every other trait is set from Python only.

    Examples
    --------
    >>> view = ImageView(np.random.rand(64, 80), pixel_size=0.5, unit="nm", window=10)
    >>> view.pixel = (10, 20)
    >>> view.selection = [0, 1, 80]
    """

    _esm = _STATIC / "image_view.js"
    _from_browser = frozenset({"pixel", "selection", "mode"})

    # kernel-side data (full resolution, not synced)
    image = ArrayTrait("float32", ndim=2, sync=False)
    rgb = ArrayTrait(None, ndim=3, sync=False)
    max_display = traitlets.Int(512)

    # synced state
    shape = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0),
                            read_only=True).tag(sync=True)
    _data = ArrayTrait("float32", ndim=2)
    _rgba = ArrayTrait("uint8", ndim=3)
    _factor = traitlets.Int(1).tag(sync=True)
    _dom_id = traitlets.Unicode("").tag(sync=True)
    # no echo: a tied view's pixel and selection are set from its Selection (Selection.tie)
    pixel = traitlets.List(traitlets.Int(), default_value=[0, 0], minlen=2, maxlen=2
                           ).tag(sync=True, echo_update=False)
    window = traitlets.Int(0).tag(sync=True)
    # any integer array or boolean mask; the validator makes sorted unique int32 indices
    selection = ArrayTrait(None, default_value=np.zeros(0, np.int32), allow_none=False
                           ).tag(echo_update=False)
    _tied = traitlets.Bool(False).tag(sync=True)  # pixel/selection reach the kernel via a Selection
    overlay_color = traitlets.Unicode("#ff3b30").tag(sync=True)
    overlay_alpha = traitlets.Float(0.45).tag(sync=True)
    mode = traitlets.Enum(("pixel", "rect", "lasso"), default_value="pixel").tag(sync=True)
    pixel_size = traitlets.Float(1.0).tag(sync=True)
    unit = traitlets.Unicode("px").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    display_size = traitlets.Int(320).tag(sync=True)
    show_scalebar = traitlets.Bool(True).tag(sync=True)
    show_crosshair = traitlets.Bool(True).tag(sync=True)
    show_colorbar = traitlets.Bool(True).tag(sync=True)
    show_toolbar = traitlets.Bool(True).tag(sync=True)

    def __init__(self, image=None, *, rgb=None, **kwargs):
        pixel = kwargs.pop("pixel", None)
        selection = kwargs.pop("selection", None)
        super().__init__(**kwargs)
        with self.hold_sync():
            if image is not None or rgb is not None:
                self.set_image(image, rgb=rgb)
            if pixel is not None:
                self.pixel = pixel
            elif self.shape[0]:
                self.pixel = [self.shape[0] // 2, self.shape[1] // 2]
            if selection is not None:
                self.selection = selection
            self._dom_id = self.model_id or ""

    # ------------------------------------------------------------------ data
    def set_image(self, image=None, *, rgb=None) -> None:
        """Replace the picture (image and/or rgb) in one message.

        The current pixel is kept when it still lies inside, else moved to the centre; the
        selection is cleared when the shape changes.
        """
        img = None if image is None else coerce_array(image, "image", dtype="float32", ndim=2)
        col = None if rgb is None else self._check_rgb(rgb)
        if img is not None and col is not None and img.shape != col.shape[:2]:
            raise InvalidValue(f"image has shape {img.shape} but rgb has shape {col.shape}; "
                               f"both must show the same (ny, nx) pixels")
        with self.hold_sync():
            self._batch = True
            try:
                self.rgb = col
                self.image = img
            finally:
                self._batch = False
            self._refresh()

    @staticmethod
    def _check_rgb(rgb) -> np.ndarray:
        arr = coerce_array(rgb, "rgb", dtype=None, ndim=3)
        if arr.shape[2] != 3:
            raise InvalidValue(f"rgb must have shape (ny, nx, 3), got {arr.shape}; for one "
                               f"channel use image=")
        if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
            raise InvalidType(f"rgb must be uint8 (0-255) or float (0-1), got dtype {arr.dtype}")
        return arr

    @traitlets.validate("rgb")
    def _valid_rgb(self, proposal):
        value = proposal["value"]
        return None if value is None else self._check_rgb(value)

    @traitlets.observe("image", "rgb", "max_display")
    def _on_data(self, change):
        if getattr(self, "_batch", False):
            return
        img, col = self.image, self.rgb
        if img is not None and col is not None and img.shape != col.shape[:2]:
            # assigned one after the other: drop the stale one
            if change["name"] == "image":
                self.rgb = None
            else:
                self.image = None
            return
        self._refresh()

    def _refresh(self) -> None:
        img, col = self.image, self.rgb
        base = img if img is not None else col
        shape = (0, 0) if base is None else (int(base.shape[0]), int(base.shape[1]))
        factor = 1 if base is None else display_factor(shape, self.max_display)
        with self.hold_sync():
            if shape != tuple(self.shape):
                self.selection = np.zeros(0, np.int32)
            self.set_trait("shape", shape)
            self._factor = factor
            self._data = None if img is None else (
                img if factor == 1 else block_mean(img, factor))
            self._rgba = None if col is None else _rgb_to_rgba(
                col if factor == 1 else (
                    block_mean(col, factor).round().clip(0, 255).astype(np.uint8)
                    if col.dtype == np.uint8 else block_mean(col, factor)))
            y, x = self.pixel
            if base is not None and not (0 <= y < shape[0] and 0 <= x < shape[1]):
                self.pixel = [shape[0] // 2, shape[1] // 2]
            self._rescale()

    def _autoscale_values(self) -> np.ndarray | None:
        return self.image

    # ------------------------------------------------------------------ validation

    @traitlets.validate("pixel")
    def _valid_pixel(self, proposal):
        value = list(proposal["value"])
        y, x = (int(v) for v in value)
        ny, nx = self.shape
        if y < 0 or x < 0 or (ny and not (y < ny and x < nx)):
            raise InvalidValue(f"pixel {tuple(value)} lies outside the image of {ny}x{nx} pixels; "
                               f"use 0 <= y < {ny} and 0 <= x < {nx}")
        return [y, x]

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        return as_indices(proposal["value"], tuple(self.shape), "selection")

    @traitlets.validate("window", "display_size", "max_display")
    def _valid_positive(self, proposal):
        name = proposal["trait"].name
        v = int(proposal["value"])
        low = 0 if name == "window" else 1
        if v < low:
            raise InvalidValue(f"{name} must be >= {low}, got {v}")
        return v

    @traitlets.validate("pixel_size")
    def _valid_pixel_size(self, proposal):
        v = float(proposal["value"])
        if not (np.isfinite(v) and v > 0):
            raise InvalidValue(f"pixel_size must be a positive number, got {proposal['value']!r}")
        return v

    @traitlets.validate("overlay_alpha")
    def _valid_alpha(self, proposal):
        v = float(proposal["value"])
        if not 0 <= v <= 1:
            raise InvalidValue(f"overlay_alpha must lie in [0, 1], got {v}")
        return v

    # ------------------------------------------------------------------ helpers
    @property
    def flat_pixel(self) -> int:
        """The current pixel as a flat index ``y * nx + x``."""
        return int(self.pixel[0] * self.shape[1] + self.pixel[1])

    def selection_mask(self) -> np.ndarray:
        """The selection as a new boolean ``(ny, nx)`` mask."""
        ny, nx = self.shape
        m = np.zeros(ny * nx, bool)
        m[self.selection] = True
        return m.reshape(ny, nx)

    def display_to_pixel(self, dy: float, dx: float) -> tuple[int, int]:
        """Full-resolution pixel ``(y, x)`` under display-image coordinates ``(dy, dx)``.

        ``(dy, dx)`` are continuous coordinates in the (possibly block-averaged) display
        image (the browser's canvas pixels of the image); the result is clamped inside.
        """
        ny, nx = self.shape
        if ny == 0:
            raise InvalidValue("the view has no image")
        f = self._factor
        y = min(ny - 1, max(0, math.floor(dy * f)))
        x = min(nx - 1, max(0, math.floor(dx * f)))
        return y, x

    def __repr__(self) -> str:
        ny, nx = self.shape
        return (f"ImageView({ny}x{nx}, colormap={self.colormap!r}, pixel={tuple(self.pixel)}, "
                f"{self.selection.size} selected)")
