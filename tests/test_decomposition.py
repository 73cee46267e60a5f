import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import eelswidgets as ew


def matched_correlations(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Correlation of each true spectrum with its Hungarian-matched found spectrum."""
    c = np.corrcoef(np.vstack([true, found]))[: len(true), len(true):]
    rows, cols = linear_sum_assignment(-c)
    return c[rows, cols]


@pytest.fixture(scope="module")
def wires():
    si = ew.datasets.nanowires(seed=0)
    return si, si.remove_zlp(fit_window=si.truth["zlp_fit_window"]).clip(0)


def test_nmf_recovers_nanowire_modes(wires):
    raw, si = wires
    k = len(raw.truth["spectra"])
    dec = ew.decompose(si, n_components=k, method="nmf", random_state=0)
    # truth spectra live on the raw axis: compare on the channels kept after remove_zlp
    keep = np.isin(raw.energy, si.energy)
    corr = matched_correlations(dec.spectra, raw.truth["spectra"][:, keep])
    print("NMF nanowires correlations:", np.round(corr, 4))
    assert corr.min() >= 0.9
    assert dec.maps.shape == (k, si.ny, si.nx) and dec.spectra.shape == (k, si.ne)
    # documented order: ascending energy of the spectrum maximum
    assert np.all(np.diff(dec.peak_energies()) >= 0)
    assert 0 < dec.reconstruction_error < 0.5


def test_pca_scree_counts_components(wires):
    raw, si = wires
    dec = ew.decompose(si, n_components=3, method="pca")
    n_true = len(raw.truth["spectra"])
    assert dec.scree.shape == (min(30, si.ne),)
    assert np.all(np.diff(dec.scree) <= 1e-12)
    # the true components stand out of the noise: a clear gap after the last one
    gap = dec.scree[n_true - 1] / dec.scree[n_true]
    print("PCA scree (first 8):", np.round(dec.scree[:8], 5), "gap ratio", round(gap, 2))
    assert gap > 3
    assert dec.significant_components(threshold=dec.scree[n_true]) == n_true


def test_decomposition_is_deterministic(wires):
    _, si = wires
    a = ew.decompose(si, 3, random_state=1)
    b = ew.decompose(si, 3, random_state=1)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    np.testing.assert_array_equal(a.maps, b.maps)


def test_invalid_pixels_are_nan_in_maps():
    rng = np.random.default_rng(0)
    cube = np.einsum("yxk,ke->yxe", rng.random((5, 6, 2)), rng.random((2, 20)) + 0.1)
    valid = np.ones((5, 6), bool)
    valid[0, :] = False
    cube[0] = np.nan
    si = ew.SpectrumImage(cube, np.linspace(1, 2, 20), valid=valid)
    dec = ew.decompose(si, 2, method="nmf")
    assert np.isnan(dec.maps[:, 0]).all() and np.isfinite(dec.maps[:, 1:]).all()
    np.testing.assert_allclose(np.nan_to_num(dec.reconstruct())[1:], cube[1:], atol=0.02)


def test_negative_values_need_explicit_choice():
    cube = np.random.default_rng(0).normal(size=(4, 4, 10))
    si = ew.SpectrumImage(cube, np.arange(10.0))
    with pytest.raises(ValueError, match=r"remove_zlp.*clip"):
        ew.decompose(si, 2, method="nmf")
    dec = ew.decompose(si, 2, method="nmf", allow_negative="clip")
    assert (dec.spectra >= 0).all()
    assert ew.decompose(si, 2, method="pca").spectra.shape == (2, 10)   # PCA is fine


@pytest.mark.parametrize("k, exc, match", [
    (0, ValueError, ">= 1"),
    (11, ValueError, "<= 10"),
    (2.5, TypeError, "integer"),
])
def test_bad_n_components(k, exc, match):
    si = ew.SpectrumImage(np.ones((4, 4, 10)), np.arange(10.0))
    with pytest.raises(exc, match=match):
        ew.decompose(si, k)


def test_bad_method_and_input():
    si = ew.SpectrumImage(np.ones((4, 4, 10)), np.arange(10.0))
    with pytest.raises(ValueError, match="unknown method 'ica'"):
        ew.decompose(si, 2, method="ica")
    with pytest.raises(TypeError, match="SpectrumImage"):
        ew.decompose(np.ones((4, 4, 10)), 2)
    with pytest.raises(ValueError, match="unknown order"):
        ew.decompose(si, 2, order="random")


# ---------------------------------------------------------------- Poisson weighting
def weak_component_si(seed=0, amp=25.0):
    """A strong background whose intensity varies 30-fold across the image, plus a weak peak
    in a small region of the dim part, with Poisson noise."""
    rng = np.random.default_rng(seed)
    e = np.linspace(10, 40, 100)
    yy, xx = np.mgrid[:20, :20]
    thickness = 1 + 30 * (xx / 20) ** 3
    background = 300 * (e / 10) ** -2
    weak = np.exp(-0.5 * ((e - 25) / 1.5) ** 2)
    where = 1.0 * (((yy - 10) ** 2 + (xx - 5) ** 2) < 20)
    lam = thickness[..., None] * background + amp * where[..., None] * weak
    return ew.SpectrumImage(rng.poisson(lam).astype(float), energy=e), where, weak


def _weak_recovery(dec, where, weak):
    """Correlations with the truth of the component whose spectrum best matches the weak one."""
    i = int(np.argmax([abs(np.corrcoef(s, weak)[0, 1]) for s in dec.spectra]))
    return (abs(np.corrcoef(dec.maps[i].ravel(), where.ravel())[0, 1]),
            abs(np.corrcoef(dec.spectra[i], weak)[0, 1]))


def test_poisson_weighting_recovers_a_weak_component_better_with_pca():
    si, where, weak = weak_component_si()
    plain = _weak_recovery(ew.decompose(si, 2, "pca"), where, weak)
    weighted = _weak_recovery(ew.decompose(si, 2, "pca", poisson=True), where, weak)
    assert weighted[1] > 0.85 and plain[1] < 0.5          # the spectrum
    assert weighted[0] > plain[0] + 0.2                   # the map


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_poisson_weighting_recovers_a_weak_component_better_with_nmf():
    si, where, weak = weak_component_si()
    plain = _weak_recovery(ew.decompose(si, 2, "nmf", max_iter=300), where, weak)
    weighted = _weak_recovery(ew.decompose(si, 2, "nmf", poisson=True, max_iter=300),
                              where, weak)
    assert weighted[0] > plain[0] + 0.1


def test_poisson_factors_come_back_in_the_data_scale():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 6, 7)) * np.array([1, 10])[:, None, None]
    e = np.linspace(1, 5, 30)
    spectra = np.stack([np.exp(-e), np.exp(-0.5 * ((e - 3) / 0.3) ** 2)]) * 100
    si = ew.SpectrumImage(np.einsum("kyx,ke->yxe", maps, spectra), energy=e)
    dec = ew.decompose(si, 2, "nmf", poisson=True, max_iter=3000, tol=1e-10)
    assert dec.poisson and "Poisson-weighted" in repr(dec)
    np.testing.assert_allclose(dec.reconstruct(), si.data, rtol=2e-3, atol=1e-3 * si.data.max())
    assert dec.reconstruction_error < 1e-3
    assert np.all(dec.maps >= 0) and np.all(dec.spectra >= 0)


def test_poisson_mode_refuses_negative_data_or_clips_on_request():
    e = np.linspace(1, 2, 8)
    cube = np.random.default_rng(0).normal(5, 3, (4, 4, 8))
    si = ew.SpectrumImage(cube, energy=e)
    with pytest.raises(ValueError, match="Poisson weighting needs non-negative"):
        ew.decompose(si, 2, "pca", poisson=True)
    dec = ew.decompose(si, 2, "pca", poisson=True, allow_negative="clip")
    assert np.isfinite(dec.maps).all()
    with pytest.raises(TypeError, match="poisson must be True or False"):
        ew.decompose(si, 2, "pca", poisson="yes")
