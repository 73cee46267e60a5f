"""LatentExplorer: latent space and real space of a fitted latent model, linked.

A brush or lasso on the latent scatter selects the pixels of those points and lights them up
on every map (front-end link, no kernel round trip); a rectangle or lasso on a map highlights
the points of those pixels in the scatter. A click on a map (or on a point) moves the current
pixel; the kernel then sends the data and the decoded result at that pixel.

The explorer knows no model kind: it talks to the model through its
:class:`~eelswidgets.models.latent.LatentAdapter` (codes per pixel, one pixel decoded, the
input window) and the latent-model protocol (``manifold``, ``latent_ranges_``,
``latent_center_``).
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..analysis import rgb_composite
from ._explorer_base import CubeAccess, Explorer
from ._views import data_label, header, image_view
from .latent_scatter import LatentScatter
from .manifold_view import ManifoldView
from .selection import Selection
from .spectrum_view import SpectrumView

__all__ = ["LatentExplorer", "window_rgb"]


def window_rgb(window: np.ndarray) -> np.ndarray:
    """A window ``(C, w, w)`` as RGB ``(w, w, 3)`` in [0, 1].

    Its first three channels, each scaled to its own range
    (:func:`eelswidgets.analysis.rgb_composite`); two channels show as red and green. A
    window without any finite value is all NaN (drawn transparent).
    """
    win = np.asarray(window, np.float32)[:3]
    if not np.isfinite(win).all(axis=0).any():
        return np.full((*win.shape[1:], 3), np.nan, np.float32)
    if win.shape[0] == 2:
        win = np.concatenate([win, np.zeros_like(win[:1])])
    return rgb_composite(win)


class LatentExplorer(Explorer):
    """Explore a fitted latent model: latent scatter, latent maps, decoded results.

    Views: the latent scatter (two latents, one point per pixel, coloured by a per-pixel value
    of your choice), the HAADF image and the latent maps (and the model's further code maps,
    e.g. the rVAE's angle), the spectrum at the current pixel with what the model decodes
    there (a spectrum), or for a windowed model the input window around the current pixel
    next to its reconstruction, and the decoded latent manifold (click it to decode any
    latent point).

    Parameters
    ----------
    si : SpectrumImage
        The spectrum image (HAADF and spectra at the current pixel). For a SpectralVAE it is
        also what gets encoded.
    model : SpectralVAE, MultichannelRVAE, Im2Spec or Spec2Im
        A fitted latent model (see :mod:`eelswidgets.models.latent`).
    stack : array_like, shape (C, ny, nx), optional
        For a MultichannelRVAE: the maps it encodes (e.g. ``dec.maps[[0, 1, 2]]``); required.
    dims : (int, int)
        Which two content latents the scatter shows.
    color : str or array_like, optional
        Initial colouring: a name offered in the "colour by" menu ("HAADF", "z1", "angle",
        ...) or a ``(ny, nx)`` map of your own.
    selection : Selection, optional
        Share this selection instead of making a new one.
    manifold_grid : int
        Tiles per side of the decoded manifold (0: no manifold view).
    map_size, scatter_size : int
        CSS sizes of the maps and of the scatter.

    Attributes
    ----------
    selection : Selection
    adapter : LatentAdapter
        How the explorer uses the model.
    latents : dict of numpy.ndarray
        ``z`` (ny, nx, d) and, for the rVAE, ``angle`` (ny, nx): what the model encoded.
    scatter : LatentScatter
    map_views : dict of str to ImageView
    spectrum_view : SpectrumView
    manifold : ManifoldView or None

    Raises
    ------
    TypeError
        If ``model`` is not a latent model of this package.
    ValueError
        If the latent maps do not match the spectrum image, or ``stack`` is missing/wrong.
    """

    def __init__(self, si, model, *, stack=None, dims=(0, 1), color=None,
                 selection: Selection | None = None, manifold_grid: int = 8,
                 map_size: int = 200, scatter_size: int = 360):
        cube = CubeAccess(si)
        self.cube, self.model = cube, model
        if not callable(getattr(model, "latent_adapter", None)):
            raise TypeError(f"model must be a fitted latent model (SpectralVAE, "
                            f"MultichannelRVAE, Im2Spec, Spec2Im), got {type(model).__name__}")
        self.adapter = ad = model.latent_adapter(si, stack=stack)
        ny, nx = cube.shape
        self.latents = ad.encode()
        z = self.latents["z"]
        if z.ndim == 2:
            z = z[..., None]
            self.latents["z"] = z
        if z.shape[:2] != (ny, nx):
            raise ValueError(f"the model's latent maps are {z.shape[:2]} but the spectrum image "
                             f"is {ny}x{nx}; encode the same pixels")
        d = z.shape[2]
        i, j = (int(v) for v in dims)
        if not (0 <= i < d and 0 <= j < d and (i != j or d == 1)):
            raise ValueError(f"dims must name two of the {d} latents, got {tuple(dims)}")
        self.dims = (i, j)
        extra = ad.extra_maps                   # name -> (title, colormap)
        self._colormaps = {k: cm for k, (_t, cm) in extra.items()}

        # ---------------------------------------------------------------- per-pixel values
        self._values: dict[str, np.ndarray] = {}
        if cube.haadf is not None:
            self._values["HAADF"] = np.asarray(cube.haadf, np.float32)
        for k in extra:
            self._values[k] = self.latents[k]
        for k in range(d):
            self._values[f"z{k + 1}"] = z[..., k]
        if d == 1:                              # one latent: against the first extra map
            xs = z[..., 0]
            ylabel = next(iter(extra), "")
            ys = self.latents[ylabel] if ylabel else np.zeros((ny, nx), np.float32)
        else:
            xs, ys, ylabel = z[..., i], z[..., j], f"z{j + 1}"
        ok = np.isfinite(xs) & np.isfinite(ys) & cube.valid
        self._point_pixel = np.flatnonzero(ok).astype(np.int32)
        default_color = next(iter(extra), "HAADF" if "HAADF" in self._values else "z1")
        if color is not None and not isinstance(color, str):
            cmap = np.asarray(color, dtype=np.float32)
            if cmap.shape != (ny, nx):
                raise ValueError(f"color must be a ({ny}, {nx}) map, got shape {cmap.shape}")
            self._values["custom"] = cmap
            color = "custom"
        color = default_color if color is None else color
        if color not in self._values:
            raise ValueError(f"unknown color {color!r}; choose one of {sorted(self._values)}")
        name = type(model).__name__
        self.scatter = LatentScatter(
            xs[ok], ys[ok], color=self._values[color][ok], point_pixel=self._point_pixel,
            image_shape=(ny, nx), xlabel=f"z{i + 1}", ylabel=ylabel,
            title=f"{name} latent space ({ok.sum()} px)", display_size=scatter_size,
            colormap=self._colormap(color))
        self.color_by = widgets.Dropdown(options=list(self._values), value=color,
                                         description="colour by",
                                         layout=widgets.Layout(width="220px"))
        self.color_by.observe(self._recolor, names="value")

        # ---------------------------------------------------------------- maps
        maps = {}
        if cube.haadf is not None:
            maps["HAADF"] = (cube.haadf, "HAADF", "gray")
        for k, (title, cm) in extra.items():
            maps[k] = (self.latents[k], title, cm)
        for k in range(d):
            maps[f"z{k + 1}"] = (z[..., k], f"z{k + 1}", "viridis")
        self.map_views = {
            key: image_view(img, title=title, colormap=cm, pixel_size=cube.pixel_size,
                            unit=cube.pixel_unit, display_size=map_size)
            for key, (img, title, cm) in maps.items()}
        if ad.window is not None:
            for v in self.map_views.values():
                v.window = ad.window

        # ---------------------------------------------------------------- pixel detail
        self.spectrum_view = SpectrumView(cube.energy)
        detail = [self.spectrum_view]
        self.window_views = {}
        if ad.window is not None:
            w = ad.window
            for key, title in (("input", "input window"),
                               ("decoded", f"{ad.label} reconstruction")):
                v = image_view(np.zeros((w, w), np.float32), title=title, colormap="gray",
                               display_size=150, show_scalebar=False, show_colorbar=False,
                               show_toolbar=False, show_crosshair=False)
                if ad.data.shape[0] > 1:
                    v.set_image(None, rgb=np.zeros((w, w, 3), np.float32))
                self.window_views[key] = v
            detail.append(widgets.VBox(list(self.window_views.values())))
        self.manifold = None
        if manifold_grid:
            self.manifold = self._make_manifold(int(manifold_grid))
            detail.append(self.manifold)

        top = header(f"{name}: {d} latent(s) on {data_label(cube)}",
                     "brush/lasso the scatter: pixels light up on the maps · rectangle/lasso "
                     "a map: points light up · click: current pixel · click the manifold: "
                     "decode")
        row = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        super().__init__(cube.shape, [
            top,
            widgets.HBox([widgets.VBox([self.color_by, self.scatter]),
                          widgets.HBox(list(self.map_views.values()), layout=row)],
                         layout=row),
            widgets.HBox(detail, layout=row),
        ], selection=selection)
        self.add_class("ew-latent-explorer")
        for v in self.map_views.values():
            self._tie_pixel(v)
            self._tie_indices(v)
        self._tie_indices(self.scatter)
        self.scatter.observe(self._point_clicked, names="current")
        self._react("pixel", self._show_pixel)
        self._react("indices", self._show_selection)
        self._attach()

    def _colormap(self, name: str) -> str:
        return self._colormaps.get(name, "viridis")

    # ------------------------------------------------------------------ manifold
    def _make_manifold(self, grid: int) -> ManifoldView:
        """The decoded manifold over ``latent_ranges_``, in the one grid orientation."""
        i, j = self.dims
        model, ad = self.model, self.adapter
        d = self.latents["z"].shape[2]
        if d == 1:
            tiles = model.manifold(grid=grid)
            lo, hi = model.latent_ranges_[0]
            extent = (lo, hi, 0.0, 0.0)
        else:
            tiles = model.manifold(grid=grid, dims=(i, j))
            r = model.latent_ranges_
            extent = (r[i, 0], r[i, 1], r[j, 0], r[j, 1])
        tiles = np.asarray(tiles, np.float32)
        if tiles.ndim == 5:                     # (g, g, C, w, w): show three channels
            tiles = tiles[:, :, :3]
        center = model.latent_center_

        def decoder(zz):
            full = center.astype(np.float32)
            full[i] = zz[0]
            if d > 1:
                full[j] = zz[1]
            out = ad.decode_point(full)
            return out[:3] if out.ndim == 3 else out

        mv = ManifoldView(tiles, extent=extent, decoder=decoder,
                          title=f"decoded manifold{ad.manifold_note}", xlabel=f"z{i + 1}",
                          ylabel=f"z{j + 1}", display_size=300)
        if tiles.ndim == 3:                     # spectra
            mv.energy = self.cube.energy
        return mv

    # ------------------------------------------------------------------ reactions
    def _recolor(self, change) -> None:
        name = change["new"]
        vals = self._values[name].reshape(-1)[self._point_pixel]
        with self.scatter.hold_sync():
            self.scatter.colormap = self._colormap(name)
            self.scatter.color = vals

    def _point_clicked(self, change) -> None:
        cur = int(change["new"])
        if cur < 0 or self.selection is None:
            return
        y, x = divmod(cur, self.shape[1])
        if [y, x] != list(self.selection.pixel):
            self.selection.pixel = (y, x)

    def decoded_at(self, y: int, x: int) -> np.ndarray | None:
        """What the model reconstructs at ``(y, x)``: a spectrum (VAE) or a window (rVAE).

        None where the pixel has no latent code (border of a windowed model, invalid pixel).
        """
        codes = {k: v[int(y), int(x)] for k, v in self.latents.items()}
        if not all(np.all(np.isfinite(v)) for v in codes.values()):
            return None
        return self.adapter.reconstruct(codes)

    def input_window(self, y: int, x: int) -> np.ndarray | None:
        """The input window ``(C, w, w)`` around ``(y, x)``.

        None at the border, and for models that read the pixel's spectrum.
        """
        return self.adapter.input_at(y, x)

    def _show_pixel(self) -> None:
        y, x = self.selection.pixel
        flat = y * self.shape[1] + x
        if self.scatter.current != flat:
            self.scatter.current = flat
        sv = self.spectrum_view
        sv.set_spectrum(self.cube.spectrum(y, x), title=f"pixel (y={y}, x={x})")
        dec = self.decoded_at(y, x)
        if not self.window_views:
            sv.set_overlay("decoded", dec, label=f"{self.adapter.label} decoded")
            return
        n_chan, w = self.adapter.data.shape[0], self.adapter.window
        for key, arr in (("input", self.input_window(y, x)), ("decoded", dec)):
            v = self.window_views[key]
            if arr is None:
                arr = np.full((n_chan, w, w), np.nan, np.float32)
            if n_chan > 1:
                v.set_image(None, rgb=window_rgb(arr))
            else:
                v.set_image(arr[0])

    def _show_selection(self) -> None:
        idx = self.selection.indices
        self.spectrum_view.set_overlay("selection mean", self.cube.mean_spectrum(idx),
                                       label=f"mean of {idx.size} px")
