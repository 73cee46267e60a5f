"""Static matplotlib figures for papers: thin functions over arrays that return a Figure.

Nothing here computes results; pass the arrays returned by the data, decomposition, model and
analysis layers. Every function returns the :class:`matplotlib.figure.Figure` so that it can be
saved (``fig.savefig("fig1.png", dpi=300)``) or adjusted further.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .analysis import tile_mosaic

__all__ = [
    "nice_length",
    "plot_decomposition",
    "plot_histograms",
    "plot_latent_density",
    "plot_maps",
    "plot_rgb",
    "plot_scree",
    "plot_spectra",
    "plot_spectra_at",
    "plot_spectrum_grid",
    "plot_tiles",
    "scale_bar",
    "tile_mosaic",
]


def _figure(n_panels: int, ncols: int, panel: float = 2.4):
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, panel * nrows),
                             squeeze=False, layout="constrained")
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat[:n_panels]


def nice_length(length: float) -> float:
    """The largest 1, 2 or 5 × 10^n not above ``length`` (for scale bars)."""
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    exp = np.floor(np.log10(length))
    for m in (5, 2, 1):
        if m * 10 ** exp <= length:
            return float(m * 10 ** exp)
    return float(10 ** exp)


def scale_bar(ax, nx: int, pixel_size: float, unit: str, fraction: float = 0.25,
              color: str = "white") -> None:
    """Draw a scale bar of a round length, about ``fraction`` of the image width, on ``ax``."""
    length = nice_length(fraction * nx * pixel_size)
    px = length / pixel_size
    ax.plot([0.05 * nx, 0.05 * nx + px], [0.93, 0.93], color=color, lw=3,
            transform=ax.get_xaxis_transform(), solid_capstyle="butt")
    ax.text(0.05 * nx + px / 2, 0.88, f"{length:g} {unit}", color=color, ha="center",
            va="top", fontsize=8, transform=ax.get_xaxis_transform())


def plot_maps(maps, titles: Sequence[str] | None = None, *, cmap: str = "viridis",
              ncols: int = 4, pixel_size: float | None = None, unit: str = "nm",
              percentiles: tuple[float, float] = (1, 99), colorbar: bool = False):
    """Show a stack of maps ``(k, ny, nx)`` side by side (NaN pixels blank).

    Parameters
    ----------
    maps : array_like, shape (k, ny, nx) or (ny, nx)
    titles : sequence of str, optional
    cmap : str
        Matplotlib colormap.
    ncols : int
        Panels per row.
    pixel_size, unit : float, str, optional
        Draw a scale bar when given.
    percentiles : (float, float)
        Contrast limits per map from these percentiles of its finite values.
    colorbar : bool
        Add a colour bar to each panel.
    """
    m = np.asarray(maps, dtype=float)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"maps must be (k, ny, nx) or (ny, nx), got shape {m.shape}")
    fig, axes = _figure(len(m), ncols)
    for i, (ax, img) in enumerate(zip(axes, m, strict=True)):
        finite = img[np.isfinite(img)]
        lo, hi = np.percentile(finite, percentiles) if finite.size else (0, 1)
        im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        if pixel_size is not None:
            scale_bar(ax, img.shape[1], pixel_size, unit)
        if colorbar:
            fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_spectra(energy, spectra, labels: Sequence[str] | None = None, *,
                 offset: float = 0.0, ax=None, xlabel: str = "Energy loss (eV)",
                 ylabel: str = "Intensity (a.u.)"):
    """Plot spectra ``(k, ne)`` against ``energy`` (optionally stacked with an ``offset``)."""
    import matplotlib.pyplot as plt

    s = np.atleast_2d(np.asarray(spectra, dtype=float))
    e = np.asarray(energy, dtype=float)
    if s.shape[1] != e.size:
        raise ValueError(f"spectra have {s.shape[1]} channels but energy has {e.size}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
    else:
        fig = ax.figure
    for i, row in enumerate(s):
        ax.plot(e, row + i * offset, lw=1.2, label=None if labels is None else labels[i])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if labels is not None:
        ax.legend(fontsize=8, frameon=False)
    return fig


def plot_scree(scree, *, n_show: int = 20, ax=None):
    """Explained-variance ratio per PCA component on a log scale."""
    import matplotlib.pyplot as plt

    r = np.asarray(scree, dtype=float)[:n_show]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    else:
        fig = ax.figure
    ax.semilogy(np.arange(1, r.size + 1), r, "o-", ms=4)
    ax.set_xlabel("Component")
    ax.set_ylabel("Explained variance ratio")
    ax.set_title("PCA scree", fontsize=9)
    return fig


def plot_decomposition(dec, *, haadf=None, pixel_size: float | None = None,
                       unit: str = "nm", cmap: str = "viridis"):
    """Paper-style overview of a decomposition: (HAADF,) maps, endmember spectra and scree."""
    import matplotlib.pyplot as plt

    k = dec.n_components
    ncols = k + (haadf is not None)
    fig = plt.figure(figsize=(2.2 * max(ncols, 3), 5.0), layout="constrained")
    grid = fig.add_gridspec(2, max(ncols, 3))
    col = 0
    if haadf is not None:
        ax = fig.add_subplot(grid[0, 0])
        ax.imshow(haadf, cmap="gray", interpolation="nearest")
        ax.set_title("HAADF", fontsize=9)
        ax.set_axis_off()
        if pixel_size is not None:
            scale_bar(ax, np.shape(haadf)[1], pixel_size, unit)
        col = 1
    for i in range(k):
        ax = fig.add_subplot(grid[0, col + i])
        ax.imshow(dec.maps[i], cmap=cmap, interpolation="nearest")
        ax.set_title(f"{dec.method.upper()} {i + 1}", fontsize=9)
        ax.set_axis_off()
    span = max(ncols, 3)
    ax = fig.add_subplot(grid[1, : span - span // 3])
    plot_spectra(dec.energy, dec.spectra, [f"{dec.method.upper()} {i + 1}" for i in range(k)],
                 ax=ax)
    plot_scree(dec.scree, ax=fig.add_subplot(grid[1, span - span // 3:]))
    return fig


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def plot_latent_density(xs, ys, density, *, points=None, labels: Sequence[str] = ("z1", "z2"),
                        ax=None, cmap: str = "magma", max_points: int = 5000, seed: int = 0):
    """Latent distribution: a density on a grid (e.g. a KDE) with optional codes on top.

    Parameters
    ----------
    xs, ys : array_like, shapes (gx,) and (gy,)
        Grid coordinates (e.g. from :func:`eelswidgets.analysis.latent_kde`).
    density : array_like, shape (gy, gx)
        ``density[i, j]`` at ``(xs[j], ys[i])``.
    points : array_like, shape (n, 2) or (ny, nx, 2), optional
        Codes to scatter (NaN rows skipped; at most ``max_points``, drawn at random).
    labels : (str, str)
        Axis labels.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.
    cmap : str
        Colormap of the density.
    max_points : int
        Largest number of points drawn.
    seed : int
        Seed of the random subset of points.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    d = np.asarray(density, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or d.shape != (y.size, x.size):
        raise ValueError(f"density must have shape (len(ys), len(xs)) = ({y.size}, {x.size}), "
                         f"got {d.shape}")
    fig, ax = _axes(ax, (3.6, 3.2))
    ax.pcolormesh(x, y, d, cmap=cmap, shading="auto")
    ax.contour(x, y, d, levels=6, colors="white", linewidths=0.5)
    if points is not None:
        p = np.asarray(points, dtype=float)
        if p.shape[-1] != 2:
            raise ValueError(f"points must have 2 columns (the plotted dimensions), got shape "
                             f"{p.shape}")
        p = p.reshape(-1, 2)
        p = p[np.all(np.isfinite(p), axis=1)]
        if len(p) > max_points:
            p = p[np.random.default_rng(seed).choice(len(p), max_points, replace=False)]
        ax.scatter(p[:, 0], p[:, 1], s=1, c="cyan", alpha=0.3, linewidths=0)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    return fig


def plot_histograms(counts, edges, labels: Sequence[str] | None = None, *, ncols: int = 4,
                    color: str = "C0"):
    """One bar histogram per variable (e.g. from :func:`eelswidgets.analysis.histograms`).

    Parameters
    ----------
    counts : array_like, shape (d, bins)
    edges : array_like, shape (d, bins + 1)
    labels : sequence of str, optional
        Title of each panel.
    ncols : int
        Panels per row.
    color : str
        Bar colour.
    """
    c = np.atleast_2d(np.asarray(counts, dtype=float))
    e = np.atleast_2d(np.asarray(edges, dtype=float))
    if e.shape != (c.shape[0], c.shape[1] + 1):
        raise ValueError(f"edges must have shape (d, bins + 1) = ({c.shape[0]}, "
                         f"{c.shape[1] + 1}) for counts of shape {c.shape}, got {e.shape}")
    fig, axes = _figure(len(c), ncols, panel=2.6)
    for i, ax in enumerate(axes):
        ax.stairs(c[i], e[i], fill=True, color=color, alpha=0.8)
        ax.set_ylabel("pixels")
        if labels is not None:
            ax.set_title(labels[i], fontsize=9)
    return fig


def plot_spectrum_grid(energy, spectra, *, xlabel: str = "latent dim 1",
                       ylabel: str = "latent dim 2", ax=None, color: str = "C0",
                       normalize: str = "global"):
    """Decoded spectra of a latent grid, each drawn in its own cell of one axes.

    Parameters
    ----------
    energy : array_like, shape (ne,)
    spectra : array_like, shape (g1, g2, ne)
        ``spectra[i, j]`` is drawn in row ``i`` (bottom to top) and column ``j``, as returned by
        ``latent_grid`` (dimension 1 varies with ``j``, dimension 2 with ``i``).
    xlabel, ylabel : str
        Axis labels (the latent dimensions).
    ax : matplotlib.axes.Axes, optional
    color : str
        Line colour.
    normalize : {"global", "each"}
        One intensity scale for all cells (differences in strength stay visible) or each
        spectrum scaled to its own maximum (shape only).
    """
    s = np.asarray(spectra, dtype=float)
    e = np.asarray(energy, dtype=float)
    if s.ndim != 3 or s.shape[2] != e.size:
        raise ValueError(f"spectra must have shape (g1, g2, ne={e.size}), got {s.shape}")
    if normalize not in ("global", "each"):
        raise ValueError(f"normalize must be 'global' or 'each', got {normalize!r}")
    g1, g2, _ = s.shape
    lo = np.nanmin(s, axis=2, keepdims=True) if normalize == "each" else np.nanmin(s)
    hi = np.nanmax(s, axis=2, keepdims=True) if normalize == "each" else np.nanmax(s)
    span = np.where(np.asarray(hi - lo) > 0, hi - lo, 1.0)
    norm = (s - lo) / span
    u = (e - e[0]) / (e[-1] - e[0]) if e[-1] != e[0] else np.zeros_like(e)
    fig, ax = _axes(ax, (0.75 * g2 + 1.0, 0.6 * g1 + 0.8))
    for i in range(g1):
        for j in range(g2):
            ax.plot(j + 0.05 + 0.9 * u, i + 0.05 + 0.85 * norm[i, j], color=color, lw=0.8)
    ax.set_xlim(0, g2)
    ax.set_ylim(0, g1)
    ax.set_xticks(np.arange(g2) + 0.5, [str(j) for j in range(g2)], fontsize=7)
    ax.set_yticks(np.arange(g1) + 0.5, [str(i) for i in range(g1)], fontsize=7)
    ax.grid(True, color="0.85", lw=0.5)
    ax.set_xticks(np.arange(g2 + 1), minor=True)
    ax.set_yticks(np.arange(g1 + 1), minor=True)
    ax.grid(True, which="minor", color="0.8", lw=0.6)
    ax.grid(False, which="major")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig


def plot_tiles(tiles, *, cmap: str = "gray", ax=None, xlabel: str = "latent dim 1",
               ylabel: str = "latent dim 2", title: str | None = None):
    """A grid of decoded images (e.g. a latent manifold): ``(g1, g2, h, w)`` or RGB ``(..., 3)``.

    Parameters
    ----------
    tiles : array_like, shape (g1, g2, h, w) or (g1, g2, h, w, 3)
        Tile ``[i, j]`` is drawn in grid row ``i`` counted from the bottom and column ``j``.
        RGB tiles must be in [0, 1] (see :func:`eelswidgets.analysis.rgb_composite`).
    cmap : str
        Colormap of single-channel tiles.
    ax : matplotlib.axes.Axes, optional
    xlabel, ylabel, title : str
        Labels.
    """
    t = np.asarray(tiles, dtype=float)
    if t.ndim == 5 and t.shape[4] not in (3, 4):
        raise ValueError(f"RGB tiles must have 3 (or 4) channels last, got shape {t.shape}")
    mosaic = tile_mosaic(t)
    g1, g2 = t.shape[:2]
    fig, ax = _axes(ax, (min(0.55 * g2 + 1.2, 9), min(0.55 * g1 + 1.0, 9)))
    if mosaic.ndim == 3:
        img = np.where(np.isnan(mosaic), 1.0, np.clip(mosaic, 0, 1))
        ax.imshow(img, interpolation="nearest")
    else:
        ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{xlabel} →")
    ax.set_ylabel(f"{ylabel} →")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_rgb(rgb, *, title: str | None = None, pixel_size: float | None = None,
             unit: str = "nm", ax=None):
    """Show an RGB composite ``(ny, nx, 3)`` in [0, 1] (e.g. three abundance maps)."""
    img = np.asarray(rgb, dtype=float)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"rgb must have shape (ny, nx, 3) or (ny, nx, 4), got {img.shape}")
    fig, ax = _axes(ax, (3.2, 3.2 * img.shape[0] / img.shape[1] + 0.3))
    ax.imshow(np.clip(np.nan_to_num(img), 0, 1), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if pixel_size is not None:
        scale_bar(ax, img.shape[1], pixel_size, unit)
    return fig


def plot_spectra_at(energy, series: dict, titles: Sequence[str] | None = None, *,
                    ncols: int = 4, xlabel: str = "Energy loss (eV)"):
    """Several spectra per location, one panel per location (data vs model vs truth).

    Parameters
    ----------
    energy : array_like, shape (ne,)
    series : dict of str -> array_like, shape (P, ne)
        One entry per curve kind (e.g. ``{"data": ..., "VAE": ..., "truth": ...}``), each
        holding the spectra at the same ``P`` locations. The first is drawn thin (the data),
        with three or more the last dashed black (the reference), the others solid.
    titles : sequence of str, optional
        Title of each panel (e.g. the pixel).
    ncols : int
        Panels per row.
    xlabel : str
        Label of the energy axis.
    """
    e = np.asarray(energy, dtype=float)
    arrs = {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in series.items()}
    if not arrs:
        raise ValueError("series is empty; pass e.g. {'data': spectra}")
    shapes = {v.shape for v in arrs.values()}
    if len(shapes) != 1 or next(iter(shapes))[1] != e.size:
        raise ValueError(f"every series must have shape (P, ne={e.size}); got "
                         f"{ {k: v.shape for k, v in arrs.items()} }")
    n = next(iter(shapes))[0]
    fig, axes = _figure(n, ncols, panel=2.6)
    k = len(arrs)

    def style(i):  # first: the data (thin); last of 3+: the reference (dashed black)
        if i == 0:
            return dict(lw=0.7, alpha=0.6, color="C0")
        if i == k - 1 and k >= 3:
            return dict(lw=1.0, ls="--", color="k")
        return dict(lw=1.5, color=f"C{i}")

    for p, ax in enumerate(axes):
        for i, (name, v) in enumerate(arrs.items()):
            ax.plot(e, v[p], label=name, **style(i))
        ax.set_xlabel(xlabel, fontsize=8)
        if titles is not None:
            ax.set_title(titles[p], fontsize=9)
        if p == 0:
            ax.legend(fontsize=7, frameon=False)
    return fig
