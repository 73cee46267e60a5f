"""SpectrumView: the spectrum at the current pixel, with overlays and an energy-span selector.

A bqplot figure. One spectrum travels per update (float32, ``ne`` values); the energy axis is
sent once. Overlays are extra lines drawn over the data (the reconstruction of a model, a
prediction, the mean spectrum of the selected pixels, ...). A brush (bqplot
``BrushIntervalSelector``) picks an energy span and sets :attr:`SpectrumView.energy_range`,
which explorers tie to ``Selection.energy_range`` to drive an energy-filtered image.
"""

from __future__ import annotations

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from bqplot.interacts import BrushIntervalSelector

from ._front_end import FrontEndGate, InvalidValue
from ._html import SafeHTML, bold, concat, italic

__all__ = ["MARGIN", "OVERLAY_COLORS", "SpectrumView"]

#: figure margins in CSS pixels (the plot area starts ``left`` px from the figure's edge)
MARGIN = {"top": 30, "bottom": 45, "left": 72, "right": 15}

#: default colours of the named overlays (anything else cycles through ``_CYCLE``)
OVERLAY_COLORS = {
    "data": "#222222",
    "reconstruction": "#e6550d",
    "prediction": "#d62728",
    "truth": "#2ca02c",
    "selection mean": "#1f77b4",
    "decoded": "#e6550d",
}
_CYCLE = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _as_line(values, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of {n} values (one per energy channel), "
                         f"got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float32)  # a copy: the widget never aliases user data


class SpectrumView(FrontEndGate, widgets.VBox):
    """Spectrum at the current pixel with overlays and an energy-span brush.

    Parameters
    ----------
    energy : array_like, shape (ne,)
        Energy axis in eV.
    title : str
        Figure title.
    ylabel : str
        Label of the intensity axis.
    width, height : int
        Figure size in CSS pixels.
    brush : bool
        Offer the energy-span brush (default True).

    Attributes
    ----------
    energy_range : list of float or None
        ``[lo, hi]`` eV picked with the brush (or set from Python; None clears it).
    figure : bqplot.Figure
        The figure (CSS class ``ew-spectrum-view``).
    caption : SafeHTML
        One line of text above the plot (the current pixel), set by :meth:`set_spectrum`.
    lines : dict of str to bqplot.Lines
        ``"data"`` and one entry per overlay.

    Examples
    --------
    >>> import numpy as np
    >>> view = SpectrumView(np.linspace(0, 3, 100))
    >>> view.set_spectrum(np.ones(100), title="pixel (0, 0)")
    >>> view.set_overlay("reconstruction", np.full(100, 0.9))
    >>> sorted(view.lines)
    ['data', 'reconstruction']
    """

    energy_range = traitlets.List(traitlets.Float(), default_value=None, allow_none=True,
                                  minlen=2, maxlen=2)

    def __init__(self, energy, *, title: str = "", ylabel: str = "Intensity",
                 width: int = 460, height: int = 300, brush: bool = True, **kwargs):
        e = np.asarray(energy, dtype=np.float64)
        if e.ndim != 1 or e.size < 1:
            raise ValueError(f"energy must be a non-empty 1-D array, got shape {e.shape}")
        if not np.all(np.isfinite(e)):
            raise ValueError("energy contains NaN/Inf values")
        self._energy = e.astype(np.float32)
        self._xs = bqplot.LinearScale(min=float(e[0]), max=float(e[-1]) if e.size > 1
                                      else float(e[0]) + 1.0)
        self._ys = bqplot.LinearScale()
        self.lines: dict[str, bqplot.Lines] = {}
        data = self._make_line("data", np.full(e.size, np.nan, np.float32))
        self.figure = bqplot.Figure(
            marks=[data],
            axes=[bqplot.Axis(scale=self._xs, label="Energy loss (eV)", num_ticks=6),
                  bqplot.Axis(scale=self._ys, side="left", label=ylabel, label_offset="58px",
                              tick_format=".3g", num_ticks=5)],
            title=title, animation_duration=0, legend_location="top-right",
            fig_margin=dict(MARGIN),
            layout=widgets.Layout(width=f"{int(width)}px", height=f"{int(height)}px"),
        )
        self.figure.add_class("ew-spectrum-view")
        self.brush = None
        if brush:
            # no marks: the brush only reports its span; with the line as a mark every new
            # spectrum cost ~20 ms more to draw (measured with the browser benchmark)
            self.brush = BrushIntervalSelector(scale=self._xs, color="#ffd54f")
            self.figure.interaction = self.brush
            self.brush.observe(self._on_brush, names=["selected", "brushing"])
        self._clear = widgets.Button(description="clear energy span", icon="times",
                                     layout=widgets.Layout(width="150px"),
                                     tooltip="forget the energy span picked with the brush")
        self._clear.on_click(lambda _b: setattr(self, "energy_range", None))
        self._range_label = SafeHTML(self._range_text(None))
        controls = widgets.HBox([self._range_label, self._clear]) if brush else widgets.HBox()
        self.caption = SafeHTML(layout=widgets.Layout(margin=f"0 0 0 {MARGIN['left']}px"))
        self.caption.add_class("ew-spectrum-caption")
        super().__init__([self.caption, self.figure, controls], **kwargs)
        self.add_class("ew-spectrum-box")

    # ------------------------------------------------------------------ data
    @property
    def energy(self) -> np.ndarray:
        """The energy axis (float32 copy as drawn)."""
        return self._energy.copy()

    def _make_line(self, name: str, y: np.ndarray) -> bqplot.Lines:
        color = OVERLAY_COLORS.get(name) or _CYCLE[(len(self.lines) - 1) % len(_CYCLE)]
        line = bqplot.Lines(x=self._energy, y=y, scales={"x": self._xs, "y": self._ys},
                            colors=[color], labels=[name], display_legend=name != "data",
                            stroke_width=1.5 if name == "data" else 2.0,
                            line_style="dashed" if name == "selection mean" else "solid")
        self.lines[name] = line
        return line

    def set_spectrum(self, values, *, title: str | None = None) -> None:
        """Draw ``values`` (``ne`` numbers) as the data spectrum; optionally set the caption.

        The caption (e.g. the pixel) is a line of text (escaped) above the plot: cheaper to update
        on every click than the figure's title, which makes bqplot lay the figure out again.
        """
        y = _as_line(values, self._energy.size, "spectrum")
        self.lines["data"].y = y
        if title is not None:
            self.caption.value = title

    def set_overlay(self, name: str, values, *, label: str | None = None) -> None:
        """Draw an overlay line called ``name`` (None hides it)."""
        if not isinstance(name, str) or not name or name == "data":
            raise ValueError(f"overlay name must be a non-empty string other than 'data', "
                             f"got {name!r}")
        if values is None:
            self.hide_overlay(name)
            return
        y = _as_line(values, self._energy.size, name)
        line = self.lines.get(name)
        if line is None:
            line = self._make_line(name, y)
            if label is not None:
                line.labels = [label]
            self.figure.marks = [*self.figure.marks, line]
            return
        with line.hold_sync():
            line.y = y
            line.visible = True
            if label is not None:
                line.labels = [label]

    def hide_overlay(self, name: str) -> None:
        """Hide the overlay ``name`` (no error if it does not exist)."""
        line = self.lines.get(name)
        if line is not None and name != "data":
            line.visible = False

    def overlay(self, name: str) -> np.ndarray | None:
        """The values drawn for ``name`` (None if hidden or absent)."""
        line = self.lines.get(name)
        if line is None or not line.visible:
            return None
        return np.asarray(line.y)

    # ------------------------------------------------------------------ energy span
    @staticmethod
    def _range_text(rng):
        if rng is None:
            return italic("drag on the plot to pick an energy span")
        return concat("energy span ", bold(f"{rng[0]:.3f} – {rng[1]:.3f} eV"))

    def _on_brush(self, change) -> None:
        if self.brush.brushing:
            return  # wait for the mouse-up: only the final span is computed on
        try:  # whatever the browser sent: only two finite, different energies make a span
            span = np.asarray(self.brush.selected, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            span = np.zeros(0)
        if span.size != 2 or not np.all(np.isfinite(span)) or span[0] == span[1]:
            self.energy_range = None
        else:
            self.energy_range = [float(span.min()), float(span.max())]

    @traitlets.validate("energy_range")
    def _valid_range(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        lo, hi = sorted(float(v) for v in value)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InvalidValue(f"energy_range must be two finite energies [lo, hi] in eV, got "
                               f"{value!r}")
        return [lo, hi]

    @traitlets.observe("energy_range")
    def _show_range(self, change) -> None:
        rng = change["new"]
        self._range_label.value = self._range_text(rng)
        if self.brush is None:
            return
        cur = self.brush.selected
        if rng is None:
            if cur is not None and len(cur):
                self.brush.selected = None
        elif cur is None or len(cur) < 2 or not np.allclose(sorted(cur), rng):
            self.brush.selected = np.array(rng, dtype=np.float64)
