"""LatentScatter: a fast scatter of latent codes, brushed and lassoed into pixel selections.

Each point belongs to a pixel of the image (``point_pixel``, flat index ``y * nx + x``); a brush
or a lasso in the browser selects points and sends back the *pixels* they belong to, and a
selection of pixels set from Python highlights their points. Coordinates travel once as
float32 binary buffers; the drawing (WebGL on a GPU, a fast Canvas2D renderer where WebGL is
software-emulated) happens in the browser.
"""

from __future__ import annotations

import numbers
import pathlib
import reprlib

import anywidget
import numpy as np
import traitlets

from ._codec import ArrayTrait, coerce_array
from ._color_scale import ColormappedView
from ._front_end import FrontEndGate, InvalidType, InvalidValue
from ._pixels import as_indices, sorted_unique

__all__ = ["MAX_LASSO_VERTICES", "LatentScatter", "check_region", "points_in_region"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"


#: most vertices a lasso region may have
MAX_LASSO_VERTICES = 50_000


def check_region(region) -> dict | None:
    """Check a brush/lasso region and return a new, normalised one (None stays None).

    Parameters
    ----------
    region : dict or None
        ``{"kind": "rect", "x0", "x1", "y0", "y1"}`` or ``{"kind": "lasso", "xs": [...],
        "ys": [...]}`` with finite numbers (at most :data:`MAX_LASSO_VERTICES` vertices).

    Returns
    -------
    dict or None
        The region with float coordinates and no other keys.

    Raises
    ------
    InvalidType
        For a region that is not a dict or coordinates that are not numbers.
    InvalidValue
        For an unknown kind, NaN/Inf coordinates, too many vertices or xs and ys of different
        lengths.
    """
    if region is None:
        return None
    if not isinstance(region, dict):
        raise InvalidType(f"region must be a dict with kind 'rect' or 'lasso', got "
                          f"{type(region).__name__}")
    kind = region.get("kind")
    if kind == "rect":
        return {"kind": "rect", **{k: _finite_number(region.get(k), f"rect region {k}")
                                   for k in ("x0", "x1", "y0", "y1")}}
    if kind != "lasso":
        raise InvalidValue(f"region kind must be 'rect' or 'lasso', got {reprlib.repr(kind)}")
    xs, ys = (_finite_list(region.get(k), f"lasso region {k}") for k in ("xs", "ys"))
    if len(xs) != len(ys):
        raise InvalidValue(f"a lasso region needs xs and ys of the same length, got {len(xs)} "
                           f"and {len(ys)}")
    return {"kind": "lasso", "xs": xs, "ys": ys}


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidType(f"{name} must be a number, got {reprlib.repr(value)}")
    out = float(value)
    if not np.isfinite(out):
        raise InvalidValue(f"{name} must be finite, got {out}")
    return out


def _finite_list(values, name: str) -> list[float]:
    if not isinstance(values, (list, tuple, np.ndarray)):
        raise InvalidType(f"{name} must be a list of numbers, got {type(values).__name__}")
    if len(values) > MAX_LASSO_VERTICES:
        raise InvalidValue(f"{name} has {len(values)} vertices; a lasso has at most "
                           f"{MAX_LASSO_VERTICES}")
    return [_finite_number(v, name) for v in values]


def points_in_region(x, y, region) -> np.ndarray:
    """Indices of the points inside a brush/lasso region, exactly as the browser selects them.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Point coordinates (float32 as sent to the browser).
    region : dict
        ``{"kind": "rect", "x0", "x1", "y0", "y1"}`` (bounds included) or
        ``{"kind": "lasso", "xs": [...], "ys": [...]}`` (even-odd rule, polygon closed
        implicitly), in data coordinates, as stored in ``LatentScatter.selection_region``.

    Returns
    -------
    numpy.ndarray
        Sorted point indices (int64). Points with NaN coordinates are never inside.
    """
    xv = np.asarray(x, dtype=np.float32).astype(np.float64)
    yv = np.asarray(y, dtype=np.float32).astype(np.float64)
    if xv.shape != yv.shape or xv.ndim != 1:
        raise InvalidValue(f"x and y must be 1-D of the same length, got {xv.shape} and "
                           f"{yv.shape}")
    region = check_region(region)
    if region is None:
        raise InvalidValue("region must be a dict with kind 'rect' or 'lasso', got None")
    with np.errstate(invalid="ignore"):
        if region["kind"] == "rect":
            x0, x1 = sorted((float(region["x0"]), float(region["x1"])))
            y0, y1 = sorted((float(region["y0"]), float(region["y1"])))
            inside = (xv >= x0) & (xv <= x1) & (yv >= y0) & (yv <= y1)
            return np.flatnonzero(inside)
        xs = np.asarray(region["xs"], dtype=np.float64)
        ys = np.asarray(region["ys"], dtype=np.float64)
        if xs.size < 3:
            return np.zeros(0, np.int64)
        cand = np.flatnonzero((xv >= xs.min()) & (xv <= xs.max())
                              & (yv >= ys.min()) & (yv <= ys.max()))
        px, py = xv[cand], yv[cand]
        inside = np.zeros(cand.size, bool)
        # PNPOLY, the same arithmetic as js/src/lib/geometry.js pointInPolygon
        j = xs.size - 1
        for i in range(xs.size):
            xi, yi, xj, yj = xs[i], ys[i], xs[j], ys[j]
            if yi != yj:
                crosses = (yi > py) != (yj > py)
                xint = (xj - xi) * (py - yi) / (yj - yi) + xi
                inside ^= crosses & (px < xint)
            j = i
        return cand[inside]


class LatentScatter(FrontEndGate, ColormappedView, anywidget.AnyWidget):
    """Scatter plot of latent codes (or any 2-D embedding) linked to image pixels.

    Parameters
    ----------
    x, y : array_like, shape (n,), optional
        Point coordinates. Points with NaN/Inf coordinates are not drawn and never selected.
    color : array_like, shape (n,), optional
        Per-point value coloured with ``colormap`` (NaN drawn grey); None: one colour.
    point_pixel : array_like of int, shape (n,), optional
        Flat pixel index ``y * nx + x`` of every point (default ``arange(n)``).
    image_shape : (int, int), optional
        ``(ny, nx)`` of the image the pixel indices refer to (for ``y, x`` readouts and
        range checks).
    **kwargs
        Initial values of the traits below.

    Attributes
    ----------
    x, y, color : numpy.ndarray
        float32 point data (``color`` may be None).
    point_pixel : numpy.ndarray
        int32 pixel index of every point.
    colormap, clim, percentiles, autoscale
        Colour scale of ``color`` (:class:`~._color_scale.ColormappedView`); the automatic
        limits are percentiles of the finite values of ``color``.
    current : int
        Flat index of the current pixel (its points are ringed); -1 for none. Clicking a
        point sets it.
    selection : numpy.ndarray
        Selected *pixels* (sorted unique int32 flat indices): set by brush/lasso in the browser
        or from Python (their points are highlighted, the others dimmed).
    selection_region : dict or None
        The last brush/lasso in data coordinates, set by the browser together with
        ``selection`` (see :func:`points_in_region`).
    mode : {"rect", "lasso", "pan"}
        What a drag does: select a rectangle or a lasso, or move the view (the names
        :class:`ImageView` uses for the same gestures). The wheel always zooms, a double
        click resets the view; ctrl/cmd adds to the selection, Escape clears it.
    xlabel, ylabel, title : str
        Axis labels and title.
    point_size : float
        Point diameter in CSS pixels (0: chosen from the number of points).
    display_size : int
        Side of the square plot area in CSS pixels.
    renderer : {"auto", "webgl", "canvas"}
        "auto" uses WebGL on a hardware GPU and the Canvas2D renderer when WebGL is
        software-emulated (much faster there).

    Notes
    -----
    The front end may set ``selection`` with ``selection_region`` (a brush or lasso),
    ``current`` (a click on a point) and ``mode`` (a toolbar button); every other trait is set
    from Python only. Pixel indices (``current``, ``selection``) must lie in the image of
    ``image_shape`` or, without one, below the largest ``point_pixel`` + 1.

    Examples
    --------
    >>> z = np.random.randn(1000, 2)
    >>> sc = LatentScatter(z[:, 0], z[:, 1], color=z[:, 0], image_shape=(25, 40))
    >>> sc.selection = [0, 1, 2]
    """

    _esm = _STATIC / "latent_scatter.js"
    _from_browser = frozenset({"selection", "selection_region", "current", "mode"})

    x = ArrayTrait("float32", ndim=1)
    y = ArrayTrait("float32", ndim=1)
    color = ArrayTrait("float32", ndim=1)
    point_pixel = ArrayTrait("int32", ndim=1)
    current = traitlets.Int(-1).tag(sync=True)
    # any integer array or boolean mask; the validator makes sorted unique int32 indices
    selection = ArrayTrait(None, default_value=np.zeros(0, np.int32), allow_none=False)
    selection_region = traitlets.Dict(default_value=None, allow_none=True).tag(sync=True)
    mode = traitlets.Enum(("rect", "lasso", "pan"), default_value="rect").tag(sync=True)
    xlabel = traitlets.Unicode("z1").tag(sync=True)
    ylabel = traitlets.Unicode("z2").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    point_size = traitlets.Float(0.0).tag(sync=True)
    display_size = traitlets.Int(360).tag(sync=True)
    image_shape = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0)
                                  ).tag(sync=True)
    renderer = traitlets.Enum(("auto", "webgl", "canvas"), default_value="auto").tag(sync=True)
    _dom_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, x=None, y=None, *, color=None, point_pixel=None, image_shape=None,
                 **kwargs):
        selection = kwargs.pop("selection", None)
        current = kwargs.pop("current", None)
        super().__init__(**kwargs)
        with self.hold_sync():
            if image_shape is not None:
                self.image_shape = image_shape
            if x is not None or y is not None:
                self.set_points(x, y, color=color, point_pixel=point_pixel)
            if selection is not None:
                self.selection = selection
            if current is not None:
                self.current = current
            self._dom_id = self.model_id or ""

    @classmethod
    def from_maps(cls, zx, zy, color=None, **kwargs) -> LatentScatter:
        """Scatter of two ``(ny, nx)`` latent maps; pixels with NaN codes are left out.

        Parameters
        ----------
        zx, zy : array_like, shape (ny, nx)
            Latent maps (e.g. ``z[..., 0]`` and ``z[..., 1]`` of ``model.encode(si)``).
        color : array_like, shape (ny, nx), optional
            Per-pixel value for the colours.
        **kwargs
            Passed to :class:`LatentScatter`.
        """
        a = coerce_array(zx, "zx", dtype="float32", ndim=2)
        b = coerce_array(zy, "zy", dtype="float32", ndim=2)
        if a.shape != b.shape:
            raise InvalidValue(f"zx has shape {a.shape} but zy has shape {b.shape}")
        c = None
        if color is not None:
            c = coerce_array(color, "color", dtype="float32", ndim=2)
            if c.shape != a.shape:
                raise InvalidValue(f"color has shape {c.shape} but the maps have {a.shape}")
        keep = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
        return cls(a.reshape(-1)[keep], b.reshape(-1)[keep],
                   color=None if c is None else c.reshape(-1)[keep],
                   point_pixel=keep.astype(np.int32), image_shape=a.shape, **kwargs)

    # ------------------------------------------------------------------ data
    def set_points(self, x, y, *, color=None, point_pixel=None) -> None:
        """Replace the points in one message, checking that all arrays have one length.

        Parameters
        ----------
        x, y : array_like, shape (n,)
            Coordinates.
        color : array_like, shape (n,), optional
            Values for the colours (None: one colour).
        point_pixel : array_like of int, shape (n,), optional
            Pixel of every point (default ``arange(n)``).
        """
        if x is None or y is None:
            raise InvalidType("set_points needs both x and y")
        xa = coerce_array(x, "x", dtype="float32", ndim=1)
        ya = coerce_array(y, "y", dtype="float32", ndim=1)
        n = xa.size
        if ya.size != n:
            raise InvalidValue(f"x has {n} points but y has {ya.size}; give one y per x")
        ca = None
        if color is not None:
            ca = coerce_array(color, "color", dtype="float32", ndim=1)
            if ca.size != n:
                raise InvalidValue(f"color has {ca.size} values for {n} points; give one per point")
        if point_pixel is None:
            pp = np.arange(n, dtype=np.int32)
        else:
            pp = coerce_array(point_pixel, "point_pixel", dtype="int32", ndim=1)
            if pp.size != n:
                raise InvalidValue(f"point_pixel has {pp.size} entries for {n} points; give the "
                                   f"flat pixel index of every point")
        self._check_pixels(pp, "point_pixel")
        with self.hold_sync():
            self.x, self.y, self.color, self.point_pixel = xa, ya, ca, pp

    def _check_pixels(self, pix: np.ndarray, name: str) -> None:
        if pix.size == 0:
            return
        ny, nx = self.image_shape
        lo, hi = int(pix.min()), int(pix.max())
        if lo < 0:
            raise InvalidValue(f"{name} must hold flat pixel indices >= 0, got {lo}")
        if ny and hi >= ny * nx:
            raise InvalidValue(f"{name} must lie in [0, {ny * nx}) for an image of {ny}x{nx} "
                             f"pixels, got values up to {hi}")

    def _autoscale_values(self) -> np.ndarray | None:
        return self.color

    @traitlets.observe("color")
    def _on_color(self, change):
        self._rescale()

    # ------------------------------------------------------------------ validation
    def _pixel_shape(self) -> tuple[int, int]:
        """``image_shape``, or ``(1, largest point_pixel + 1)`` without one."""
        ny, nx = self.image_shape
        if ny:
            return ny, nx
        pp = self._point_pixel()
        return 1, (int(pp.max()) + 1 if pp.size else 0)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        return as_indices(proposal["value"], self._pixel_shape(), "selection")

    @traitlets.validate("selection_region")
    def _valid_region(self, proposal):
        return check_region(proposal["value"])

    @traitlets.validate("point_pixel")
    def _valid_point_pixel(self, proposal):
        value = proposal["value"]
        if value is not None:
            self._check_pixels(value, "point_pixel")
        return value

    @traitlets.validate("current")
    def _valid_current(self, proposal):
        v = int(proposal["value"])
        ny, nx = self._pixel_shape()
        if v < -1 or v >= ny * nx:
            raise InvalidValue(f"current must be -1 (none) or a flat pixel index in "
                               f"[0, {ny * nx}), got {v}")
        return v

    @traitlets.validate("image_shape")
    def _valid_image_shape(self, proposal):
        ny, nx = (int(v) for v in proposal["value"])
        if ny < 0 or nx < 0 or (ny == 0) != (nx == 0):
            raise InvalidValue(f"image_shape must be (ny, nx) with positive sizes, got "
                               f"{proposal['value']!r}")
        return (ny, nx)

    @traitlets.validate("display_size")
    def _valid_display_size(self, proposal):
        v = int(proposal["value"])
        if v < 16:
            raise InvalidValue(f"display_size must be >= 16 CSS pixels, got {v}")
        return v

    @traitlets.validate("point_size")
    def _valid_point_size(self, proposal):
        v = float(proposal["value"])
        if not (np.isfinite(v) and v >= 0):
            raise InvalidValue(f"point_size must be >= 0 (0: automatic), got {v}")
        return v

    # ------------------------------------------------------------------ helpers
    @property
    def n_points(self) -> int:
        """Number of points."""
        return 0 if self.x is None else int(self.x.size)

    def points_in_region(self, region=None) -> np.ndarray:
        """Indices of the points inside ``region`` (default: ``selection_region``)."""
        region = self.selection_region if region is None else region
        if region is None or self.x is None or self.y is None:
            return np.zeros(0, np.int64)
        n = min(self.x.size, self.y.size)
        return points_in_region(self.x[:n], self.y[:n], region)

    def pixels_in_region(self, region=None) -> np.ndarray:
        """Sorted unique pixels (int32) of the points inside ``region``."""
        pts = self.points_in_region(region)
        return sorted_unique(self._point_pixel()[pts])

    def selected_points(self) -> np.ndarray:
        """Indices of the points whose pixel is selected."""
        if self.n_points == 0:
            return np.zeros(0, np.int64)
        pp = self._point_pixel()
        if self.selection.size == 0:
            return np.zeros(0, np.int64)
        member = np.zeros(max(int(pp.max()), int(self.selection.max())) + 1, bool)
        member[self.selection] = True
        return np.flatnonzero(member[pp])

    def _point_pixel(self) -> np.ndarray:
        pp = self.point_pixel
        return np.arange(self.n_points, dtype=np.int32) if pp is None else pp

    def __repr__(self) -> str:
        return (f"LatentScatter({self.n_points} points, mode={self.mode!r}, "
                f"current={self.current}, {self.selection.size} pixels selected)")
