"""SpectralVAE: ground truth on the nanowires dataset, API and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

import eelswidgets as ew
from eelswidgets.models import NotFittedError, SpectralVAE

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def wires():
    """Nanowires with the zero-loss tail removed (the paper's low-loss workflow)."""
    si = ew.datasets.nanowires(seed=0, shape=(48, 60), n_energy=192)
    t = si.truth
    low = si.remove_zlp(t["zlp_fit_window"])
    channels = np.searchsorted(si.energy, low.energy)
    # the noise-free plasmon signal on the same channels
    clean = np.einsum("kyx,ke->yxe", t["maps"], t["spectra"])[..., channels]
    return low, clean, t["wire_mask"]


@pytest.fixture(scope="module")
def fitted(wires):
    torch.set_num_threads(1)
    low, _, _ = wires
    return SpectralVAE(latent_dim=2, epochs=15, batch_size=64, lr=2e-3, seed=0,
                       device="cpu").fit(
        low, progress=False)


def test_reconstruction_denoises_towards_the_truth(wires, fitted):
    low, clean, _ = wires
    rec = fitted.reconstruct(low)
    assert isinstance(rec, ew.SpectrumImage)
    np.testing.assert_array_equal(rec.energy, low.energy)
    err_input = np.mean((low.data - clean) ** 2)
    err_rec = np.mean((rec.data - clean) ** 2)
    ratio = err_rec / err_input
    print(f"SpectralVAE reconstruction MSE / noisy-input MSE vs truth: {ratio:.3f}")
    assert ratio < 0.6


def test_latents_separate_wire_from_vacuum(wires, fitted):
    low, _, wire = wires
    z = fitted.encode(low)
    assert z.shape == (48, 60, 2) and z.dtype == np.float32 and np.isfinite(z).all()
    y = wire.ravel()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(KNeighborsClassifier(15), z.reshape(-1, 2), y, cv=cv,
                          method="predict_proba")[:, 1]
    auc = roc_auc_score(y, p)
    print(f"SpectralVAE wire/vacuum AUC from the 2 latents (kNN, 5-fold): {auc:.3f}")
    assert auc > 0.9
    # the noise level was learned and is far below the signal scale (normalised units)
    assert float(fitted.module_.log_sigma.detach().exp()) < 0.1


def test_encode_decode_and_invalid_pixels(wires, fitted):
    low, _, _ = wires
    valid = np.ones(low.shape[:2], bool)
    valid[:3] = False
    cube = low.data.copy()
    cube[:3] = np.nan
    si = low.replace(data=cube, valid=valid)
    z, logvar = fitted.encode(si, return_logvar=True)
    assert np.isnan(z[:3]).all() and np.isfinite(z[3:]).all() and logvar.shape == z.shape
    np.testing.assert_allclose(z[3:], fitted.encode(low)[3:], atol=1e-5)
    rec = fitted.reconstruct(si)
    assert np.isnan(rec.data[:3]).all() and not rec.valid[:3].any() and rec.valid[3:].all()
    spectra = fitted.decode(z[5, 5:8])
    assert spectra.shape == (3, low.ne)
    np.testing.assert_allclose(spectra, rec.data[5, 5:8], rtol=1e-4, atol=1e-3)
    # plain arrays of spectra work too, leading shape kept
    assert fitted.encode(low.data[:2, :4]).shape == (2, 4, 2)
    assert fitted.decode(np.zeros(2)).shape == (low.ne,)


def test_same_seed_same_weights_and_latents():
    si = ew.datasets.nanowires(seed=1, shape=(16, 20), n_energy=48)
    kw = dict(latent_dim=2, hidden=(32,), epochs=2, seed=5, device="cpu")
    a = SpectralVAE(**kw).fit(si, progress=False)
    b = SpectralVAE(**kw).fit(si, progress=False)
    c = SpectralVAE(**{**kw, "seed": 6}).fit(si, progress=False)
    for (ka, va), (kb, vb) in zip(a.module_.state_dict().items(),
                                  b.module_.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    np.testing.assert_array_equal(a.encode(si), b.encode(si))
    assert not np.array_equal(a.encode(si), c.encode(si))
    assert a.history_["loss"] == b.history_["loss"]


def test_channel_normalisation_and_state():
    si = ew.datasets.nanowires(seed=1, shape=(16, 20), n_energy=48)
    vae = SpectralVAE(hidden=(16,), epochs=1, normalize="channel", device="cpu").fit(
        si, progress=False)
    st = vae.state_
    np.testing.assert_allclose(st["offset"], si.data.reshape(-1, 48).mean(0), rtol=1e-4)
    assert st["n_energy"] == 48 and st["n_train"] == 320
    np.testing.assert_array_equal(st["energy"], si.energy)
    mask = np.zeros((16, 20), bool)
    mask[:, :5] = True
    vae2 = SpectralVAE(hidden=(16,), epochs=1, device="cpu").fit(si, mask=mask, progress=False)
    assert vae2.state_["n_train"] == 80 and vae2.history_["n_train"] == 80


def test_bad_input():
    si = ew.datasets.nanowires(seed=1, shape=(16, 20), n_energy=48)
    before = si.data.copy()
    with pytest.raises(NotFittedError, match="fit"):
        SpectralVAE().encode(si)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        SpectralVAE(latent_dim=0).fit(si, progress=False)
    with pytest.raises(ValueError, match="unknown normalize"):
        SpectralVAE(normalize="max").fit(si, progress=False)
    with pytest.raises(TypeError, match="hidden"):
        SpectralVAE(hidden="big").fit(si, progress=False)
    with pytest.raises(ValueError, match="sigma"):
        SpectralVAE(sigma=-1.0).fit(si, progress=False)
    with pytest.raises(ValueError, match="mask selects no valid pixel"):
        SpectralVAE(epochs=1).fit(si, mask=np.zeros((16, 20), bool), progress=False)
    with pytest.raises(ValueError, match="shape"):
        SpectralVAE(epochs=1).fit(si, mask=np.ones((3, 3), bool), progress=False)
    vae = SpectralVAE(hidden=(16,), epochs=1, device="cpu").fit(si, progress=False)
    with pytest.raises(ValueError, match="fitted on spectra of 48 energy channels but got 40"):
        vae.encode(si.crop_energy(float(si.energy[0]), float(si.energy[39])))
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 2\)"):
        vae.decode(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        vae.decode(np.array([np.nan, 0.0]))
    with pytest.raises(TypeError, match="SpectrumImage"):
        vae.reconstruct(si.data)
    shifted = si.replace(energy=si.energy + 5.0)
    with pytest.warns(UserWarning, match="energy axis differs"):
        vae.encode(shifted)
    np.testing.assert_array_equal(si.data, before)
