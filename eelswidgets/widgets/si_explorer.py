"""SpectrumImageExplorer: HAADF, energy-filtered image and the spectrum at the current pixel."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ._explorer_base import CubeAccess, Explorer
from ._views import header, image_view
from .selection import Selection
from .spectrum_view import SpectrumView

__all__ = ["SpectrumImageExplorer"]


class SpectrumImageExplorer(Explorer):
    """Explore a spectrum image: click a pixel, select pixels, brush an energy span.

    Views: the HAADF image (or the total intensity when there is none), the image filtered to
    the selected energy span, and the spectrum at the current pixel with the mean spectrum of
    the selected pixels as an overlay. Only what is shown travels to the browser: two images
    at display resolution and one or two spectra.

    Parameters
    ----------
    si : SpectrumImage
        The data (or any object with ``data`` (ny, nx, ne) and ``energy``; the cube is read,
        never copied, so a memory map of any size works).
    energy_range : (float, float), optional
        Initial energy span in eV for the filtered image (default: the whole axis).
    selection : Selection, optional
        Share this selection (e.g. another explorer's) instead of making a new one.
    colormap : str
        Colormap of the images.
    display_size : int
        Width of each image in CSS pixels.
    progress : {"auto", True, False, None} or callable
        For a lazy spectrum image: how the passes over its chunks made while the explorer is
        built (the overview, a first energy-filtered image) show their progress
        (``"auto"``: a ``tqdm.auto`` bar); later passes (a new energy span, a large selection)
        drive the explorer's own bar (:attr:`progress_bar`), and a callable
        ``progress(done, total, desc)`` is told of every pass.

    Attributes
    ----------
    selection : Selection
        Current pixel, selected pixels, energy span.
    image_view, energy_view : ImageView
        The HAADF (or total intensity) image and the energy-filtered image.
    spectrum_view : SpectrumView
        The spectrum at the current pixel.
    progress_bar : ipywidgets.IntProgress or None
        Chunks read by the current pass over a lazy cube (None in memory).

    Notes
    -----
    On a lazy spectrum image (``si.is_lazy``) nothing computes the cube: a click reads the
    one chunk holding the pixel (the last few chunks are cached, so nearby clicks read
    nothing), the total intensity and mean spectrum are computed once, chunk by chunk, and a
    new energy span sums its channels chunk by chunk.

    Examples
    --------
    >>> ex = SpectrumImageExplorer(si)                     # doctest: +SKIP
    >>> ex.selection.pixel = (10, 20)                      # doctest: +SKIP
    >>> ex.selection.energy_range = (0.4, 0.6)             # doctest: +SKIP
    """

    def __init__(self, si, *, energy_range=None, selection: Selection | None = None,
                 colormap: str = "viridis", display_size: int = 256, progress="auto"):
        cube = CubeAccess(si, progress=progress)
        self.cube = cube
        img, img_title = cube.default_image()
        self._total = img if img_title == "total intensity" else None
        self.image_view = image_view(img, title=img_title, colormap="gray",
                                     pixel_size=cube.pixel_size, unit=cube.pixel_unit,
                                     display_size=display_size)
        self.energy_view = image_view(np.full(cube.shape, np.nan, np.float32),
                                      title="energy-filtered", colormap=colormap,
                                      pixel_size=cube.pixel_size, unit=cube.pixel_unit,
                                      display_size=display_size)
        self.spectrum_view = SpectrumView(cube.energy)
        views = [self.image_view, self.energy_view]
        ny, nx = cube.shape
        title = cube.name or "spectrum image"
        top = header(f"{title}: {ny} x {nx} px, {cube.ne} channels",
                     "click: current pixel · rectangle/lasso: select pixels · "
                     "drag on the spectrum: energy span")
        self.progress_bar = self._progress_bar(cube)
        super().__init__(cube.shape, [
            top,
            widgets.HBox([self.image_view, self.energy_view, self.spectrum_view],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            *([self.progress_bar] if self.progress_bar is not None else []),
        ], selection=selection)
        self.add_class("ew-si-explorer")
        for v in views:
            self._tie_pixel(v)
            self._tie_indices(v)
        self._react("pixel", self._show_pixel)
        self._react("indices", self._show_selection)
        self._react("energy_range", self._show_energy)
        self.spectrum_view.observe(self._brushed, names="energy_range")
        self._attach(energy_range=energy_range)
        self._drive_bar(cube, self.progress_bar, progress)

    # ------------------------------------------------------------------ reactions
    def _show_pixel(self) -> None:
        y, x = self.selection.pixel
        self.spectrum_view.set_spectrum(self.cube.spectrum(y, x), title=f"pixel (y={y}, x={x})")

    def _show_selection(self) -> None:
        idx = self.selection.indices
        mean = self.cube.mean_spectrum(idx)
        self.spectrum_view.set_overlay("selection mean", mean,
                                       label=f"mean of {idx.size} px")

    def _show_energy(self) -> None:
        rng = self.selection.energy_range
        self.spectrum_view.energy_range = rng
        if rng is None:
            e = self.cube.energy
            if self._total is None:
                self._total = self.cube.energy_image(e[0], e[-1])
            img, title = self._total, "all energies"
        else:
            img = self.cube.energy_image(*rng)
            title = f"{rng[0]:.3g}–{rng[1]:.3g} eV"
        self.energy_view.set_image(img)
        self.energy_view.title = title

    def _brushed(self, change) -> None:
        if self.selection is not None:
            self.selection.energy_range = change["new"]

    def energy_image(self) -> np.ndarray:
        """The energy-filtered image now shown (computed in the kernel), ``(ny, nx)``."""
        rng = self.selection.energy_range
        e = self.cube.energy
        return self.cube.energy_image(*(rng if rng is not None else (e[0], e[-1])))
