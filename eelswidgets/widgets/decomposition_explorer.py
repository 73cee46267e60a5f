"""DecompositionExplorer: component maps, endmember spectra, scree plot, channel choice."""

from __future__ import annotations

import bqplot
import ipywidgets as widgets
import numpy as np

from ._explorer_base import CubeAccess, Explorer
from ._html import SafeHTML, bold, colored, concat, join
from ._views import data_label, header, image_view
from .selection import Selection
from .spectrum_view import SpectrumView

__all__ = ["DecompositionExplorer"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _check_decomposition(cube: CubeAccess, dec) -> tuple[np.ndarray, np.ndarray]:
    maps = getattr(dec, "maps", None)
    spectra = getattr(dec, "spectra", None)
    if maps is None or spectra is None:
        raise TypeError(f"dec must be a Decomposition (from ew.decompose) with .maps and "
                        f".spectra, got {type(dec).__name__}")
    maps, spectra = np.asarray(maps), np.asarray(spectra)
    if maps.ndim != 3 or spectra.ndim != 2 or maps.shape[0] != spectra.shape[0]:
        raise ValueError(f"dec.maps must be (k, ny, nx) and dec.spectra (k, ne) with the same "
                         f"k, got {maps.shape} and {spectra.shape}")
    if maps.shape[1:] != cube.shape:
        raise ValueError(f"the decomposition maps are {maps.shape[1]}x{maps.shape[2]} pixels "
                         f"but the spectrum image is {cube.ny}x{cube.nx}; decompose this "
                         f"spectrum image (ew.decompose(si, ...))")
    if spectra.shape[1] != cube.ne:
        raise ValueError(f"the decomposition spectra have {spectra.shape[1]} channels but the "
                         f"spectrum image has {cube.ne}; decompose the same energy range")
    return maps, spectra


class DecompositionExplorer(Explorer):
    """Explore an NMF/PCA decomposition: maps, endmembers, scree; choose channels for the rVAE.

    Views: one small map per component (all sharing the current pixel and the selection),
    the component spectra, the PCA scree plot, and the spectrum at the current pixel with the
    decomposition's reconstruction and the mean of the selected pixels. Toggle buttons under
    the maps pick the channels (:attr:`channels`) whose maps feed a
    :class:`~eelswidgets.MultichannelRVAE` (:meth:`stack`).

    Parameters
    ----------
    si : SpectrumImage
        The decomposed data.
    dec : Decomposition
        Result of :func:`eelswidgets.decompose` on ``si``.
    channels : sequence of int, optional
        Initially chosen components (default the first three, or all if fewer).
    selection : Selection, optional
        Share this selection instead of making a new one.
    map_size : int
        Width of each component map in CSS pixels.
    progress : {"auto", True, False, None} or callable
        For a lazy spectrum image, how passes over its chunks (the mean of a large selection)
        show their progress besides the explorer's :attr:`progress_bar` (see
        :class:`~eelswidgets.widgets.SpectrumImageExplorer`); a click reads one chunk.

    Attributes
    ----------
    selection : Selection
    channels : list of int
        Chosen components (sorted), also set by the toggle buttons.
    map_views : list of ImageView
    spectrum_view : SpectrumView
    components_figure, scree_figure : bqplot.Figure
    progress_bar : ipywidgets.IntProgress or None
        Chunks read by the current pass over a lazy cube (None in memory).

    Raises
    ------
    ValueError
        If the decomposition does not match the spectrum image (pixels or channels).
    """

    def __init__(self, si, dec, *, channels=None, selection: Selection | None = None,
                 map_size: int = 170, colormap: str = "magma", progress="auto"):
        cube = CubeAccess(si, progress=progress)
        maps, spectra = _check_decomposition(cube, dec)
        self.cube, self.dec = cube, dec
        self._maps = maps.astype(np.float32, copy=False)
        self._spectra = spectra.astype(np.float32, copy=False)
        k = self._maps.shape[0]
        self._mean = None
        if getattr(dec, "method", "") == "pca":
            mean = getattr(getattr(dec, "estimator", None), "mean_", None)
            if mean is not None and np.shape(mean) == (cube.ne,):
                self._mean = np.asarray(mean, dtype=np.float32)
        method = str(getattr(dec, "method", "")).upper()
        self.map_views = [image_view(self._maps[i], title=f"{method} #{i}", colormap=colormap,
                                     pixel_size=cube.pixel_size, unit=cube.pixel_unit,
                                     display_size=map_size, show_colorbar=False)
                          for i in range(k)]
        if channels is None:
            channels = list(range(min(3, k)))
        self._toggles = [widgets.ToggleButton(description=f"#{i}", value=False,
                                              tooltip=f"use map #{i} as an rVAE channel",
                                              layout=widgets.Layout(width="60px"))
                         for i in range(k)]
        self.channels = channels
        for t in self._toggles:
            t.observe(self._toggled, names="value")
        tiles = [widgets.VBox([v, t], layout=widgets.Layout(align_items="flex-start"))
                 for v, t in zip(self.map_views, self._toggles, strict=True)]
        self.components_figure = self._components_plot(cube.energy)
        self.scree_figure = self._scree_plot(np.asarray(getattr(dec, "scree", [])))
        self.spectrum_view = SpectrumView(cube.energy)
        self.abundances = SafeHTML()
        self.abundances.add_class("ew-abundances")
        top = header(f"{method} with {k} components on {data_label(cube)}",
                     "click a map: spectrum and abundances there · rectangle/lasso: select · "
                     "toggles: channels for the rVAE")
        grid = widgets.GridBox(tiles, layout=widgets.Layout(
            grid_template_columns=f"repeat({min(k, 5)}, {map_size + 10}px)"))
        self.progress_bar = self._progress_bar(cube)
        super().__init__(cube.shape, [
            top, grid,
            widgets.HBox([self.spectrum_view,
                          widgets.VBox([self.components_figure, self.scree_figure])]),
            self.abundances,
            *([self.progress_bar] if self.progress_bar is not None else []),
        ], selection=selection)
        self.add_class("ew-decomposition-explorer")
        for v in self.map_views:
            self._tie_pixel(v)
            self._tie_indices(v)
        self._react("pixel", self._show_pixel)
        self._react("indices", self._show_selection)
        self._attach()
        self._drive_bar(cube, self.progress_bar, progress)

    # ------------------------------------------------------------------ channels
    @property
    def channels(self) -> list[int]:
        """Components chosen as rVAE channels (sorted)."""
        return [i for i, t in enumerate(self._toggles) if t.value]

    @channels.setter
    def channels(self, value) -> None:
        k = len(self._toggles)
        chosen = sorted({int(c) for c in value})
        if any(c < 0 or c >= k for c in chosen):
            raise ValueError(f"channels must be component numbers in [0, {k}), got {value!r}")
        for i, t in enumerate(self._toggles):
            t.value = i in chosen

    def _toggled(self, change) -> None:
        self._restyle()

    def _restyle(self) -> None:
        chosen = set(self.channels)
        for i, t in enumerate(self._toggles):
            t.button_style = "info" if i in chosen else ""
        if hasattr(self, "_lines"):  # chosen components drawn solid, the others faint
            self._lines.opacities = [1.0 if (i in chosen or not chosen) else 0.25
                                     for i in range(len(self._toggles))]

    def stack(self) -> np.ndarray:
        """The chosen maps ``(C, ny, nx)`` (a new array), the input of a MultichannelRVAE."""
        ch = self.channels
        if not ch:
            raise ValueError("no channel chosen; toggle at least one map (or set "
                             "explorer.channels = [0, 1, 2])")
        return self._maps[ch].copy()

    # ------------------------------------------------------------------ plots
    def _components_plot(self, energy) -> bqplot.Figure:
        k = self._spectra.shape[0]
        xs, ys = bqplot.LinearScale(), bqplot.LinearScale()
        peak = np.nanmax(np.abs(self._spectra), axis=1, keepdims=True)
        norm = self._spectra / np.where(peak > 0, peak, 1)
        self._lines = bqplot.Lines(
            x=np.asarray(energy, np.float32), y=norm.astype(np.float32),
            scales={"x": xs, "y": ys}, colors=[_COLORS[i % len(_COLORS)] for i in range(k)],
            labels=[f"#{i}" for i in range(k)], display_legend=True, stroke_width=1.5)
        fig = bqplot.Figure(
            marks=[self._lines], title="component spectra (each / its maximum)",
            axes=[bqplot.Axis(scale=xs, label="Energy loss (eV)", num_ticks=5),
                  bqplot.Axis(scale=ys, side="left", num_ticks=4,
                              tick_format=".2g")],
            animation_duration=0, legend_location="top-right",
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="420px", height="230px"))
        fig.add_class("ew-components")
        self._restyle()
        return fig

    @staticmethod
    def _scree_plot(scree: np.ndarray) -> bqplot.Figure:
        xs, ys = bqplot.LinearScale(), bqplot.LogScale()
        s = np.asarray(scree, dtype=np.float32)
        s = s[s > 0]
        x = np.arange(1, s.size + 1, dtype=np.float32)
        marks = [bqplot.Lines(x=x, y=s, scales={"x": xs, "y": ys}, colors=["#555"]),
                 bqplot.Scatter(x=x, y=s, scales={"x": xs, "y": ys}, colors=["#1f77b4"],
                                default_size=24)] if s.size else []
        fig = bqplot.Figure(
            marks=marks, title="PCA scree (explained variance ratio)",
            axes=[bqplot.Axis(scale=xs, label="component", tick_format="d", num_ticks=6),
                  bqplot.Axis(scale=ys, side="left", tick_format=".0e")],
            animation_duration=0, fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 10},
            layout=widgets.Layout(width="420px", height="210px"))
        fig.add_class("ew-scree")
        return fig

    # ------------------------------------------------------------------ reactions
    def reconstruction(self, y: int, x: int) -> np.ndarray:
        """The decomposition's model spectrum at ``(y, x)`` (``maps[:, y, x] @ spectra``)."""
        a = self._maps[:, int(y), int(x)].astype(np.float64)
        rec = a @ self._spectra.astype(np.float64)
        if self._mean is not None:
            rec = rec + self._mean
        return rec.astype(np.float32)

    def _show_pixel(self) -> None:
        y, x = self.selection.pixel
        sv = self.spectrum_view
        sv.set_spectrum(self.cube.spectrum(y, x), title=f"pixel (y={y}, x={x})")
        sv.set_overlay("reconstruction", self.reconstruction(y, x))
        a = self._maps[:, y, x]
        cells = join("", (colored(_COLORS[i % len(_COLORS)], f"#{i}: {v:.3g}", gap_px=12)
                          for i, v in enumerate(a)))
        self.abundances.value = concat(bold(f"abundances at ({y}, {x})"), ": ", cells)

    def _show_selection(self) -> None:
        idx = self.selection.indices
        self.spectrum_view.set_overlay("selection mean", self.cube.mean_spectrum(idx),
                                       label=f"mean of {idx.size} px")
