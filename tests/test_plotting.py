import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets.plotting import nice_length, plot_decomposition, plot_maps, plot_spectra


@pytest.mark.parametrize("length, nice", [(37.0, 20.0), (10.0, 10.0), (0.73, 0.5), (199, 100)])
def test_nice_length(length, nice):
    assert nice_length(length) == pytest.approx(nice)


def test_figures_render_and_save(tmp_path):
    rng = np.random.default_rng(0)
    cube = np.einsum("yxk,ke->yxe", rng.random((8, 9, 2)), rng.random((2, 30)))
    si = ew.SpectrumImage(cube, np.linspace(1, 2, 30), haadf=rng.random((8, 9)))
    dec = ew.decompose(si, 2)
    fig = plot_decomposition(dec, haadf=si.haadf, pixel_size=si.pixel_size)
    out = tmp_path / "fig.png"
    fig.savefig(out, dpi=50)
    assert out.stat().st_size > 1000
    # one image per map (+ HAADF), the spectra and the scree axes
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3
    maps = dec.maps.copy()
    maps[0, 0, 0] = np.nan                          # NaN pixels are allowed (left blank)
    assert len(plot_maps(maps, ["a", "b"], pixel_size=2.0).axes) == 2
    with pytest.raises(ValueError, match="channels but energy"):
        plot_spectra(si.energy[:5], dec.spectra)
    with pytest.raises(ValueError, match="maps must be"):
        plot_maps(np.ones(5))


def test_latent_density_and_histograms(tmp_path):
    from eelswidgets.analysis import histograms, latent_kde
    from eelswidgets.plotting import plot_histograms, plot_latent_density

    rng = np.random.default_rng(1)
    z = rng.normal(size=(30, 40, 2)).astype(np.float32)
    z[0, 0] = np.nan                                # border pixels are NaN and skipped
    xs, ys, dens = latent_kde(z, grid=30)
    fig = plot_latent_density(xs, ys, dens, points=z, max_points=100)
    ax = fig.axes[0]
    assert ax.get_xlim() == (xs[0], xs[-1])
    assert len(ax.collections[-1].get_offsets()) == 100   # subsampled scatter
    fig.savefig(tmp_path / "kde.png", dpi=40)
    with pytest.raises(ValueError, match="density must have shape"):
        plot_latent_density(xs, ys[:5], dens)
    with pytest.raises(ValueError, match="2 columns"):
        plot_latent_density(xs, ys, dens, points=np.ones((4, 3)))
    counts, edges = histograms(z, bins=12)
    fig = plot_histograms(counts, edges, ["z1", "z2"])
    assert [a.get_title() for a in fig.axes] == ["z1", "z2"]
    with pytest.raises(ValueError, match="edges must have shape"):
        plot_histograms(counts, edges[:, :-1])


def test_tile_mosaic_layout_and_plot_tiles():
    from eelswidgets.plotting import plot_tiles, tile_mosaic

    tiles = np.arange(2 * 3, dtype=float).reshape(2, 3, 1, 1) * np.ones((1, 1, 4, 5))
    m = tile_mosaic(tiles, gap=1)
    assert m.shape == (2 * 5 - 1, 3 * 6 - 1)
    assert np.isnan(m[4]).all() and np.isnan(m[:, 5]).all()     # gaps
    assert m[0, 0] == tiles[1, 0, 0, 0]                          # row 1 drawn on top
    assert m[-1, -1] == tiles[0, 2, 0, 0]                        # row 0 at the bottom
    rgb = np.random.default_rng(0).random((2, 2, 3, 3, 3))
    assert tile_mosaic(rgb).shape == (7, 7, 3)
    fig = plot_tiles(rgb, title="manifold")
    assert fig.axes[0].get_title() == "manifold"
    assert fig.axes[0].images[0].get_array().shape == (7, 7, 3)
    with pytest.raises(ValueError, match="tiles must have shape"):
        tile_mosaic(np.ones((3, 3)))
    with pytest.raises(ValueError, match="channels last"):
        plot_tiles(np.ones((2, 2, 3, 3, 5)))


def test_spectrum_grid_spectra_at_and_rgb():
    from eelswidgets.plotting import plot_rgb, plot_spectra_at, plot_spectrum_grid

    e = np.linspace(0.2, 2.0, 50)
    grid = np.exp(-((e - np.linspace(0.5, 1.5, 6)[:, None, None]) / 0.1) ** 2)
    grid = np.broadcast_to(grid, (6, 4, 50)).transpose(1, 0, 2)      # (4, 6, 50)
    fig = plot_spectrum_grid(e, grid)
    ax = fig.axes[0]
    assert len(ax.lines) == 24
    assert ax.get_xlim() == (0, 6) and ax.get_ylim() == (0, 4)
    # the line of cell (i=2, j=3) stays inside that cell
    x, y = ax.lines[2 * 6 + 3].get_data()
    assert x.min() >= 3 and x.max() <= 4
    assert y.min() >= 2 and y.max() <= 3
    with pytest.raises(ValueError, match="spectra must have shape"):
        plot_spectrum_grid(e[:10], grid)
    fig = plot_spectra_at(e, {"data": grid[0, :3], "model": grid[1, :3]}, ["a", "b", "c"])
    assert [a.get_title() for a in fig.axes] == ["a", "b", "c"]
    assert all(len(a.lines) == 2 for a in fig.axes)
    fig = plot_spectra_at(e, {"data": grid[0, :1], "m1": grid[1, :1], "m2": grid[2, :1],
                              "truth": grid[3, :1]})
    styles = [(ln.get_linestyle(), ln.get_color()) for ln in fig.axes[0].lines]
    assert styles[-1] == ("--", "k")                      # the reference: dashed black
    assert len(set(styles)) == 4                          # every curve distinguishable
    with pytest.raises(ValueError, match="every series"):
        plot_spectra_at(e, {"data": grid[0, :3], "model": grid[1, :2]})
    fig = plot_rgb(np.random.default_rng(0).random((8, 10, 3)), title="rgb", pixel_size=2.0)
    assert fig.axes[0].images[0].get_array().shape == (8, 10, 3)
    with pytest.raises(ValueError, match="rgb must have shape"):
        plot_rgb(np.ones((8, 10)))
