"""The one selection state shared by every view of an explorer (and by linked explorers).

A :class:`Selection` holds the *current pixel* ``(y, x)``, the *selected pixels* as sorted,
unique flat indices ``y * nx + x`` (int32) and the *energy range* ``(lo, hi)`` in eV (or None).

It is a tiny widget without a view: its model lives in the front end too, where it relays the
traits of the views tied to it (:meth:`Selection.tie`). A click on one image moves the
crosshair on every other image without a trip through the kernel, and the selection reaches the
kernel first, ahead of the views' own updates; Python observers on the selection only compute
what needs data (the spectrum at the pixel, the mean spectrum of the selected pixels, an
energy-filtered image).
"""

from __future__ import annotations

import pathlib

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from ._codec import array_serialization, array_to_json
from ._front_end import FrontEndGate, InvalidType, InvalidValue
from ._pixels import as_indices

__all__ = ["Selection", "as_indices"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"


class Selection(FrontEndGate, anywidget.AnyWidget):
    """Current pixel, selected pixels and energy range, shared by linked views.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(ny, nx)`` the pixel coordinates refer to.
    pixel : (int, int), optional
        Initial current pixel ``(y, x)``; default the image centre.

    Attributes
    ----------
    pixel : list of int
        The current pixel ``[y, x]`` (assign a tuple or list).
    indices : numpy.ndarray
        Selected pixels as sorted unique flat indices ``y * nx + x`` (int32; empty when nothing
        is selected). Assign flat indices in any order or a boolean ``(ny, nx)`` mask.
    energy_range : list of float or None
        ``[lo, hi]`` in eV, or None.
    shape : tuple of int
        ``(ny, nx)`` (fixed).

    Notes
    -----
    The front end may set ``pixel`` and ``indices`` (the relay of a click or a brush on a tied
    view); every other trait is set from Python only (see :class:`FrontEndGate`).

    Examples
    --------
    >>> sel = Selection((4, 5))
    >>> sel.pixel = (1, 2)
    >>> sel.indices = [7, 3, 3]
    >>> sel.indices.tolist(), sel.mask().sum()
    ([3, 7], 2)
    """

    # a model without a view: its front-end part relays the traits of the tied views
    _esm = _STATIC / "selection.js"
    _from_browser = frozenset({"pixel", "indices"})
    _relay = traitlets.List(traitlets.Dict()).tag(sync=True)

    pixel = traitlets.List(traitlets.Int(), default_value=[0, 0], minlen=2,
                           maxlen=2).tag(sync=True)
    indices = traitlets.Any(np.zeros(0, np.int32)).tag(sync=True, **array_serialization)
    energy_range = traitlets.List(traitlets.Float(), default_value=None, allow_none=True,
                                  minlen=2, maxlen=2).tag(sync=True)
    shape = traitlets.Tuple(traitlets.Int(), traitlets.Int()).tag(sync=True)

    def __init__(self, shape, *, pixel=None, **kwargs):
        shp = _check_shape(shape)
        super().__init__(shape=shp, **kwargs)
        self.pixel = (shp[0] // 2, shp[1] // 2) if pixel is None else pixel
        # model id -> (view, {"pixel": trait or None, "indices": trait or None})
        self._tied_views: dict[str, tuple[widgets.Widget, dict]] = {}
        self.observe(self._mirror, names=["pixel", "indices"])

    # ------------------------------------------------------------------ validation
    @traitlets.validate("shape")
    def _valid_shape(self, proposal):
        new = _check_shape(proposal["value"])
        old = getattr(self, "_fixed_shape", None)
        if old is not None and new != old:
            raise InvalidValue(f"the shape of a Selection is fixed at {old}; make a new "
                               f"Selection for an image of shape {new}")
        self._fixed_shape = new
        return new

    @traitlets.validate("pixel")
    def _valid_pixel(self, proposal):
        value = list(proposal["value"])
        ny, nx = self.shape
        y, x = (int(v) for v in value)
        if not (0 <= y < ny and 0 <= x < nx):
            raise InvalidValue(f"pixel {tuple(value)} lies outside the image of {ny}x{nx} pixels; "
                               f"use 0 <= y < {ny} and 0 <= x < {nx}")
        return [y, x]

    @traitlets.validate("indices")
    def _valid_indices(self, proposal):
        return as_indices(proposal["value"], self.shape)

    @traitlets.validate("energy_range")
    def _valid_energy_range(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        lo, hi = sorted(float(v) for v in value)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InvalidValue(f"energy_range must be two finite energies [lo, hi] in eV, got "
                               f"{value!r}")
        return [lo, hi]

    # ------------------------------------------------------------------ tied views
    def tie(self, view: widgets.Widget, *, pixel: str | None = "pixel",
            indices: str | None = "selection") -> None:
        """Tie ``view`` to this selection (both ways, no kernel round trip for the view).

        The view's trait ``pixel`` follows :attr:`pixel` and its trait ``indices`` follows
        :attr:`indices`. In the browser the selection's front-end part relays a change made on
        either side to the other at once, and only the selection's update travels to the kernel;
        here in Python the tied traits are kept equal to the selection's without a message. The
        view's traits are set from the selection now.

        Parameters
        ----------
        view : ipywidgets.Widget
            A view with synced traits of the same format as the selection's.
        pixel, indices : str or None
            Names of the view's traits tied to :attr:`pixel` and :attr:`indices` (None: not
            tied).

        Raises
        ------
        ValueError
            If the view has no trait of that name.
        """
        for name in (pixel, indices):
            if name is not None and not view.has_trait(name):
                raise ValueError(f"{type(view).__name__} has no trait {name!r} to tie")
        if pixel is not None:
            setattr(view, pixel, list(self.pixel))
        if indices is not None:
            setattr(view, indices, self.indices)
        if view.has_trait("_tied"):  # the view then leaves sending to the selection
            view._tied = True
        self._tied_views[view.model_id] = (view, {"pixel": pixel, "indices": indices})
        ref = f"IPY_MODEL_{view.model_id}"
        entry = {"model": ref, "pixel": pixel, "indices": indices}
        self._relay = [e for e in self._relay if e["model"] != ref] + [entry]

    def untie(self, view: widgets.Widget) -> None:
        """Stop relaying between ``view`` and this selection (no error if it is not tied).

        Works for a view that is already closed (its model id is gone with its comm).
        """
        ids = [mid for mid, (v, _traits) in self._tied_views.items() if v is view]
        for mid in ids:
            del self._tied_views[mid]
            if view.has_trait("_tied") and view.comm is not None:
                view._tied = False
        refs = {f"IPY_MODEL_{mid}" for mid in ids}
        if refs:
            self._relay = [e for e in self._relay if e["model"] not in refs]

    def tied(self) -> list[str]:
        """Model ids of the tied views, in the order they were tied."""
        return [e["model"].removeprefix("IPY_MODEL_") for e in self._relay]

    def _mirror(self, change) -> None:
        # The browser already shows the value on every tied view (the relay); set the Python
        # side of each view as if its own update had arrived (set_state: no message back).
        kind = change["name"]
        value = list(change["new"]) if kind == "pixel" else array_to_json(change["new"])
        for view, traits in list(self._tied_views.values()):
            if traits[kind] is not None and view.comm is not None:
                view.set_state({traits[kind]: value})

    # ------------------------------------------------------------------ helpers
    @property
    def flat_pixel(self) -> int:
        """The current pixel as a flat index ``y * nx + x``."""
        return int(self.pixel[0] * self.shape[1] + self.pixel[1])

    def mask(self) -> np.ndarray:
        """The selected pixels as a new boolean ``(ny, nx)`` mask."""
        m = np.zeros(self.shape[0] * self.shape[1], bool)
        m[self.indices] = True
        return m.reshape(self.shape)

    def clear(self) -> None:
        """Select no pixel and no energy range (the current pixel stays)."""
        with self.hold_sync():
            self.indices = np.zeros(0, np.int32)
            self.energy_range = None

    def __repr__(self) -> str:
        er = "None" if self.energy_range is None else \
            f"({self.energy_range[0]:.4g}, {self.energy_range[1]:.4g}) eV"
        return (f"Selection(shape={self.shape}, pixel={tuple(self.pixel)}, "
                f"{self.indices.size} selected, energy_range={er})")


def _check_shape(shape) -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise InvalidType(f"shape must be a pair (ny, nx) of positive integers, got {shape!r}"
                          ) from None
    if ny < 1 or nx < 1:
        raise InvalidValue(f"shape must be a pair of positive integers, got {shape!r}")
    return ny, nx
