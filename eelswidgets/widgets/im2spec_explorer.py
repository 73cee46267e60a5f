"""Im2SpecExplorer: HAADF window in, spectrum out; true vs predicted, error maps, two models."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..analysis import error_map
from ..patches import window_slices
from ._explorer_base import CubeAccess, Explorer
from ._html import SafeHTML, bold, concat, join
from ._views import data_label, header, image_view
from .selection import Selection
from .spectrum_view import SpectrumView

__all__ = ["Im2SpecExplorer"]


def _label(model) -> str:
    d = getattr(model, "latent_dim", None)
    return f"{type(model).__name__}" + (f" (latent {d})" if d is not None else "")


class Im2SpecExplorer(Explorer):
    """Explore an image-to-spectrum model: input window, true vs predicted spectrum, error map.

    The predictions of every pixel are computed once (in the kernel); a click sends the HAADF
    window around the pixel and the true and predicted spectra there. With ``compare`` a second
    model (e.g. 2 vs 10 latents) is shown side by side: its prediction as a second overlay and
    its own error map.

    Parameters
    ----------
    si : SpectrumImage
        Spectrum image with a HAADF image.
    model : Im2Spec
        A fitted model (``predict(si)`` returns a SpectrumImage with a ``valid`` mask).
    compare : Im2Spec, optional
        A second fitted model to compare with.
    train : array_like of bool, shape (ny, nx), optional
        The training region, outlined as the initial selection so that train and test parts
        can be told apart.
    selection : Selection, optional
        Share this selection instead of making a new one.
    map_size : int
        CSS size of the maps.

    Attributes
    ----------
    selection : Selection
    predictions : list of SpectrumImage
        One per model.
    errors : list of numpy.ndarray
        Per-pixel relative squared error (%) of each model (:func:`eelswidgets.error_map`).
    haadf_view, window_view : ImageView
    error_views : list of ImageView
    spectrum_view : SpectrumView

    Raises
    ------
    ValueError
        If the spectrum image has no HAADF image or a prediction does not match it.
    """

    def __init__(self, si, model, compare=None, *, train=None,
                 selection: Selection | None = None, map_size: int = 230):
        cube = CubeAccess(si)
        if cube.haadf is None:
            raise ValueError("Im2SpecExplorer needs a spectrum image with a HAADF image "
                             "(the model's input)")
        self.cube = cube
        self.models = [model] if compare is None else [model, compare]
        self.predictions = []
        for m in self.models:
            if not hasattr(m, "predict"):
                raise TypeError(f"model must be a fitted Im2Spec, got {type(m).__name__}")
            pred = m.predict(si)
            data = getattr(pred, "data", None)
            if data is None or np.shape(data) != (cube.ny, cube.nx, cube.ne):
                raise ValueError(f"{_label(m)} predicts shape {np.shape(data)} but the spectrum "
                                 f"image is {(cube.ny, cube.nx, cube.ne)}")
            self.predictions.append(pred)
        # per-click reads of a prediction: one spectrum, or one cached chunk of a lazy one
        self._predicted = [CubeAccess(p, "prediction", progress=False) for p in self.predictions]
        self.errors = [np.asarray(error_map(si, p)) for p in self.predictions]  # lazy: computed
        self.window = int(getattr(model, "window", 16))
        self.haadf_view = image_view(cube.haadf, title="HAADF (model input)", colormap="gray",
                                     pixel_size=cube.pixel_size, unit=cube.pixel_unit,
                                     display_size=map_size, window=self.window)
        self.window_view = image_view(np.zeros((self.window, self.window), np.float32),
                                      title=f"input window {self.window}x{self.window}",
                                      colormap="gray", display_size=150, show_scalebar=False,
                                      show_toolbar=False, show_crosshair=False)
        self.error_views = [
            image_view(err, title=f"error (%) {_label(m)}", colormap="magma",
                       pixel_size=cube.pixel_size, unit=cube.pixel_unit, display_size=map_size,
                       window=self.window)
            for m, err in zip(self.models, self.errors, strict=True)]
        self.spectrum_view = SpectrumView(cube.energy)
        self.scores = SafeHTML(self._scores_html())
        labels = " vs ".join(_label(m) for m in self.models)
        top = header(f"{labels} on {data_label(cube)}",
                     "click: the window there and its predicted spectrum · rectangle/lasso: "
                     "mean true spectrum of a region")
        row = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        super().__init__(cube.shape, [
            top,
            widgets.HBox([self.haadf_view, *self.error_views], layout=row),
            widgets.HBox([self.window_view, self.spectrum_view], layout=row),
            self.scores,
        ], selection=selection)
        self.add_class("ew-im2spec-explorer")
        for v in (self.haadf_view, *self.error_views):
            self._tie_pixel(v)
            self._tie_indices(v)
        self._react("pixel", self._show_pixel)
        self._react("indices", self._show_selection)
        self._attach(indices=None if train is None else np.asarray(train, bool))

    def _scores_html(self):
        parts = []
        for m, err in zip(self.models, self.errors, strict=True):
            med = np.nanmedian(err) if np.isfinite(err).any() else float("nan")
            parts.append(concat(f"{_label(m)}: median error ", bold(f"{med:.3g} %")))
        return join(" · ", parts)

    def input_window(self, y: int, x: int) -> np.ndarray | None:
        """The HAADF window the model sees at ``(y, x)`` (None where it crosses the border)."""
        where = window_slices(y, x, self.window, (self.cube.ny, self.cube.nx))
        return None if where is None else np.array(self.cube.haadf[where], dtype=np.float32)

    def _show_pixel(self) -> None:
        y, x = self.selection.pixel
        sv = self.spectrum_view
        sv.set_spectrum(self.cube.spectrum(y, x), title=f"pixel (y={y}, x={x})")
        names = ("prediction", "prediction (compare)")
        for k, (m, pred) in enumerate(zip(self.models, self._predicted, strict=True)):
            valid = bool(pred.valid[y, x])
            sv.set_overlay(names[k], pred.spectrum(y, x) if valid else None,
                           label=f"{_label(m)}" + (f": {self.errors[k][y, x]:.3g} %"
                                                   if valid else ""))
        win = self.input_window(y, x)
        self.window_view.set_image(win if win is not None
                                   else np.full((self.window, self.window), np.nan, np.float32))

    def _show_selection(self) -> None:
        idx = self.selection.indices
        self.spectrum_view.set_overlay("selection mean", self.cube.mean_spectrum(idx),
                                       label=f"mean of {idx.size} px")
