import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eelswidgets as ew


def make_si(ny=6, nx=7, ne=50, seed=0, **kw):
    rng = np.random.default_rng(seed)
    cube = rng.random((ny, nx, ne)).astype(np.float32) + 1.0
    energy = np.linspace(1.0, 3.0, ne)
    haadf = rng.random((ny, nx))
    return ew.SpectrumImage(cube, energy, haadf=haadf, pixel_size=2.5, **kw)


# --------------------------------------------------------------------------- construction
def test_construction_copies_and_freezes():
    cube = np.ones((3, 4, 5))
    energy = np.arange(5.0)
    si = ew.SpectrumImage(cube, energy)
    assert si.data.dtype == np.float32 and si.shape == (3, 4, 5)
    cube[0, 0, 0] = 99
    assert si.data[0, 0, 0] == 1          # a copy, not a view of the caller's array
    with pytest.raises(ValueError, match="read-only"):
        si.data[0, 0, 0] = 5
    assert si.valid.all() and si.haadf is None


@pytest.mark.parametrize("cube, energy, haadf, match", [
    (np.ones((3, 4)), np.arange(4.0), None, "3 dimensions"),
    (np.ones((3, 4, 5, 1)), np.arange(5.0), None, "3 dimensions"),
    (np.ones((3, 4, 5)), np.arange(6.0), None, "6 values but data has 5"),
    (np.ones((3, 4, 5)), np.array([0, 1, 1, 2, 3.0]), None, "strictly increasing"),
    (np.ones((3, 4, 5)), np.array([0, 2, 1, 3, 4.0]), None, "strictly increasing"),
    (np.ones((3, 4, 5)), np.arange(5.0), np.ones((4, 3)), "registered"),
    (np.ones((3, 4, 5)), np.arange(5.0), np.ones((3, 4, 1)), "2 dimensions"),
    (np.ones((0, 4, 5)), np.arange(5.0), None, "non-empty"),
])
def test_bad_construction(cube, energy, haadf, match):
    with pytest.raises(ValueError, match=match):
        ew.SpectrumImage(cube, energy, haadf=haadf)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_cube_rejected(bad):
    cube = np.ones((3, 4, 5))
    cube[1, 2, 3] = bad
    with pytest.raises(ValueError, match="NaN/Inf"):
        ew.SpectrumImage(cube, np.arange(5.0))


def test_nan_allowed_only_where_invalid():
    cube = np.ones((3, 4, 5))
    cube[0] = np.nan
    valid = np.ones((3, 4), bool)
    valid[0] = False
    si = ew.SpectrumImage(cube, np.arange(5.0), valid=valid)
    assert not si.valid[0].any()
    with pytest.raises(ValueError, match="NaN"):
        ew.SpectrumImage(cube, np.arange(5.0), valid=np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="boolean"):
        ew.SpectrumImage(cube, np.arange(5.0), valid=valid.astype(int))


@pytest.mark.parametrize("kw, exc, match", [
    (dict(data="abc"), TypeError, "array of numbers"),
    (dict(data=np.ones((2, 2, 2), dtype=complex)), TypeError, "real"),
    (dict(pixel_size=-1), ValueError, "positive"),
    (dict(pixel_size=np.nan), ValueError, "positive"),
    (dict(metadata=[1]), TypeError, "dict"),
    (dict(pixel_unit=3), TypeError, "string"),
])
def test_bad_fields(kw, exc, match):
    args = dict(data=np.ones((2, 2, 2)), energy=np.arange(2.0))
    args.update(kw)
    with pytest.raises(exc, match=match):
        ew.SpectrumImage(**args)


def test_repr_is_readable():
    si = make_si(name="wires", truth={"clean": np.zeros((6, 7, 50))})
    r = repr(si)
    assert "6 x 7 px" in r and "50 channels" in r and "1–3 eV" in r and "HAADF" in r
    assert "'wires'" in r and "truth: clean" in r and "2.5 nm/px" in r


# --------------------------------------------------------------------------- selection
def test_crop_energy_and_spectrum():
    si = make_si()
    sub = si.crop_energy(1.5, 2.5)
    assert sub.energy[0] >= 1.5 and sub.energy[-1] <= 2.5
    sl = (si.energy >= 1.5) & (si.energy <= 2.5)
    np.testing.assert_array_equal(sub.data, si.data[..., sl])
    np.testing.assert_array_equal(sub.spectrum(2, 3), si.data[2, 3, sl])
    assert sub.metadata["processing"] == ["crop_energy(1.5, 2.5)"]
    assert "processing" not in si.metadata
    with pytest.raises(ValueError, match="holds no channel"):
        si.crop_energy(5, 6)
    with pytest.raises(ValueError, match="lo < hi"):
        si.crop_energy(2, 1)


def test_crop_spatial_carries_haadf_and_truth():
    si = make_si(truth={"mask": np.arange(42).reshape(6, 7), "spectra": np.ones((2, 50))})
    c = si.crop(1, 4, 2, 6)
    assert c.shape == (3, 4, 50)
    np.testing.assert_array_equal(c.haadf, si.haadf[1:4, 2:6])
    np.testing.assert_array_equal(c.truth["mask"], si.truth["mask"][1:4, 2:6])
    assert c.truth["spectra"].shape == (2, 50)
    with pytest.raises(ValueError, match="empty"):
        si.crop(3, 3, 0, 5)
    with pytest.raises(ValueError, match="empty"):
        si.crop(10, 20, 0, 5)


def test_bin_sums_counts():
    si = make_si(ny=6, nx=7, ne=50)
    b = si.bin(spatial=2, energy=5)
    assert b.shape == (3, 3, 10)
    np.testing.assert_allclose(b.data[0, 0, 0], si.data[:2, :2, :5].sum(), rtol=1e-5)
    np.testing.assert_allclose(b.energy[0], si.energy[:5].mean())
    np.testing.assert_allclose(b.haadf[1, 1], si.haadf[2:4, 2:4].mean(), rtol=1e-5)
    assert b.pixel_size == pytest.approx(5.0)
    with pytest.raises(ValueError, match="<= 6"):
        si.bin(spatial=7)
    with pytest.raises(TypeError, match="integer"):
        si.bin(spatial=1.5)


@settings(max_examples=30, deadline=None)
@given(ny=st.integers(1, 9), nx=st.integers(1, 9), ne=st.integers(1, 20),
       s=st.integers(1, 3), e=st.integers(1, 4))
def test_bin_shape_and_total_property(ny, nx, ne, s, e):
    if s > min(ny, nx) or e > ne:
        return
    cube = np.arange(ny * nx * ne, dtype=np.float32).reshape(ny, nx, ne)
    si = ew.SpectrumImage(cube, np.arange(ne, dtype=float))
    b = si.bin(spatial=s, energy=e)
    assert b.shape == (ny // s, nx // s, ne // e)
    kept = cube[: ny // s * s, : nx // s * s, : ne // e * e]
    assert b.data.sum() == pytest.approx(kept.sum(), rel=1e-5)


# --------------------------------------------------------------------------- processing
def test_normalize_methods():
    si = make_si()
    a = si.normalize("area")
    np.testing.assert_allclose(np.trapezoid(a.data, si.energy, axis=-1), 1.0, rtol=1e-5)
    m = si.normalize("max")
    np.testing.assert_allclose(m.data.max(-1), 1.0, rtol=1e-6)
    g = si.normalize("global")
    assert g.data.max() == pytest.approx(1.0)
    ratio = g.data / si.data
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)   # relative intensities kept
    with pytest.raises(ValueError, match="choose one of"):
        si.normalize("l2")


def _power_law_cube(A=1e4, r=3.0, ne=400, shape=(4, 5)):
    energy = np.linspace(0.05, 3.0, ne)
    rng = np.random.default_rng(1)
    amp = A * (1 + 0.5 * rng.random(shape))
    tail = amp[..., None] * energy ** -r
    peak = 50 * np.exp(-0.5 * ((energy - 1.5) / 0.1) ** 2)
    return energy, tail, peak


def test_remove_zlp_power_law_recovers_peak():
    energy, tail, peak = _power_law_cube()
    si = ew.SpectrumImage(tail + peak, energy)
    out = si.remove_zlp(fit_window=(0.3, 0.8))
    assert out.energy[0] >= 0.3
    keep = energy >= 0.3
    np.testing.assert_allclose(out.data, np.broadcast_to(peak[keep], out.shape), atol=0.5)
    # the tail alone is removed (before: tail dominates at 0.3 eV by orders of magnitude)
    assert si.data[..., keep][..., 0].min() > 1e5


def test_remove_zlp_two_exponentials():
    energy = np.linspace(0.05, 3.0, 300)
    tail = 1e3 * np.exp(-energy / 0.1) + 50 * np.exp(-energy / 0.6)
    peak = 20 * np.exp(-0.5 * ((energy - 2.0) / 0.1) ** 2)
    si = ew.SpectrumImage(np.broadcast_to(tail + peak, (3, 3, 300)), energy)
    out = si.remove_zlp(fit_window=(0.2, 1.2), model="exp2", cut=0.5)
    assert out.energy[0] >= 0.5
    np.testing.assert_allclose(out.data[0, 0], peak[energy >= 0.5], atol=0.5)


def test_remove_background_core_loss_edge():
    energy = np.linspace(400, 600, 401)
    rng = np.random.default_rng(3)
    A = 1e9 * (1 + rng.random((5, 5)))
    bg = A[..., None] * energy ** -3.0
    edge = 30.0 * (energy >= 456) * (energy / 456.0) ** -2.0
    clean = bg + edge
    noisy = rng.poisson(clean).astype(float)
    si = ew.SpectrumImage(noisy, energy)
    out = si.remove_background(window=(420, 450))
    assert out.shape == si.shape                                     # whole axis kept
    pre = (energy > 425) & (energy < 450)
    post = (energy > 460) & (energy < 500)
    m = out.data.mean(axis=(0, 1))
    assert abs(m[pre].mean()) < 2.0                                  # flat before the edge
    assert m[post].mean() == pytest.approx(edge[post].mean(), rel=0.15)


def test_remove_background_low_counts_stays_finite():
    energy = np.linspace(400, 500, 101)
    rng = np.random.default_rng(0)
    cube = rng.poisson(0.3, size=(4, 4, 101)).astype(float)         # many zero channels
    out = ew.SpectrumImage(cube, energy).remove_background(window=(410, 440))
    assert np.isfinite(out.data).all()


def test_background_window_errors():
    si = make_si()
    with pytest.raises(ValueError, match="holds no channel"):
        si.remove_background(window=(10, 20))
    with pytest.raises(ValueError, match="choose one of"):
        si.remove_background(window=(1.2, 1.5), model="poly")
    neg = ew.SpectrumImage(np.ones((2, 2, 10)), np.linspace(-1, 1, 10))
    with pytest.raises(ValueError, match="positive energies"):
        neg.remove_background(window=(-0.9, 0.5))


def test_reductions():
    si = make_si()
    np.testing.assert_allclose(si.mean_spectrum(), si.data.mean(axis=(0, 1)), rtol=1e-6)
    mask = np.zeros((6, 7), bool)
    mask[2, 3] = True
    np.testing.assert_array_equal(si.mean_spectrum(mask), si.data[2, 3])
    with pytest.raises(ValueError, match="no valid pixel"):
        si.mean_spectrum(np.zeros((6, 7), bool))
    img = si.energy_image(1.0, 2.0)
    assert img.shape == (6, 7)
    np.testing.assert_allclose(img, si.data[..., si.energy <= 2.0].sum(-1), rtol=1e-5)
    with pytest.raises(ValueError, match="<= 5"):
        si.spectrum(6, 0)


def test_methods_never_mutate_inputs():
    cube = np.random.default_rng(0).random((6, 7, 50)).astype(np.float32) + 1
    energy = np.linspace(1, 3, 50)
    haadf = np.ones((6, 7))
    copies = cube.copy(), energy.copy(), haadf.copy()
    si = ew.SpectrumImage(cube, energy, haadf=haadf)
    before = si.data.copy()
    si.crop_energy(1.2, 2.0)
    si.crop(0, 3, 0, 3)
    si.bin(2, 2)
    si.normalize("area")
    si.normalize("max")
    si.clip(1.2, 1.5)
    si.remove_zlp(fit_window=(1.1, 1.4))
    si.remove_background(window=(1.1, 1.4))
    si.mean_spectrum()
    ew.decompose(si, 2)
    np.testing.assert_array_equal(si.data, before)
    for a, b in zip((cube, energy, haadf), copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_replace_validates():
    si = make_si()
    with pytest.raises(TypeError, match="unknown field"):
        si.replace(cube=1)
    with pytest.raises(ValueError, match="energy"):
        si.replace(energy=np.arange(3.0))
    assert si.copy() == si and si.copy() is not si
