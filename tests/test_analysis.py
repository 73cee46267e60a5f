"""The analysis layer: arrays in, arrays out, checked against values computed by hand."""

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets import analysis as an


def _si(ny=6, nx=7, ne=5, seed=0):
    rng = np.random.default_rng(seed)
    return ew.SpectrumImage(rng.uniform(1, 2, (ny, nx, ne)), energy=np.arange(ne) + 1.0,
                            haadf=rng.uniform(0, 1, (ny, nx)))


# ----------------------------------------------------------------------------- latent maps
def test_latent_maps_round_trip():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    codes = np.arange(12, dtype=float).reshape(6, 2)
    maps = an.latent_maps(codes, mask)
    assert maps.shape == (4, 5, 2)
    np.testing.assert_array_equal(maps[mask], codes)
    assert np.all(np.isnan(maps[~mask]))
    np.testing.assert_array_equal(maps[1, 1], [0, 1])   # row-major order
    np.testing.assert_array_equal(maps[2, 3], [10, 11])
    with pytest.raises(ValueError, match="6 pixels"):
        an.latent_maps(codes[:5], mask)
    with pytest.raises(TypeError, match="boolean"):
        an.latent_maps(codes, mask.astype(int))


def test_latent_kde_finds_the_modes_and_integrates_to_one():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal([-2, 0], 0.3, (400, 2)), rng.normal([2, 1], 0.3, (400, 2))])
    maps = np.full((30, 30, 2), np.nan)
    maps.reshape(-1, 2)[:800] = z                         # NaN rows (border) are ignored
    xs, ys, dens = an.latent_kde(maps, grid=80)
    assert dens.shape == (80, 80) and xs.shape == ys.shape == (80,)
    area = np.sum(dens) * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(area - 1) < 0.05
    for mx, my in ([-2, 0], [2, 1]):                      # density high at each mode
        i, j = np.argmin(abs(ys - my)), np.argmin(abs(xs - mx))
        assert dens[i, j] > 0.5 * dens.max()
    i, j = np.argmin(abs(ys - 0.5)), np.argmin(abs(xs - 0.0))
    assert dens[i, j] < 0.05 * dens.max()                 # and low between them
    xs2, _, d2 = an.latent_kde(z, grid=10, bandwidth=0.5, ranges=((-3, 3), (-1, 2)))
    assert xs2[0] == -3 and xs2[-1] == 3 and d2.shape == (10, 10)
    with pytest.raises(ValueError, match="do not vary"):
        an.latent_kde(np.c_[z[:, 0], np.ones(800)])
    with pytest.raises(ValueError, match="dims"):
        an.latent_kde(z, dims=(0, 0))
    with pytest.raises(ValueError, match="no finite code"):
        an.latent_kde(np.full((5, 2), np.nan))


def test_histograms_match_numpy_and_ignore_nan():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(10, 12, 3))
    maps[0, 0, 1] = np.nan
    counts, edges = an.histograms(maps, bins=7)
    assert counts.shape == (3, 7) and edges.shape == (3, 8)
    assert counts[0].sum() == 120 and counts[1].sum() == 119
    c2, e2 = np.histogram(maps[..., 2].ravel(), bins=7)
    np.testing.assert_array_equal(counts[2], c2)
    np.testing.assert_allclose(edges[2], e2)
    one, _ = an.histograms(maps[..., 0], bins=5, axis=None)
    assert one.shape == (1, 5) and one.sum() == 120
    fixed, fe = an.histograms(maps, bins=4, ranges=(-1, 1))
    assert fixed.sum() == np.sum(np.abs(maps[np.isfinite(maps)]) <= 1)
    assert np.all(fe[:, 0] == -1) and np.all(fe[:, -1] == 1)
    with pytest.raises(ValueError, match="no finite"):
        an.histograms(np.full((3, 2), np.nan))


def test_latent_ranges_center_and_manifold_grid():
    z = np.stack([np.linspace(0, 100, 101), np.linspace(-1, 1, 101), np.zeros(101)], 1)
    assert an.RANGE_PERCENTILES == (2.0, 98.0)
    np.testing.assert_allclose(an.latent_ranges(z), [[2, 98], [-0.96, 0.96], [0, 0]])
    zn = np.vstack([z, np.full((1, 3), np.nan)])                       # NaN rows ignored
    np.testing.assert_allclose(an.latent_center(zn), [50, 0, 0])
    r = an.latent_ranges(z, percentiles=(10, 90))
    np.testing.assert_allclose(r, [[10, 90], [-0.8, 0.8], [0, 0]])
    g = an.manifold_grid(r, grid=5)
    assert g.shape == (5, 5, 3)
    np.testing.assert_allclose(g[0, :, 0], np.linspace(10, 90, 5))   # dims[0] along columns
    np.testing.assert_allclose(g[:, 0, 1], np.linspace(-0.8, 0.8, 5))  # dims[1] along rows
    np.testing.assert_allclose(g[..., 2], 0)                          # others: mid-range
    g2 = an.manifold_grid([[0, 1], [2, 3]], grid=3, dims=(2, 0), fixed=[7, 8, 9])
    np.testing.assert_allclose(g2[..., 1], 8)
    np.testing.assert_allclose(g2[1, :, 2], [0, 0.5, 1])
    np.testing.assert_allclose(g2[:, 1, 0], [2, 2.5, 3])
    with pytest.raises(ValueError, match="dims"):
        an.manifold_grid(r, dims=(0, 3))
    with pytest.raises(ValueError, match="NaN"):
        an.manifold_grid([[0, np.nan], [0, 1]])


# ----------------------------------------------------------------------------- error maps
def test_error_map_values_nan_and_checks():
    si = _si()
    pred = si.data * 1.1                       # 10 % off everywhere -> 1 % relative MSE
    valid = np.ones((6, 7), bool)
    valid[0] = False
    pred[0] = np.nan
    psi = si.replace(data=pred, valid=valid)
    err = an.error_map(si, psi)
    assert err.shape == (6, 7) and err.dtype == np.float32
    np.testing.assert_allclose(err[1:], 1.0, rtol=1e-4)
    assert np.all(np.isnan(err[0]))
    np.testing.assert_allclose(an.error_map(si.data, pred)[1:], 1.0, rtol=1e-4)
    assert ew.error_map is an.error_map
    zero = si.data.copy()
    zero[2, 3] = 0
    e0 = an.error_map(zero, si.data)
    assert np.isnan(e0[2, 3]) and np.isfinite(e0[2, 2])
    with pytest.raises(ValueError, match="same spectrum image"):
        an.error_map(si, si.data[:, :, :4])
    with pytest.raises(ValueError, match="SpectrumImage"):
        an.error_map(si, si.data[0])


def test_window_error_map():
    rng = np.random.default_rng(3)
    img = rng.uniform(1, 2, (12, 14))
    w = 4
    pred = np.full((12, 14, w, w), np.nan, np.float32)
    for y in range(2, 11):
        for x in range(2, 13):
            pred[y, x] = 0.9 * img[y - 2:y + 2, x - 2:x + 2]
    img_before = img.copy()
    err = an.window_error_map(img, pred, chunk=7)
    np.testing.assert_array_equal(img, img_before)
    inside = np.zeros((12, 14), bool)
    inside[2:11, 2:13] = True
    np.testing.assert_allclose(err[inside], 1.0, rtol=1e-4)
    assert np.all(np.isnan(err[~inside]))
    with pytest.raises(ValueError, match="covers"):
        an.window_error_map(img[:10], pred)
    with pytest.raises(ValueError, match=r"\(ny, nx, w, w\)"):
        an.window_error_map(img, pred[..., :3])


def test_relative_error_kernel():
    t = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]])
    p = np.array([[1.0, 3.0], [1.0, 1.0], [3.0, 4.0]])
    np.testing.assert_allclose(an.relative_error(t, p, axis=1), [20.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="shape"):
        an.relative_error(t, p[:2], axis=1)


def test_error_haadf_correlation():
    rng = np.random.default_rng(4)
    haadf = rng.uniform(0, 1, (20, 20))
    err = 3 * haadf + rng.normal(0, 0.01, (20, 20))
    err[:2] = np.nan
    r = an.error_haadf_correlation(err, haadf)
    assert r["n"] == 360 and r["pearson"] > 0.99 and r["pearson_p"] < 1e-10
    r2 = an.error_haadf_correlation(np.exp(-5 * haadf), haadf)   # monotone, not linear
    assert r2["spearman"] == pytest.approx(-1.0) and r2["pearson"] > -1.0
    with pytest.raises(ValueError, match="shape"):
        an.error_haadf_correlation(err, haadf[:, :5])
    with pytest.raises(ValueError, match="constant"):
        an.error_haadf_correlation(np.ones((20, 20)), haadf)
    bad = haadf.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        an.error_haadf_correlation(np.ones((20, 20)) * haadf, bad)


# ----------------------------------------------------------------------------- composites
def test_rgb_composite():
    rng = np.random.default_rng(5)
    maps = rng.uniform(0, 1, (3, 8, 9)) * np.array([1, 10, 100])[:, None, None]
    maps[1, 0, 0] = np.nan
    before = maps.copy()
    rgb = an.rgb_composite(maps)
    np.testing.assert_array_equal(maps, before)
    assert rgb.shape == (8, 9, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    finite = np.ones((8, 9), bool)
    finite[0, 0] = False
    for c in range(3):                                  # each channel spans [0, 1]
        assert rgb[finite, c].min() == pytest.approx(0) and rgb[finite, c].max() == 1
    np.testing.assert_array_equal(rgb[0, 0], 0)
    rgba = an.rgb_composite(maps, nan="alpha")
    assert rgba.shape == (8, 9, 4) and rgba[0, 0, 3] == 0 and rgba[1, 1, 3] == 1
    joint = an.rgb_composite(maps, normalize="joint")
    assert joint[..., 0].max() < 0.02                   # channel 0 is 100x dimmer
    tiles = rng.uniform(0, 1, (2, 2, 3, 5, 5))
    t = an.rgb_composite(tiles, channel_axis=2)
    assert t.shape == (2, 2, 5, 5, 3)
    with pytest.raises(ValueError, match="3 channels"):
        an.rgb_composite(maps[:2])
    with pytest.raises(ValueError, match="normalize"):
        an.rgb_composite(maps, normalize="per-pixel")


# ----------------------------------------------------------------------------- paper metric
def test_scaled_mse_percent_by_hand():
    ref = np.array([[0.0, 2.0], [4.0, 2.0]])          # global min 0, max 4
    pred = np.array([[1.0, 2.0], [4.0, 0.0]])
    # scaled errors: row 0: (0.25, 0), row 1: (0, -0.5)
    np.testing.assert_allclose(an.scaled_mse_percent(ref, pred), [100 * 0.0625 / 2,
                                                                  100 * 0.25 / 2])
    np.testing.assert_allclose(an.scaled_mse_percent(ref, pred, axis=0), [100 * 0.0625 / 2,
                                                                          100 * 0.25 / 2])
    assert an.scaled_mse_percent(ref, pred, axis=None) == pytest.approx(100 * 0.3125 / 4)
    assert an.scaled_mse_percent(ref, ref, axis=None) == 0.0
    # the scale is the reference's: a prediction beyond its range is not clipped
    assert an.scaled_mse_percent(ref, ref + 8.0, axis=None) == pytest.approx(400.0)


def test_scaled_mse_percent_axes_and_affine_invariance():
    rng = np.random.default_rng(1)
    ref = rng.uniform(0, 1, (5, 6, 4, 4))
    pred = ref + rng.normal(0, 0.1, ref.shape)
    per_window = an.scaled_mse_percent(ref, pred, axis=(-2, -1))
    assert per_window.shape == (5, 6)
    span = ref.max() - ref.min()
    np.testing.assert_allclose(per_window,
                               100 * np.mean(((pred - ref) / span) ** 2, axis=(-2, -1)))
    assert np.mean(per_window) == pytest.approx(an.scaled_mse_percent(ref, pred, axis=None))
    # one affine map applied to both arrays (counts -> other units, an offset) changes nothing
    for a, b in ((3.0, 100.0), (-0.5, 2.0)):
        np.testing.assert_allclose(an.scaled_mse_percent(a * ref + b, a * pred + b,
                                                         axis=(-2, -1)), per_window)
    # ... while rescaling only the reference's range does (the reference sets the scale)
    wider, shifted = ref.copy(), pred.copy()
    wider[0, 0, 0, 0] += 10 * span                      # one element 11x the span, same error
    shifted[0, 0, 0, 0] += 10 * span
    assert an.scaled_mse_percent(wider, shifted, axis=None) == pytest.approx(
        an.scaled_mse_percent(ref, pred, axis=None) * (span / (wider.max() - ref.min())) ** 2)


def test_scaled_mse_percent_nan_border_and_spectrum_images():
    si = _si(ny=6, nx=7, ne=5)
    cube = si.data.astype(np.float64)
    pred = cube + 0.1
    pred[0] = np.nan                                     # a border row without a value
    err = an.scaled_mse_percent(cube, pred)
    assert err.shape == (6, 7) and np.all(np.isnan(err[0]))
    span = cube[1:].max() - cube[1:].min()              # the NaN row is left out of the scale
    np.testing.assert_allclose(err[1:], 100 * (0.1 / span) ** 2, rtol=1e-5)
    assert an.scaled_mse_percent(cube, pred, axis=None) == pytest.approx(float(np.mean(err[1:])),
                                                                         rel=1e-5)
    valid = np.ones((6, 7), bool)
    valid[:, 0] = False
    p_si = ew.SpectrumImage(np.where(valid[..., None], cube + 0.1, np.nan), energy=si.energy,
                            valid=valid)
    by_si = an.scaled_mse_percent(si, p_si)
    assert np.all(np.isnan(by_si[:, 0])) and np.all(np.isfinite(by_si[:, 1:]))
    before = pred.copy()
    an.scaled_mse_percent(cube, pred)
    np.testing.assert_array_equal(before, pred)          # the inputs are not touched


def test_scaled_mse_percent_bad_input():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="same shape"):
        an.scaled_mse_percent(np.arange(12.0).reshape(3, 4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="constant"):
        an.scaled_mse_percent(a, a + 1)
    with pytest.raises(ValueError, match="no finite value"):
        an.scaled_mse_percent(np.full((2, 2), np.nan), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Inf"):
        an.scaled_mse_percent(np.array([0.0, np.inf]), np.zeros(2))
    with pytest.raises(ValueError, match="axis"):
        an.scaled_mse_percent(np.arange(4.0), np.zeros(4), axis=2)
    with pytest.raises(TypeError, match="numbers"):
        an.scaled_mse_percent("abc", np.zeros(3))


def test_tile_mosaic_and_rgb_tiles_put_row_0_at_the_bottom():
    tiles = np.arange(6, dtype=float).reshape(2, 3, 1, 1)      # tile [i, j] holds 3 i + j
    m = an.tile_mosaic(tiles, gap=1)
    assert m.shape == (3, 5)
    np.testing.assert_array_equal(m[[2, 2, 2, 0, 0, 0], [0, 2, 4, 0, 2, 4]], [0, 1, 2, 3, 4, 5])
    assert np.isnan(m[1]).all()
    rgb_in = np.zeros((2, 2, 3, 2, 2))
    rgb_in[0, 0, 0] = 1.0                                       # tile [0, 0]: pure red
    rgb = an.rgb_tiles(rgb_in, gap=1, background=0.5)
    assert rgb.shape == (5, 5, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[3:, :2], np.broadcast_to([1, 0, 0], (2, 2, 3)))
    np.testing.assert_array_equal(rgb[:2, :2], 0)               # tile [1, 0] at the top
    np.testing.assert_array_equal(rgb[2], 0.5)                  # the gap
    # fixed limits (an absolute scale shared by several grids) instead of the tiles' own
    fixed = an.rgb_tiles(rgb_in * 0.5, gap=0, ranges=[(0, 1)] * 3)
    assert fixed.max() == pytest.approx(0.5)
    assert an.rgb_tiles(rgb_in * 0.5, gap=0).max() == 1.0
    with pytest.raises(ValueError, match="NaN"):
        an.rgb_tiles(np.full((1, 1, 3, 2, 2), np.nan))
