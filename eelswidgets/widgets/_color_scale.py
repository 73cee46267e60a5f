"""Colour scales of the views: colormap names, contrast limits and automatic limits.

:class:`ColormappedView` is the one place where a view's ``colormap``, ``clim``,
``percentiles`` and ``autoscale`` traits are declared and checked; :class:`ImageView`,
:class:`LatentScatter` and :class:`ManifoldView` derive from it and say only which values the
automatic limits are measured on (:meth:`ColormappedView._autoscale_values`).

The contrast-limit rule is decided here once: ``clim`` is two finite numbers with
``low <= high``; ``low > high`` is refused, never swapped. A swapped value would silently
differ from what was asked for, and inverting the colours has its own spelling (a reversed
colormap, ``"viridis_r"``), which the error names.
"""

from __future__ import annotations

import numpy as np
import traitlets

from ._front_end import InvalidType, InvalidValue

__all__ = ["COLORMAPS", "ColormappedView", "check_clim", "check_colormap", "check_percentiles",
           "percentile_clim"]

#: colormap names known to the front end (each may also carry an ``_r`` suffix)
COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray", "RdBu", "coolwarm",
             "twilight", "turbo")


def check_colormap(name) -> str:
    """Return ``name`` if it is a known colormap (optionally with ``_r``), else raise."""
    if not isinstance(name, str):
        raise InvalidType(f"colormap must be a string, got {type(name).__name__}")
    base = name[:-2] if name.endswith("_r") else name
    if base not in COLORMAPS:
        opts = ", ".join(COLORMAPS)
        raise InvalidValue(f"unknown colormap {name!r}; choose one of {opts} "
                           f"(add '_r' to reverse)")
    return name


def check_clim(value, name: str = "clim") -> tuple[float, float]:
    """Return ``value`` as contrast limits ``(low, high)``: two finite floats, low <= high.

    ``low > high`` is refused rather than swapped (see the module notes); the error names the
    reversed colormap as the way to invert the colours.
    """
    lo, hi = (float(v) for v in value)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
        raise InvalidValue(f"{name} must be two finite numbers (low, high) with low <= high, "
                           f"got {tuple(value)!r}; to invert the colours use a reversed "
                           f"colormap (name + '_r')")
    return (lo, hi)


def check_percentiles(value) -> tuple[float, float]:
    """Return ``value`` as percentiles ``(low, high)`` with ``0 <= low <= high <= 100``."""
    lo, hi = (float(v) for v in value)
    if not (0 <= lo <= hi <= 100):
        raise InvalidValue(f"percentiles must satisfy 0 <= low <= high <= 100, got "
                           f"{tuple(value)!r}")
    return (lo, hi)


def percentile_clim(values: np.ndarray, percentiles=(1.0, 99.0)) -> tuple[float, float]:
    """Contrast limits from percentiles of the finite values; (0, 1) when there are none."""
    lo_p, hi_p = check_percentiles(percentiles)
    v = np.asarray(values)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(v, [lo_p, hi_p])
    return float(lo), float(hi)


class ColormappedView(traitlets.HasTraits):
    """Mixin: colormap, contrast limits and automatic limits of a view.

    Put it between :class:`~._front_end.FrontEndGate` and the widget base class and override
    :meth:`_autoscale_values`; call :meth:`_rescale` when those values change. None of these
    traits is set by the front end.

    Attributes
    ----------
    colormap : str
        One of :data:`COLORMAPS`, optionally with ``_r``.
    clim : tuple of float
        Contrast limits ``(low, high)``, ``low <= high`` (``low > high`` is refused). Computed
        from ``percentiles`` of the values while ``autoscale`` is True; assigning ``clim``
        (also as a constructor argument) switches ``autoscale`` off.
    percentiles : tuple of float
        Percentiles for automatic contrast limits (default (1, 99)).
    autoscale : bool
        Recompute ``clim`` when the values or ``percentiles`` change.
    """

    colormap = traitlets.Unicode("viridis").tag(sync=True)
    clim = traitlets.Tuple(traitlets.Float(), traitlets.Float(), default_value=(0.0, 1.0)
                           ).tag(sync=True)
    percentiles = traitlets.Tuple(traitlets.Float(), traitlets.Float(), default_value=(1.0, 99.0))
    autoscale = traitlets.Bool(True)

    _internal_clim = False  # True while the view sets clim itself (autoscale stays on)

    def _autoscale_values(self) -> np.ndarray | None:
        """The values the automatic limits are measured on (None: keep ``clim``)."""
        return None

    def _rescale(self) -> None:
        """Set ``clim`` from ``percentiles`` of :meth:`_autoscale_values` while autoscaling."""
        if not self.autoscale:
            return
        values = self._autoscale_values()
        if values is None:
            return
        self._internal_clim = True
        try:
            self.clim = percentile_clim(values, self.percentiles)
        finally:
            self._internal_clim = False

    @traitlets.observe("percentiles", "autoscale")
    def _on_scale_settings(self, change):
        self._rescale()

    @traitlets.validate("colormap")
    def _valid_colormap(self, proposal):
        return check_colormap(proposal["value"])

    @traitlets.validate("clim")
    def _valid_clim(self, proposal):
        return check_clim(proposal["value"])

    @traitlets.validate("percentiles")
    def _valid_percentiles(self, proposal):
        return check_percentiles(proposal["value"])

    @traitlets.observe("clim")
    def _on_clim(self, change):
        if not self._internal_clim:
            self.autoscale = False
