"""decompose on lazy (dask) spectrum images, and the block-wise in-memory path."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from test_decomposition import matched_correlations

import eelswidgets as ew
from eelswidgets import decomposition
from eelswidgets.decomposition._kernels import Prep
from eelswidgets.decomposition._strips import Strips

pytestmark = pytest.mark.filterwarnings("ignore:Importing `Lazy", "ignore::FutureWarning")

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture(scope="module")
def wires():
    """The nanowire dataset after ZLP removal (64 x 80 x 370, 7.6 MB) and the same lazily in
    4 x 4 chunks of 16 x 20 pixels."""
    raw = ew.datasets.nanowires(seed=0)
    si = raw.remove_zlp(fit_window=raw.truth["zlp_fit_window"]).clip(0)
    keep = np.isin(raw.energy, si.energy)
    return si, si.as_lazy((16, 20)), raw.truth["spectra"][:, keep]


class Results(Callback):
    """Records the number of computations and the most spectra any task returned (arrays
    ``(..., ne)`` of pixels: cube blocks or rows; not the ``(ne, ne)`` covariance sums)."""

    def __init__(self, ne: int):
        super().__init__()
        self.ne, self.computes, self.spectra = ne, 0, 0

    def _start(self, dsk):
        self.computes += 1

    def _posttask(self, key, result, dsk, state, worker_id):
        for r in result if isinstance(result, (tuple, list)) else (result,):
            shape = getattr(r, "shape", ())
            if len(shape) >= 2 and shape[-1] == self.ne and shape[-2:] != (self.ne, self.ne):
                self.spectra = max(self.spectra, int(np.prod(shape[:-1])))


def test_lazy_pca_matches_in_memory_pca(wires):
    si, lazy, _ = wires
    eager = ew.decompose(si, 4, "pca")
    with Results(si.ne) as seen:
        dec = ew.decompose(lazy, 4, "pca")
    np.testing.assert_allclose(dec.spectra, eager.spectra, atol=1e-5)   # same sign convention
    np.testing.assert_allclose(dec.maps, eager.maps, atol=1e-4 * np.abs(eager.maps).max())
    np.testing.assert_allclose(dec.scree, eager.scree, rtol=1e-4, atol=1e-8)
    assert dec.reconstruction_error == pytest.approx(eager.reconstruction_error, rel=1e-6)
    assert isinstance(dec.maps, np.ndarray) and dec.maps.dtype == np.float32
    # read chunk by chunk: no task returned more than one chunk (1/16 of the cube)
    assert seen.spectra == 16 * 20
    assert seen.computes <= 3                    # first chunk (shift), covariance, maps


def test_pca_scree_is_the_full_svd_one(wires):
    si, lazy, _ = wires
    x = si.data.reshape(-1, si.ne).astype(np.float64)
    sv = np.linalg.svd(x - x.mean(0), compute_uv=False)
    full = (sv ** 2 / (sv ** 2).sum())[:30]
    np.testing.assert_allclose(ew.decompose(lazy, 3, "pca").scree, full, rtol=1e-5, atol=1e-10)
    dec = ew.decompose(si, 3, "pca")
    np.testing.assert_allclose(dec.scree, full, rtol=1e-5, atol=1e-10)
    # the estimator is a fitted PCA whose transform gives the maps (in its own order)
    scores = dec.estimator.transform(x[:50])
    np.testing.assert_allclose(scores[:, dec.order].T, dec.maps.reshape(3, -1)[:, :50],
                               rtol=1e-3, atol=1e-3 * np.abs(scores).max())


def test_lazy_nmf_recovers_the_ground_truth_as_well_as_in_memory(wires, monkeypatch):
    si, lazy, truth = wires
    k = len(truth)
    eager = ew.decompose(si, k, "nmf", random_state=0)
    # a sample of 1/8 of the pixels starts the fit, so the passes over the chunks matter
    monkeypatch.setattr(decomposition, "SAMPLE_BYTES", si.data.nbytes // 8)
    with Results(si.ne) as seen:
        dec = ew.decompose(lazy, k, "nmf", random_state=0)
    found, reference = (matched_correlations(d.spectra, truth) for d in (dec, eager))
    print("NMF correlations lazy", np.round(found, 4), "in memory", np.round(reference, 4))
    assert found.min() >= 0.95 and found.mean() >= reference.mean() - 0.015
    assert dec.reconstruction_error <= eager.reconstruction_error * 1.05
    assert np.all(np.diff(dec.peak_energies()) >= 0)
    assert dec.maps.shape == (k, si.ny, si.nx) and np.all(dec.maps >= 0)
    assert seen.spectra == 16 * 20                           # one chunk per task


def test_lazy_poisson_with_invalid_pixels_matches_in_memory():
    rng = np.random.default_rng(0)
    e = np.linspace(10, 40, 48)
    maps = rng.random((2, 12, 16))
    spectra = np.stack([300 * (e / 10) ** -2, 40 * np.exp(-0.5 * ((e - 25) / 2) ** 2)])
    cube = rng.poisson(np.einsum("kyx,ke->yxe", maps, spectra)).astype(np.float32)
    valid = np.ones((12, 16), bool)
    valid[:3, :5] = False                        # a whole chunk and parts of others
    valid[7, 9] = False
    cube[~valid] = np.nan
    si = ew.SpectrumImage(cube, e, valid=valid)
    lazy = si.as_lazy((3, 4))
    for method in ("pca", "nmf"):
        eager = ew.decompose(si, 2, method, poisson=True)
        dec = ew.decompose(lazy, 2, method, poisson=True)
        assert dec.poisson and np.isnan(dec.maps[:, ~valid]).all()
        assert np.isfinite(dec.maps[:, valid]).all()
        np.testing.assert_allclose(dec.scree, eager.scree, rtol=1e-5)
        if method == "pca":
            np.testing.assert_allclose(dec.maps[:, valid], eager.maps[:, valid], rtol=1e-3,
                                       atol=1e-3 * np.nanmax(np.abs(eager.maps)))
        assert dec.reconstruction_error == pytest.approx(eager.reconstruction_error, rel=0.05)


def test_nan_in_a_chunk_names_the_chunk():
    cube = np.random.default_rng(0).random((8, 8, 16)).astype(np.float32)
    cube[5, 6, 3] = np.nan
    si = ew.SpectrumImage(da.from_array(cube, chunks=(4, 4, 16)), np.arange(16.0))
    for method in ("pca", "nmf"):
        with pytest.raises(ValueError, match=r"chunk y 4:8, x 4:8.*pixel \(5, 6\)"):
            ew.decompose(si, 2, method)


def test_lazy_negative_data_names_the_pixels_and_the_fix():
    cube = np.random.default_rng(0).random((8, 8, 16)).astype(np.float32)
    cube[6, 1, 2] = -0.5
    si = ew.SpectrumImage(cube, np.arange(16.0)).as_lazy((4, 4))
    with pytest.raises(ValueError, match=r"NMF needs non-negative.*y 4:8, x 0:4.*clip"):
        ew.decompose(si, 2, "nmf")
    with pytest.raises(ValueError, match=r"Poisson weighting needs non-negative"):
        ew.decompose(si, 2, "pca", poisson=True)
    dec = ew.decompose(si, 2, "nmf", allow_negative="clip")
    assert np.all(dec.spectra >= 0) and np.isfinite(dec.maps).all()
    assert ew.decompose(si, 2, "pca").spectra.shape == (2, 16)       # PCA takes any sign
    with pytest.raises(TypeError, match="MiniBatchNMF"):
        ew.decompose(si, 2, "nmf", allow_negative="clip", solver="cd")
    with pytest.raises(TypeError, match="no estimator keywords"):
        ew.decompose(si, 2, "pca", whiten=True)


def test_a_cube_whose_whole_compute_raises_is_decomposed_chunk_by_chunk():
    cube = np.random.default_rng(1).random((8, 12, 20)).astype(np.float32)
    x = da.from_array(cube, chunks=(4, 4, 20))
    # computing all chunks in one task (what .compute() of a rechunked cube does) is refused
    guard = da.map_blocks(_refuse_whole, x, dtype=np.float32)
    si = ew.SpectrumImage(guard, np.arange(20.0))
    with pytest.raises(AssertionError, match="whole cube"):
        _refuse_whole(cube)
    dec = ew.decompose(si, 3, "pca")
    eager = ew.decompose(ew.SpectrumImage(cube, np.arange(20.0)), 3, "pca")
    np.testing.assert_allclose(dec.spectra, eager.spectra, atol=1e-5)


def _refuse_whole(block):
    if block.shape[0] * block.shape[1] > 16:
        raise AssertionError("the whole cube was computed at once")
    return block


def test_in_memory_nmf_factorises_a_view_of_a_valid_float32_cube(wires):
    si, _, _ = wires
    strips = Strips(si.data, si.valid)
    x = strips.matrix(Prep("NMF"), None, clipped=False)
    assert np.shares_memory(x, si.data) and x.shape == (si.ny * si.nx, si.ne)
    assert len(strips.locations) >= 1
    clipped = strips.matrix(Prep("NMF", clip=True), None, clipped=True)
    assert not np.shares_memory(clipped, si.data)
    np.testing.assert_array_equal(clipped, x)


def test_lazy_realdata_cuzn_decomposes_as_in_memory():
    path = REALDATA / "CuZn_coreloss_SI.hspy"
    if not path.is_file():
        pytest.fail(f"real data file {path.name} is missing: it should be at {path}")
    lazy = ew.load(path, lazy=True, chunks=(13, 10))       # 4 x 4 chunks of 50 x 40 pixels
    eager = ew.load(path)
    assert lazy.is_lazy and lazy.chunks == (13, 10, lazy.ne)
    edges = [s.remove_background((820, 910)).crop_energy(910, 1300) for s in (lazy, eager)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl, pe = (ew.decompose(s, 3, "pca", poisson=True, allow_negative="clip")
                  for s in edges)
        nl, ne_ = (ew.decompose(s, 2, "nmf", poisson=True, allow_negative="clip",
                                random_state=0) for s in edges)
    np.testing.assert_allclose(pl.scree, pe.scree, rtol=1e-4)
    np.testing.assert_allclose(pl.spectra, pe.spectra, atol=1e-3 * np.abs(pe.spectra).max())
    corr = matched_correlations(nl.spectra, ne_.spectra)
    print(f"CuZn lazy: PCA scree {np.round(pl.scree[:4], 4).tolist()}; NMF spectra "
          f"correlation with in-memory NMF {np.round(corr, 4).tolist()}")
    assert corr.min() > 0.98
    assert nl.maps.shape == (2, 50, 40) and np.isfinite(nl.maps).all()


def test_nndsvda_start_from_exact_singular_vectors_is_scikit_learns():
    from sklearn.decomposition._nmf import _initialize_nmf

    from eelswidgets.decomposition._fit import nndsvda

    rng = np.random.default_rng(0)
    x = (rng.random((300, 3)) @ rng.random((3, 40)) + 0.01 * rng.random((300, 40)))
    x = x.astype(np.float32)
    _, sv, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    w, h = nndsvda(x, sv[:3], vt[:3].T)
    w_ref, h_ref = _initialize_nmf(x, 3, init="nndsvda", random_state=0)
    assert w.dtype == h.dtype == np.float32
    np.testing.assert_allclose(w, w_ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(h, h_ref, rtol=1e-3, atol=1e-4)
