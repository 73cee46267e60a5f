"""Model inference on lazy data: encode / predict / reconstruct chunk by chunk on dask.

Every model is fitted in memory, then run on the same data as a lazy SpectrumImage (or a dask
stack) chunked 4 x 4 with ragged edges, so that windows reach across chunk borders; the lazy
results must equal the in-memory ones to float rounding, NaN borders and ``valid`` masks
included, build without computing, pickle, and compute one chunk from its own inputs only.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest
from test_lazy import Counter

import eelswidgets as ew
from eelswidgets import SpectrumImage
from eelswidgets.analysis import scaled_mse_percent
from eelswidgets.models import spectral_vae
from eelswidgets.models._chunked import snapshot

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:Importing `Lazy", "ignore::FutureWarning")]

CHUNKS = (4, 4)                 # 22 x 18 pixels: 6 x 5 chunks, the last ones ragged
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def close(lazy, eager, rtol=1e-5):
    """A computed lazy result equals the in-memory one, NaN where it is NaN."""
    got = np.asarray(lazy.compute() if hasattr(lazy, "compute") else lazy)
    assert got.shape == eager.shape and got.dtype == eager.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(eager))
    scale = float(np.nanmax(np.abs(eager))) or 1.0
    np.testing.assert_allclose(got, eager, rtol=rtol, atol=rtol * scale)


def scan_chunks(x):
    return tuple(tuple(c) for c in x.chunks[:2])


def guarded(arr, allowed, chunks, scan_axes=(0, 1)):
    """A dask copy of ``arr`` that raises when a chunk outside ``allowed`` is computed."""
    def guard(block, block_info=None):
        loc = tuple(block_info[0]["chunk-location"][a] for a in scan_axes)
        if loc not in allowed:
            raise AssertionError(f"chunk {loc} was read")
        return block
    return da.from_array(arr, chunks=chunks).map_blocks(guard, dtype=arr.dtype)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def si() -> SpectrumImage:
    """22 x 18 x 64 nanocube film with two invalid pixels holding NaN."""
    full = ew.datasets.nanocube_array(seed=0).crop(0, 22, 0, 18).bin(1, 4)
    cube = np.array(full.data)
    valid = np.ones(full.shape[:2], bool)
    valid[9, 7] = valid[3, 15] = False
    cube[~valid] = np.nan
    return full.replace(data=cube, valid=valid)


@pytest.fixture(scope="module")
def lazy(si) -> SpectrumImage:
    return si.as_lazy(CHUNKS)


@pytest.fixture(scope="module")
def vae(si):
    return ew.SpectralVAE(latent_dim=2, hidden=(32, 16), epochs=2, seed=0,
                          device="cpu").fit(si, progress=False)


@pytest.fixture(scope="module")
def im2spec(si):
    return ew.Im2Spec(latent_dim=2, window=6, nb_filters=4, n_dilated=1, epochs=1, seed=0,
                      device="cpu").fit(si, progress=False)


@pytest.fixture(scope="module")
def spec2im(si):
    return ew.Spec2Im(latent_dim=2, window=8, nb_filters=4, n_dilated=1, epochs=1, seed=0,
                      device="cpu").fit(si, progress=False)


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    return rng.random((3, 22, 18)).astype(np.float32)


@pytest.fixture(scope="module")
def rvae(maps):
    return ew.MultichannelRVAE(window=5, hidden=16, encoder_hidden=16, epochs=1, seed=0,
                               device="cpu").fit(maps, progress=False)


# ------------------------------------------------------------------------------ results
def test_vae_encode_lazy_equals_in_memory(vae, si, lazy):
    mean, logvar = vae.encode(lazy, return_logvar=True)
    assert isinstance(mean, da.Array) and mean.shape == (22, 18, 2)
    assert scan_chunks(mean) == scan_chunks(lazy.data)
    m0, lv0 = vae.encode(si, return_logvar=True)
    assert np.isnan(m0[9, 7]).all() and np.isfinite(m0[0, 0]).all()
    close(mean, m0)
    close(logvar, lv0)


def test_vae_reconstruct_lazy_is_a_lazy_spectrum_image(vae, si, lazy):
    rec = vae.reconstruct(lazy)
    ref = vae.reconstruct(si)
    assert rec.is_lazy and rec.chunks == (4, 4, si.ne)
    np.testing.assert_array_equal(rec.valid, si.valid)
    assert rec.name == ref.name and rec.metadata == ref.metadata
    close(rec.data, ref.data)


def test_vae_in_memory_encode_of_arrays_skips_non_finite_spectra(vae, si):
    cube = np.array(si.data)                # NaN at the two invalid pixels
    np.testing.assert_array_equal(vae.encode(cube), vae.encode(si))
    with pytest.raises(ValueError, match="no finite spectrum"):
        vae.encode(np.full((2, 3, si.ne), np.nan, np.float32))


def test_in_memory_inference_holds_batches_not_copies_of_the_cube(vae, si, monkeypatch):
    monkeypatch.setattr(spectral_vae, "_BATCH_BYTES", 2**16)   # 256 spectra per batch
    big = si.replace(data=np.tile(np.nan_to_num(si.data), (6, 6, 1)), valid=None,
                     haadf=None, truth={})                     # 132 x 108 x 64: 3.6 MB
    cube = big.data.nbytes
    tracemalloc.start()
    try:
        codes = vae.encode(big)
        _, enc_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        rec = vae.reconstruct(big)
        _, rec_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert enc_peak < 0.2 * cube                      # the former encode took 2 cubes
    assert rec_peak - cube < 0.3 * cube               # beyond its output (one cube)
    np.testing.assert_allclose(codes[:22, :18], vae.encode(si.replace(
        data=np.nan_to_num(si.data), valid=None)), rtol=1e-5)
    assert rec.shape == big.shape


@pytest.mark.parametrize("window", [6, 10])     # 10: the halo spans more than one chunk
def test_im2spec_predict_and_encode_lazy_equal_in_memory(im2spec, si, lazy, window):
    model = im2spec if window == 6 else ew.Im2Spec(
        latent_dim=2, window=10, nb_filters=4, n_dilated=1, epochs=1, seed=0,
        device="cpu").fit(si, progress=False)
    pred, ref = model.predict(lazy), model.predict(si)
    assert pred.is_lazy and pred.chunks == (4, 4, si.ne)
    np.testing.assert_array_equal(pred.valid, ref.valid)
    assert not ref.valid[:window // 2].any() and not ref.valid[9, 7]
    close(pred.data, ref.data)
    z = model.encode(lazy)
    assert scan_chunks(z) == scan_chunks(lazy.data)
    close(z, model.encode(si))


def test_spec2im_predict_encode_and_window_error_lazy(spec2im, si, lazy):
    windows = spec2im.predict(lazy)
    assert windows.shape == (22, 18, 8, 8) and windows.chunks[:2] == lazy.data.chunks[:2]
    close(windows, spec2im.predict(si))
    close(spec2im.encode(lazy), spec2im.encode(si))
    err = spec2im.window_error_map(lazy)
    assert err.chunks == lazy.data.chunks[:2]
    close(err, spec2im.window_error_map(si))


def test_rvae_encode_of_a_dask_stack_equals_in_memory(rvae, maps):
    stack = da.from_array(maps, chunks=(1, *CHUNKS))  # channels split too
    enc = rvae.encode(stack, return_std=True)
    ref = rvae.encode(maps, return_std=True)
    assert set(enc) == set(ref) == {"angle", "z", "angle_std", "z_std", "dx", "dy",
                                    "dx_std", "dy_std"}
    assert np.isnan(ref["angle"][:2]).all() and np.isfinite(ref["angle"][2:-2, 2:-2]).all()
    for key in ref:
        assert isinstance(enc[key], da.Array)
        assert scan_chunks(enc[key]) == ((4,) * 5 + (2,), (4,) * 4 + (2,))
    (got,) = dask.compute(enc)                 # one pass over the chunks for every map
    for key in ref:
        close(got[key], ref[key])


def test_error_map_is_chunk_wise_on_lazy_input(im2spec, si, lazy):
    pred_lazy, pred = im2spec.predict(lazy), im2spec.predict(si)
    ref = ew.error_map(si, pred)
    for a, b in ((lazy, pred_lazy), (si, pred_lazy), (lazy, pred), (lazy.data, pred_lazy)):
        got = ew.error_map(a, b)
        assert isinstance(got, da.Array) and got.chunks == lazy.data.chunks[:2]
        close(got, ref)
    with pytest.raises(ValueError, match="shape"):
        ew.error_map(lazy, pred.data[:, :-1])


def test_scaled_mse_percent_on_lazy_input(im2spec, spec2im, si, lazy):
    pred_lazy, pred = im2spec.predict(lazy), im2spec.predict(si)
    ref = scaled_mse_percent(si, pred)
    got = scaled_mse_percent(lazy, pred_lazy)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), ref, rtol=1e-5)
    np.testing.assert_array_equal(np.isnan(got.compute()), np.isnan(ref))
    assert np.isclose(scaled_mse_percent(lazy, pred, axis=None),
                      scaled_mse_percent(si, pred, axis=None), rtol=1e-6)
    windows = spec2im.predict(lazy)                   # (ny, nx, w, w) windows, lazy
    truth = np.random.default_rng(0).random(windows.shape) * float(si.haadf.max())
    np.testing.assert_allclose(
        scaled_mse_percent(truth, windows, axis=(-2, -1)).compute(),
        scaled_mse_percent(truth, spec2im.predict(si), axis=(-2, -1)), rtol=1e-5)
    inf = lazy.data.map_blocks(lambda b: np.where(b > 1e30, b, np.inf), dtype=np.float32)
    with pytest.raises(ValueError, match="Inf"):
        scaled_mse_percent(lazy, inf)


def test_adapters_give_numpy_codes_from_lazy_inputs(vae, rvae, si, lazy, maps):
    codes = vae.latent_adapter(lazy).encode()["z"]
    assert isinstance(codes, np.ndarray)
    close(codes, vae.encode(si))
    pose = rvae.latent_adapter(lazy, stack=da.from_array(maps, chunks=(3, *CHUNKS))).encode()
    close(pose["angle"], rvae.encode(maps)["angle"])


def test_spec2im_back_projection_reads_only_the_chosen_spectra(spec2im, si, lazy):
    pts = spec2im.latent_center_[None]
    got = spec2im.back_project(pts, k=3, si=lazy)
    ref = spec2im.back_project(pts, k=3, si=si)
    np.testing.assert_array_equal(got["pixels"], ref["pixels"])
    assert isinstance(got["inputs"], np.ndarray)
    np.testing.assert_allclose(got["inputs"], ref["inputs"])


# ------------------------------------------------------------------------------ laziness
def test_nothing_is_computed_until_asked(vae, im2spec, spec2im, rvae, lazy, maps):
    bomb = da.ones((22, 18, lazy.ne), chunks=(4, 4, lazy.ne), dtype=np.float32).map_blocks(
        _boom, dtype=np.float32)
    never = SpectrumImage(bomb, lazy.energy, lazy.haadf)
    stack = da.from_array(maps, chunks=(3, *CHUNKS)).map_blocks(_boom, dtype=np.float32)
    with Counter() as counter:
        results = [vae.encode(never), vae.reconstruct(never).data, im2spec.predict(never).data,
                   im2spec.encode(never), spec2im.predict(never), spec2im.encode(never),
                   spec2im.window_error_map(never), ew.error_map(never, never),
                   *rvae.encode(stack).values()]
    assert counter.n == 0
    for res in (results[0], results[4], results[-1]):
        with pytest.raises(AssertionError, match="was computed"):
            res.compute()


def _boom(block):
    raise AssertionError("the graph was computed")


def test_a_chunk_is_computed_from_its_own_chunk(vae, si):
    cube = np.array(si.data)
    lz = SpectrumImage(guarded(cube, {(2, 3)}, (4, 4, si.ne)), si.energy, si.haadf,
                       valid=si.valid)
    block = vae.encode(lz).blocks[2, 3].compute()
    np.testing.assert_allclose(block, vae.encode(si)[8:12, 12:16], rtol=1e-5)


def test_a_window_chunk_reads_only_its_halo(rvae, maps):
    # window 5: 2 pixels of halo each side, so chunk (2, 2) reads its 8 neighbours only
    near = {(i, j) for i in (1, 2, 3) for j in (1, 2, 3)}
    enc = rvae.encode(guarded(maps, near, (3, *CHUNKS), scan_axes=(1, 2)))
    np.testing.assert_allclose(enc["z"].blocks[2, 2].compute(),
                               rvae.encode(maps)["z"][8:12, 8:12], rtol=1e-5)
    with pytest.raises(AssertionError, match="was read"):
        enc["z"].blocks[0, 0].compute()


def test_non_finite_maps_are_reported_when_their_chunk_is_computed(rvae, maps):
    bad = maps.copy()
    bad[1, 20, 3] = np.nan
    enc = rvae.encode(da.from_array(bad, chunks=(3, *CHUNKS)))
    enc["z"].blocks[0, 0].compute()          # far from the bad value: fine
    with pytest.raises(ValueError, match="NaN"):
        enc["z"].compute()


# ------------------------------------------------------------------------------ shipping
def test_graphs_pickle_and_compute_in_other_processes(vae, im2spec, spec2im, rvae, si, lazy,
                                                      maps):
    snap = snapshot(im2spec)
    assert not hasattr(snap, "_reference") and snap.state_ is im2spec.state_
    lazy_results = [vae.encode(lazy), im2spec.predict(lazy).data, spec2im.encode(lazy),
                    rvae.encode(da.from_array(maps, chunks=(3, *CHUNKS)))["z"]]
    shipped = [cloudpickle.loads(cloudpickle.dumps(r)) for r in lazy_results]
    with dask.config.set(scheduler="processes", num_workers=1):
        got = dask.compute(*shipped)
    for g, ref in zip(got, [vae.encode(si), im2spec.predict(si).data, spec2im.encode(si),
                            rvae.encode(maps)["z"]], strict=True):
        close(g, ref)


# ------------------------------------------------------------------------------ errors
def test_bad_lazy_inputs_get_clear_errors(vae, im2spec, rvae, lazy, maps):
    with pytest.raises(TypeError, match="lazy SpectrumImage"):
        vae.encode(lazy.data)
    with pytest.raises(TypeError, match="SpectrumImage"):
        im2spec.predict(lazy.data)
    with pytest.raises(ValueError, match="energy channels"):
        vae.encode(lazy.crop_energy(float(lazy.energy[2]), float(lazy.energy[-1])))
    with pytest.raises(ValueError, match="HAADF"):
        im2spec.predict(lazy.replace(haadf=None))
    with pytest.raises(ValueError, match="channel"):
        rvae.encode(da.from_array(maps[:2], chunks=(2, 4, 4)))
    with pytest.raises(ValueError, match=r"\(C, ny, nx\)"):
        rvae.encode(da.zeros((4, 3, 5, 5), chunks=2))
    with pytest.raises(ValueError, match="largest window"):
        rvae.encode(da.from_array(maps[:, :4, :4]))
    with pytest.raises(TypeError, match="real"):
        rvae.encode(da.from_array(maps.astype(complex)))


# ------------------------------------------------------------------------------ real data
def test_real_file_loaded_lazily_encodes_and_predicts_like_in_memory():
    path, haadf = REALDATA / "CuZn_coreloss_SI.hspy", REALDATA / "CuZn_HAADF.hspy"
    assert path.is_file(), f"{path} is missing (see ../shared/realdata/README.md)"
    si = ew.load(path, haadf=haadf)
    lz = ew.load(path, haadf=haadf, lazy=True, chunks=(16, 16))
    assert lz.is_lazy and lz.shape == si.shape == (50, 40, 162)
    vae = ew.SpectralVAE(latent_dim=2, hidden=(32, 16), epochs=1, seed=0,
                         device="cpu").fit(si, progress=False)
    close(vae.encode(lz), vae.encode(si))
    im = ew.Im2Spec(latent_dim=2, window=8, nb_filters=4, n_dilated=1, epochs=1, seed=0,
                    device="cpu").fit(si, progress=False)
    close(im.predict(lz).data, im.predict(si).data)
