"""Im2Spec / Spec2Im: ground truth on the synthetic nanocube array, API contract, bad input."""

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets import analysis
from eelswidgets.models.base import NotFittedError
from eelswidgets.models.im2spec import Im2Spec, Spec2Im
from eelswidgets.models.splits import (
    block_split,
    heldout_mask,
    left_right_split,
    random_split,
    window_valid,
)

W = 16
EPOCHS = 8


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cubes():
    """Default-size nanocube array, zero-loss tail removed, 4 channels binned (61 channels)."""
    si = ew.datasets.nanocube_array(seed=0)
    si = si.remove_zlp(si.truth["zlp_fit_window"]).bin(energy=4)
    train = left_right_split(si)                       # left half: training region
    test = heldout_mask(train, window_valid(si, W))    # right half, window inside the image
    return si, train, test


def _fit(cls, si, train, **kw):
    params = dict(window=W, epochs=EPOCHS, batch_size=128, seed=0, device="cpu")
    params.update(kw)
    return cls(**params).fit(si, train=train, progress=False)


@pytest.fixture(scope="module")
def im10(cubes):
    si, train, _ = cubes
    return _fit(Im2Spec, si, train, latent_dim=10)


@pytest.fixture(scope="module")
def sp10(cubes):
    si, train, _ = cubes
    return _fit(Spec2Im, si, train, latent_dim=10)


def _windows_at(img, pixels, w=W):
    return np.stack([img[y - w // 2:y - w // 2 + w, x - w // 2:x - w // 2 + w]
                     for y, x in pixels])


# ----------------------------------------------------------------------------- ground truth
def test_im2spec_latent10_beats_mean_spectrum_and_latent2(cubes, im10):
    si, train, test = cubes
    used = train & window_valid(si, W)
    truth = si.data[test]
    mse10 = float(np.mean((im10.predict(si).data[test] - truth) ** 2))
    baseline = float(np.mean((si.mean_spectrum(used)[None] - truth) ** 2))
    im2 = _fit(Im2Spec, si, train, latent_dim=2)
    mse2 = float(np.mean((im2.predict(si).data[test] - truth) ** 2))
    ratio = mse10 / baseline
    print(f"\nIm2Spec test MSE: latent 10 {mse10:.1f}, latent 2 {mse2:.1f}, mean-spectrum "
          f"baseline {baseline:.1f}; ratio latent10/baseline = {ratio:.3f}")
    assert ratio < 0.3          # measured ~0.12: far better than the mean spectrum
    assert mse10 < 0.95 * mse2  # 10 latents capture more of the local geometry than 2
    # a model that ignores its input cannot do this: the prediction must vary like the truth
    pred = im10.predict(si).data[test].sum(axis=1)
    assert np.corrcoef(pred, truth.sum(axis=1))[0, 1] > 0.9


def test_paper_im2spec_has_no_shuffle_and_recovers_spectra(cubes, im10, small):
    si, train, test = cubes
    assert {k: Im2Spec.from_preset("paper").get_params()[k]
            for k in ("upsample", "nb_filters", "n_dilated")} == {
        "upsample": 1, "nb_filters": 64, "n_dilated": 4}
    full = Im2Spec.from_preset("paper", window=8, epochs=1, device="cpu").fit(
        small, progress=False).module_
    assert full.pyramid.layers[0].in_channels == 64 and len(full.pyramid.layers) == 4
    # the paper's decoder at a quarter of its width (to stay fast) on the nanocube array
    paper = Im2Spec.from_preset("paper", nb_filters=16, window=W, epochs=EPOCHS,
                                batch_size=128, seed=0, device="cpu")
    paper.fit(si, train=train, progress=False)
    net = paper.module_
    # the pyramid runs on the full-length spectrum and the last layer makes one channel:
    # nothing to shuffle (the default decoder makes `upsample` channels at a quarter length)
    assert net.short == si.ne and net.out.out_channels == 1
    assert im10.module_.out.out_channels == 4 and im10.module_.short < si.ne
    used = train & window_valid(si, W)
    truth = si.data[test]
    pred = paper.predict(si).data[test]
    ratio = float(np.mean((pred - truth) ** 2)
                  / np.mean((si.mean_spectrum(used)[None] - truth) ** 2))
    print(f"\npaper Im2Spec: test MSE / mean-spectrum baseline = {ratio:.3f}")
    assert ratio < 0.3                    # the bar of the default model's test above
    assert np.corrcoef(pred.sum(axis=1), truth.sum(axis=1))[0, 1] > 0.9


def test_paper_spec2im_runs_its_pyramid_at_64_channels(small):
    sp = Spec2Im.from_preset("paper", window=4, epochs=1, seed=0, device="cpu").fit(
        small, progress=False)
    assert sp.module_.pyramid.layers[0].in_channels == 64
    assert np.isfinite(sp.predict(small)[window_valid(small, 4)]).all()


def test_spec2im_beats_mean_window_baseline(cubes, sp10):
    si, train, test = cubes
    used = train & window_valid(si, W)
    pix = np.argwhere(test)
    true_w = _windows_at(si.haadf, pix)
    mean_w = _windows_at(si.haadf, np.argwhere(used)).mean(axis=0)
    pred = sp10.predict(si)
    mse = float(np.mean((pred[test] - true_w) ** 2))
    baseline = float(np.mean((mean_w[None] - true_w) ** 2))
    print(f"\nSpec2Im test window MSE {mse:.4f} vs mean-window baseline {baseline:.4f} "
          f"(ratio {mse / baseline:.3f})")
    assert mse < 0.9 * baseline


# ----------------------------------------------------------------------------- contract
def test_predict_returns_spectrum_image_with_nan_border(cubes, im10):
    si, _, _ = cubes
    pred = im10.predict(si)
    assert isinstance(pred, ew.SpectrumImage)
    assert pred.shape == si.shape
    np.testing.assert_array_equal(pred.energy, si.energy)
    np.testing.assert_array_equal(pred.haadf, si.haadf)
    valid = window_valid(si, W)
    np.testing.assert_array_equal(pred.valid, valid)
    assert valid.sum() == (80 - W + 1) ** 2
    assert np.all(np.isnan(pred.data[~valid]))
    assert np.all(np.isfinite(pred.data[valid]))
    assert pred.pixel_size == si.pixel_size
    # the analysis layer reads it directly
    err = ew.error_map(si, pred)
    assert np.all(np.isnan(err[~valid])) and np.all(np.isfinite(err[valid]))


def test_encode_maps_nan_at_border(cubes, im10, sp10):
    si, _, _ = cubes
    valid = window_valid(si, W)
    for model in (im10, sp10):
        z = model.encode(si)
        assert z.shape == (si.ny, si.nx, 10) and z.dtype == np.float32
        assert np.all(np.isnan(z[~valid])) and np.all(np.isfinite(z[valid]))
        assert np.all(z[valid].std(axis=0) > 0)


def test_latent_grid_decodes_the_grid(im10, sp10):
    spectra, coords = im10.latent_grid(grid=4, dims=(0, 1))
    assert spectra.shape == (4, 4, im10.state_["n_energy"])
    assert coords.shape == (4, 4, 10)
    assert np.all(np.diff(coords[0, :, 0]) > 0) and np.all(np.diff(coords[:, 0, 1]) > 0)
    np.testing.assert_allclose(coords[:, :, 2:], np.broadcast_to(
        im10.latent_center_[2:].astype(np.float32), (4, 4, 8)))
    # the span is the 2nd-98th percentile of the training codes (the package's one range)
    r = im10.latent_ranges_
    np.testing.assert_allclose(coords[0, [0, -1], 0], r[0], rtol=1e-6)
    np.testing.assert_allclose(coords[[0, -1], 0, 1], r[1], rtol=1e-6)
    # manifold is the same lattice, decoded
    np.testing.assert_allclose(im10.manifold(grid=4), spectra, rtol=1e-6)
    np.testing.assert_allclose(spectra[2, 3], im10.decode(coords[2, 3]), rtol=1e-5,
                               atol=1e-4)
    assert np.ptp(spectra.reshape(16, -1), axis=0).max() > 0  # the grid is not constant
    windows, c2 = sp10.latent_grid(grid=3, ranges=((-1, 1), (0, 2)), dims=(2, 5))
    assert windows.shape == (3, 3, W, W)
    np.testing.assert_allclose(c2[0, :, 2], [-1, 0, 1])
    np.testing.assert_allclose(c2[:, 0, 5], [0, 1, 2])


def test_back_project_finds_the_pixels_own_input(cubes, im10, sp10):
    si, _, _ = cubes
    pix = np.array([[20, 20], [40, 60], [60, 30]])
    for model in (im10, sp10):
        z = model.encode(si)
        out = model.back_project(z[pix[:, 0], pix[:, 1]], k=3)
        assert out["pixels"].shape == (3, 3, 2)
        np.testing.assert_array_equal(out["pixels"][:, 0], pix)
        np.testing.assert_allclose(out["distances"][:, 0], 0, atol=1e-4)
        assert np.all(np.diff(out["distances"], axis=1) >= 0)
        np.testing.assert_allclose(out["mean"], out["inputs"].mean(axis=1), rtol=1e-6)
        found = out["pixels"].reshape(-1, 2)
        if model is im10:
            assert out["inputs"].shape == (3, 3, W, W)
            np.testing.assert_array_equal(out["inputs"].reshape(-1, W, W),
                                          _windows_at(si.haadf, found))
        else:
            assert out["inputs"].shape == (3, 3, si.ne)
            np.testing.assert_array_equal(out["inputs"].reshape(-1, si.ne),
                                          si.data[found[:, 0], found[:, 1]])
    # a 2D manifold click (dims) and a search restricted to the training region
    _, train, _ = cubes
    out = im10.back_project([[0.0, 0.0]], k=4, dims=(0, 1), mask=train)
    assert train[out["pixels"][0, :, 0], out["pixels"][0, :, 1]].all()


def test_spec2im_window_error_map_matches_analysis(cubes, sp10):
    si, _, _ = cubes
    direct = sp10.window_error_map(si)
    via = analysis.window_error_map(si.haadf, sp10.predict(si))
    np.testing.assert_allclose(direct, via, rtol=1e-4, equal_nan=True)
    valid = window_valid(si, W)
    assert np.all(np.isnan(direct[~valid])) and np.all(np.isfinite(direct[valid]))


def test_save_load_round_trip(cubes, im10, sp10, tmp_path):
    si, _, _ = cubes
    for model, cls in ((im10, Im2Spec), (sp10, Spec2Im)):
        path = tmp_path / f"{cls.__name__}.eelsmodel"
        model.save(path)
        back = cls.load(path)
        assert back.get_params() == model.get_params()
        np.testing.assert_array_equal(back.encode(si), model.encode(si))
        with pytest.raises(ValueError, match="pass the spectrum image"):
            back.back_project(np.zeros((1, 10)))
        out = back.back_project(np.zeros((1, 10)), k=2, si=si)
        assert out["pixels"].shape == (1, 2, 2)
    with pytest.raises(TypeError, match="Im2Spec"):
        Spec2Im.load(tmp_path / "Im2Spec.eelsmodel")


def test_same_seed_same_model_and_input_untouched():
    si = ew.datasets.nanocube_array(seed=1, shape=(32, 32), n_energy=32)
    mask = np.zeros((32, 32), dtype=bool)
    mask[:, :20] = True
    keep = mask.copy()
    data_before = si.data.copy()
    a = Im2Spec(latent_dim=3, window=8, epochs=2, seed=3, device="cpu").fit(
        si, train=mask, progress=False)
    b = Im2Spec(latent_dim=3, window=8, epochs=2, seed=3, device="cpu").fit(
        si, train=mask, progress=False)
    np.testing.assert_array_equal(a.predict(si).data, b.predict(si).data)
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_array_equal(si.data, data_before)
    assert a.history_["epochs_run"] == 2 and a.state_["n_train"] == int(
        (mask & window_valid(si, 8)).sum())


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    return ew.datasets.nanocube_array(seed=2, shape=(24, 24), n_energy=32)


def _quick(cls, **kw):
    params = dict(window=8, latent_dim=2, epochs=1, device="cpu")
    params.update(kw)
    return cls(**params)


@pytest.mark.parametrize("cls", [Im2Spec, Spec2Im])
def test_bad_training_masks(cls, small):
    model = _quick(cls)
    with pytest.raises(ValueError, match="selects no valid pixel"):
        model.fit(small, train=np.zeros((24, 24), bool), progress=False)
    border_only = ~window_valid(small, 8)
    with pytest.raises(ValueError, match="window fits inside the image"):
        model.fit(small, train=border_only, progress=False)
    with pytest.raises(ValueError, match="shape"):
        model.fit(small, train=np.ones((24, 23), bool), progress=False)
    with pytest.raises(TypeError, match="boolean"):
        model.fit(small, train=np.ones((24, 24)), progress=False)


@pytest.mark.parametrize("cls", [Im2Spec, Spec2Im])
def test_bad_hyper_parameters_and_data(cls, small):
    with pytest.raises(ValueError, match="larger than the image"):
        _quick(cls, window=32).fit(small, progress=False)
    with pytest.raises(ValueError, match="latent_dim"):
        _quick(cls, latent_dim=0).fit(small, progress=False)
    with pytest.raises(ValueError, match="HAADF"):
        _quick(cls).fit(small.replace(haadf=None), progress=False)
    with pytest.raises(TypeError, match="SpectrumImage"):
        _quick(cls).fit(small.data, progress=False)
    with pytest.raises(ValueError, match="constant"):
        _quick(cls).fit(small.replace(haadf=np.ones((24, 24))), progress=False)
    with pytest.raises(NotFittedError, match="not fitted"):
        _quick(cls).encode(small)


def test_window_parity_messages(small):
    with pytest.raises(ValueError, match="even") as err:
        _quick(Im2Spec, window=9).fit(small, progress=False)
    assert "window=8 or 10" in str(err.value)
    with pytest.raises(ValueError, match="multiple of 4") as err:
        _quick(Spec2Im, window=10).fit(small, progress=False)
    assert "window=8 or 12" in str(err.value)


@pytest.mark.parametrize("cls", [Im2Spec, Spec2Im])
def test_different_energy_length_is_refused(cls, small):
    model = _quick(cls).fit(small, progress=False)
    other = small.crop_energy(float(small.energy[2]), float(small.energy[-1]))
    with pytest.raises(ValueError, match="32 energy channels"):
        (model.predict(other) if cls is Im2Spec else model.encode(other))
    with pytest.raises(ValueError, match="columns"):
        model.decode(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="k must be"):
        model.back_project(np.zeros((1, 2)), k=10**6)


# ----------------------------------------------------------------------------- splits
def test_left_right_split():
    m = left_right_split((4, 10), fraction=0.3)
    assert m[:, :3].all() and not m[:, 3:].any()
    t = left_right_split((10, 4), fraction=0.5, axis=0)
    assert t[:5].all() and not t[5:].any()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        left_right_split((4, 10), fraction=1.0)
    with pytest.raises(ValueError, match="axis"):
        left_right_split((4, 10), axis=2)


def test_random_and_block_splits():
    r = random_split((20, 30), fraction=0.25, seed=5)
    assert r.sum() == 150
    np.testing.assert_array_equal(r, random_split((20, 30), fraction=0.25, seed=5))
    assert not np.array_equal(r, random_split((20, 30), fraction=0.25, seed=6))
    b = block_split((20, 30), blocks=(2, 3), fraction=0.5, seed=0)
    assert b.sum() == 3 * 10 * 10
    for by in range(2):
        for bx in range(3):
            tile = b[by * 10:(by + 1) * 10, bx * 10:(bx + 1) * 10]
            assert tile.all() or not tile.any()
    with pytest.raises(TypeError, match="shape"):
        random_split(5)


def test_heldout_and_window_valid():
    v = window_valid((20, 30), 6)
    assert v.sum() == (20 - 5) * (30 - 5)
    assert v[3, 3] and not v[2, 3] and v[17, 27] and not v[18, 27]
    train = left_right_split((20, 30))
    test = heldout_mask(train, v)
    assert not (test & train).any() and not test[~v].any()
    np.testing.assert_array_equal(test | (train & v), v)
    with pytest.raises(ValueError, match="larger than the image"):
        window_valid((5, 30), 6)
