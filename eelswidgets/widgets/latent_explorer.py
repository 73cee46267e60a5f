"""LatentExplorer: latent space and real space of a SpectralVAE or a MultichannelRVAE, linked.

A brush or lasso on the latent scatter selects the pixels of those points and lights them up
on every map (front-end link, no kernel round trip); a rectangle or lasso on a map highlights
the points of those pixels in the scatter. A click on a map (or on a point) moves the current
pixel; the kernel then sends the data and the decoded result at that pixel.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..patches import window_bounds
from ._explorer_base import CubeAccess, Explorer
from ._views import data_label, header, image_view
from .latent_scatter import LatentScatter
from .manifold_view import ManifoldView
from .selection import Selection
from .spectrum_view import SpectrumView

__all__ = ["LatentExplorer"]


def _is_rvae(model) -> bool:
    try:
        from ..models import MultichannelRVAE
    except ImportError:  # pragma: no cover - models need torch
        return False
    return isinstance(model, MultichannelRVAE)


def _unit_rgb(window: np.ndarray) -> np.ndarray:
    """(C, w, w) -> (w, w, 3) floats in [0, 1], each channel scaled to its own range."""
    c = window.shape[0]
    chans = [window[i] for i in range(min(c, 3))]
    while len(chans) < 3:
        chans.append(np.zeros_like(window[0]))
    out = np.stack(chans, axis=-1).astype(np.float32)
    for i in range(min(c, 3)):
        ch = out[..., i]
        finite = np.isfinite(ch)
        if not finite.any():
            continue  # no value: stays NaN, drawn transparent
        lo, hi = ch[finite].min(), ch[finite].max()
        out[..., i] = (ch - lo) / (hi - lo) if hi > lo else np.where(finite, 0.0, np.nan)
    if c < 3:
        out[..., c:] = np.where(np.isnan(out[..., :1]), np.nan, 0.0)
    return out


class LatentExplorer(Explorer):
    """Explore a fitted SpectralVAE or MultichannelRVAE: latent scatter, latent maps, decoded.

    Views: the latent scatter (two latents, one point per pixel, coloured by a per-pixel value
    of your choice), the HAADF image and the latent (and, for the rVAE, angle) maps, the
    spectrum at the current pixel with the VAE's decoded spectrum, for the rVAE the input
    window around the current pixel next to its reconstruction, and the decoded latent
    manifold (click it to decode any latent point).

    Parameters
    ----------
    si : SpectrumImage
        The spectrum image (HAADF and spectra at the current pixel). For a SpectralVAE it is
        also what gets encoded.
    model : SpectralVAE or MultichannelRVAE
        A fitted model.
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
    latents : dict of numpy.ndarray
        ``z`` (ny, nx, d) and, for the rVAE, ``angle`` (ny, nx): what the model encoded.
    scatter : LatentScatter
    map_views : dict of str to ImageView
    spectrum_view : SpectrumView
    manifold : ManifoldView or None

    Raises
    ------
    ValueError
        If the latent maps do not match the spectrum image, or ``stack`` is missing/wrong.
    """

    def __init__(self, si, model, *, stack=None, dims=(0, 1), color=None,
                 selection: Selection | None = None, manifold_grid: int = 8,
                 map_size: int = 200, scatter_size: int = 360):
        cube = CubeAccess(si)
        self.cube, self.model = cube, model
        self.kind = "rvae" if _is_rvae(model) else "vae"
        ny, nx = cube.shape
        if self.kind == "rvae":
            if stack is None:
                raise ValueError("a MultichannelRVAE encodes maps: pass stack=... (the "
                                 "(C, ny, nx) maps it was fitted on, e.g. dec.maps[[0, 1, 2]])")
            st = np.asarray(stack, dtype=np.float32)
            if st.ndim == 2:
                st = st[None]
            if st.ndim != 3 or st.shape[1:] != (ny, nx):
                raise ValueError(f"stack must be (C, {ny}, {nx}) maps of this spectrum image's "
                                 f"pixels, got shape {np.shape(stack)}")
            self._stack = st
            enc = model.encode(st)
            self.latents = {"z": np.asarray(enc["z"], np.float32),
                            "angle": np.asarray(enc["angle"], np.float32)}
        else:
            if not hasattr(model, "encode") or not hasattr(model, "decode"):
                raise TypeError(f"model must be a fitted SpectralVAE or MultichannelRVAE, got "
                                f"{type(model).__name__}")
            self._stack = None
            self.latents = {"z": np.asarray(model.encode(si), np.float32)}
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

        # ---------------------------------------------------------------- per-pixel values
        self._values: dict[str, np.ndarray] = {}
        if cube.haadf is not None:
            self._values["HAADF"] = np.asarray(cube.haadf, np.float32)
        if "angle" in self.latents:
            self._values["angle"] = self.latents["angle"]
        for k in range(d):
            self._values[f"z{k + 1}"] = z[..., k]
        if d == 1:
            xs = z[..., 0]
            ys = self.latents.get("angle", np.zeros((ny, nx), np.float32))
            ylabel = "angle" if "angle" in self.latents else ""
        else:
            xs, ys, ylabel = z[..., i], z[..., j], f"z{j + 1}"
        ok = np.isfinite(xs) & np.isfinite(ys) & cube.valid
        self._point_pixel = np.flatnonzero(ok).astype(np.int32)
        default_color = "angle" if self.kind == "rvae" else (
            "HAADF" if "HAADF" in self._values else "z1")
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
            colormap="twilight" if color == "angle" else "viridis")
        self.color_by = widgets.Dropdown(options=list(self._values), value=color,
                                         description="colour by",
                                         layout=widgets.Layout(width="220px"))
        self.color_by.observe(self._recolor, names="value")

        # ---------------------------------------------------------------- maps
        self.map_views = {}
        if cube.haadf is not None:
            self.map_views["HAADF"] = image_view(cube.haadf, title="HAADF", colormap="gray",
                                                 pixel_size=cube.pixel_size,
                                                 unit=cube.pixel_unit, display_size=map_size)
        if "angle" in self.latents:
            self.map_views["angle"] = image_view(self.latents["angle"], title="angle (rad)",
                                                 colormap="twilight",
                                                 pixel_size=cube.pixel_size,
                                                 unit=cube.pixel_unit, display_size=map_size)
        for k in range(d):
            self.map_views[f"z{k + 1}"] = image_view(z[..., k], title=f"z{k + 1}",
                                                     colormap="viridis",
                                                     pixel_size=cube.pixel_size,
                                                     unit=cube.pixel_unit,
                                                     display_size=map_size)
        if self.kind == "rvae":
            w = int(model.window)
            for v in self.map_views.values():
                v.window = w

        # ---------------------------------------------------------------- pixel detail
        self.spectrum_view = SpectrumView(cube.energy)
        detail = [self.spectrum_view]
        self.window_views = {}
        if self.kind == "rvae":
            w = int(model.window)
            blank = np.zeros((w, w, 3), np.float32)
            for key, title in (("input", "input window"), ("decoded", "rVAE reconstruction")):
                v = image_view(np.zeros((w, w), np.float32), title=title, colormap="gray",
                               display_size=150, show_scalebar=False, show_colorbar=False,
                               show_toolbar=False, show_crosshair=False)
                if self._stack.shape[0] > 1:
                    v.set_image(None, rgb=blank)
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

    # ------------------------------------------------------------------ manifold
    def _make_manifold(self, grid: int) -> ManifoldView:
        i, j = self.dims
        if self.kind == "rvae":
            rv = self.model
            tiles = np.asarray(rv.manifold(grid=grid, dims=(i, j)), np.float32)
            if tiles.shape[2] > 3:
                tiles = tiles[:, :, :3]
            zr = np.asarray(rv.state_.get("z_range"), np.float64)
            extent = (zr[i, 0], zr[i, 1], zr[j, 0], zr[j, 1])
            d = self.latents["z"].shape[2]

            def decoder(zz):
                full = np.zeros((1, d), np.float32)
                full[0, i], full[0, j] = zz[0], zz[1]
                win = rv.decode(full)[0]
                return win[:3] if win.shape[0] > 3 else win

            return ManifoldView(tiles, extent=extent, decoder=decoder, origin="upper",
                                title="decoded manifold (angle 0)", xlabel=f"z{i + 1}",
                                ylabel=f"z{j + 1}", display_size=300)
        z = self.latents["z"]
        d = z.shape[2]
        zi, zj = z[..., i][np.isfinite(z[..., i])], z[..., j][np.isfinite(z[..., j])]
        lo_i, hi_i = np.percentile(zi, [2, 98])
        lo_j, hi_j = np.percentile(zj, [2, 98])
        gz = np.zeros((grid, grid, d), np.float32)
        gz[..., i] = np.linspace(lo_i, hi_i, grid)[None, :]
        gz[..., j] = np.linspace(lo_j, hi_j, grid)[:, None]          # row 0: lowest z_j
        tiles = self.model.decode(gz.reshape(-1, d)).reshape(grid, grid, -1)

        def decoder(zz):
            full = np.zeros((1, d), np.float32)
            full[0, i], full[0, j] = zz[0], zz[1]
            return self.model.decode(full)[0]

        mv = ManifoldView(tiles, extent=(lo_i, hi_i, lo_j, hi_j), decoder=decoder,
                          origin="lower", title="decoded manifold", xlabel=f"z{i + 1}",
                          ylabel=f"z{j + 1}", display_size=300)
        mv.energy = self.cube.energy
        return mv

    # ------------------------------------------------------------------ reactions
    def _recolor(self, change) -> None:
        name = change["new"]
        vals = self._values[name].reshape(-1)[self._point_pixel]
        with self.scatter.hold_sync():
            self.scatter.colormap = "twilight" if name == "angle" else "viridis"
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
        z = self.latents["z"][int(y), int(x)]
        if not np.all(np.isfinite(z)):
            return None
        if self.kind == "vae":
            return self.model.decode(z[None])[0]
        angle = self.latents["angle"][int(y), int(x)]
        return self.model.decode(z[None], angle=np.array([angle], np.float32))[0]

    def input_window(self, y: int, x: int) -> np.ndarray | None:
        """The stack's window ``(C, w, w)`` centred on ``(y, x)`` (rVAE; None at the border)."""
        if self._stack is None:
            return None
        w = int(self.model.window)
        before, _after = window_bounds(w)       # the convention of the model's windows
        y0, x0 = int(y) - before, int(x) - before
        _c, ny, nx = self._stack.shape
        if y0 < 0 or x0 < 0 or y0 + w > ny or x0 + w > nx:
            return None
        return self._stack[:, y0:y0 + w, x0:x0 + w].copy()

    def _show_pixel(self) -> None:
        y, x = self.selection.pixel
        flat = y * self.shape[1] + x
        if self.scatter.current != flat:
            self.scatter.current = flat
        sv = self.spectrum_view
        sv.set_spectrum(self.cube.spectrum(y, x), title=f"pixel (y={y}, x={x})")
        dec = self.decoded_at(y, x)
        if self.kind == "vae":
            sv.set_overlay("decoded", dec, label="VAE decoded")
            return
        win = self.input_window(y, x)
        for key, arr in (("input", win), ("decoded", dec)):
            v = self.window_views[key]
            if arr is None:
                w = int(self.model.window)
                arr = np.full((self._stack.shape[0], w, w), np.nan, np.float32)
            if self._stack.shape[0] > 1:
                v.set_image(None, rgb=_unit_rgb(arr))
            else:
                v.set_image(arr[0])

    def _show_selection(self) -> None:
        idx = self.selection.indices
        self.spectrum_view.set_overlay("selection mean", self.cube.mean_spectrum(idx),
                                       label=f"mean of {idx.size} px")
