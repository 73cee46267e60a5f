"""Model files: round trip, wrong class, damaged files, and no unpickling ever."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

import eelswidgets as ew
from eelswidgets.models import BaseModel, MultichannelRVAE, NotFittedError, SpectralVAE
from eelswidgets.models import load as load_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def si():
    return ew.datasets.nanowires(seed=3, shape=(16, 16), n_energy=40)


@pytest.fixture(scope="module")
def vae(si):
    torch.set_num_threads(1)
    return SpectralVAE(latent_dim=3, hidden=(24, 12), epochs=2, seed=1, device="cpu",
                       normalize="channel").fit(si, progress=False)


@pytest.fixture(scope="module")
def maps():
    return np.random.default_rng(0).random((2, 14, 14)).astype(np.float32)


@pytest.fixture(scope="module")
def rvae(maps):
    torch.set_num_threads(1)
    return MultichannelRVAE(window=6, hidden=8, encoder_hidden=8, decoder="fast", epochs=1,
                            ranges=[(0, 1), (0, 2)], device="cpu").fit(maps, progress=False)


def test_spectral_vae_round_trip(tmp_path, si, vae):
    path = vae.save(tmp_path / "vae.eelsmodel")
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == ["vae.eelsmodel"]
    back = SpectralVAE.load(path)
    assert type(back) is SpectralVAE and back is not vae
    assert back.get_params() == vae.get_params()
    np.testing.assert_array_equal(back.encode(si), vae.encode(si))
    np.testing.assert_array_equal(back.reconstruct(si).data, vae.reconstruct(si).data)
    np.testing.assert_array_equal(back.state_["offset"], vae.state_["offset"])
    np.testing.assert_array_equal(back.state_["energy"], si.energy)
    assert back.history_["loss"] == vae.history_["loss"]
    assert not back.module_.training
    # BaseModel.load and eelswidgets.models.load find the class from the file
    assert type(BaseModel.load(path)) is SpectralVAE
    assert type(load_model(str(path))) is SpectralVAE


def test_rvae_round_trip(tmp_path, maps, rvae):
    path = rvae.save(tmp_path / "rv.model")
    back = MultichannelRVAE.load(path)
    a, b = rvae.encode(maps), back.encode(maps)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(rvae.manifold(grid=3), back.manifold(grid=3))
    assert back.state_["normalization"] == rvae.state_["normalization"]
    assert back.ranges == [[0, 1], [0, 2]]


def test_header_contents(tmp_path, vae):
    path = vae.save(tmp_path / "vae.eelsmodel")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["eelsmodel.json", "weights.safetensors"]
        head = json.loads(zf.read("eelsmodel.json"))
    assert head["class"] == "SpectralVAE" and head["eelswidgets_version"] == ew.__version__
    assert head["params"]["latent_dim"] == 3 and head["state"]["n_energy"] == 40
    assert sorted(head["state_arrays"]) == ["energy", "offset", "scale"]


def test_save_overwrites_atomically_and_needs_a_fitted_model(tmp_path, vae):
    path = tmp_path / "m.eelsmodel"
    path.write_bytes(b"old content")
    vae.save(path)
    assert SpectralVAE.load(path).latent_dim == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.eelsmodel"]   # no temp files
    with pytest.raises(NotFittedError):
        SpectralVAE().save(tmp_path / "x.eelsmodel")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vae.save(tmp_path / "missing" / "m.eelsmodel")


def test_wrong_class_is_a_type_error(tmp_path, vae, rvae):
    path = vae.save(tmp_path / "vae.eelsmodel")
    with pytest.raises(TypeError, match="holds a SpectralVAE, not a MultichannelRVAE"):
        MultichannelRVAE.load(path)
    rpath = rvae.save(tmp_path / "rv.eelsmodel")
    with pytest.raises(TypeError, match="holds a MultichannelRVAE"):
        SpectralVAE.load(rpath)


def test_truncated_and_corrupted_files(tmp_path, vae):
    path = vae.save(tmp_path / "vae.eelsmodel")
    raw = path.read_bytes()
    cases = {
        "truncated": raw[: len(raw) // 2],
        "tiny": raw[:10],
        "empty": b"",
        "garbage": bytes(range(256)) * 8,
    }
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF     # inside the compressed weights
    cases["flipped"] = bytes(flipped)
    for name, data in cases.items():
        bad = tmp_path / f"{name}.eelsmodel"
        bad.write_bytes(data)
        with pytest.raises(ValueError, match=r"eelswidgets model file|corrupted|truncated"):
            SpectralVAE.load(bad)
    with pytest.raises(FileNotFoundError):
        SpectralVAE.load(tmp_path / "nothing.eelsmodel")
    # a valid archive whose header lies about the format
    fake = tmp_path / "fake.eelsmodel"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("eelsmodel.json", json.dumps({"format": "other"}))
        zf.writestr("weights.safetensors", b"")
    with pytest.raises(ValueError, match="not an eelswidgets model file"):
        BaseModel.load(fake)
    # weights of another architecture
    with zipfile.ZipFile(path) as zf:
        head = json.loads(zf.read("eelsmodel.json"))
        weights = zf.read("weights.safetensors")
    head["params"]["hidden"] = [8]
    odd = tmp_path / "odd.eelsmodel"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("eelsmodel.json", json.dumps(head))
        zf.writestr("weights.safetensors", weights)
    with pytest.raises(ValueError, match="do not match"):
        SpectralVAE.load(odd)


class _Payload:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickles_are_refused_without_running(tmp_path):
    marker = tmp_path / "PWNED"
    torch_file = tmp_path / "model.eelsmodel"
    torch.save({"weights": _Payload(marker)}, torch_file)
    assert zipfile.is_zipfile(torch_file)           # torch.save writes a zip with data.pkl
    with pytest.raises(ValueError, match="pickle"):
        BaseModel.load(torch_file)
    with pytest.raises(ValueError):
        SpectralVAE.load(torch_file)
    raw_pickle = tmp_path / "raw.eelsmodel"
    raw_pickle.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a readable eelswidgets model file"):
        BaseModel.load(raw_pickle)
    assert not marker.exists()
    # sanity: the payload really would have run if unpickled
    pickle.loads(raw_pickle.read_bytes()).close()
    assert marker.exists()


def _with_old_state(path, out, change):
    """Copy a model file with its header's fitted constants changed (an older version's)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(members["eelsmodel.json"])
    change(header["state"])
    members["eelsmodel.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def test_latent_summary_round_trips_and_older_files_still_load(tmp_path, si, vae, rvae, maps):
    for model in (vae, rvae):
        back = load_model(model.save(tmp_path / "m.eelsmodel"))
        np.testing.assert_array_equal(back.latent_ranges_, model.latent_ranges_)
        np.testing.assert_array_equal(back.latent_center_, model.latent_center_)
    assert vae.latent_ranges_.shape == (3, 2) and vae.latent_center_.shape == (3,)
    np.testing.assert_allclose(vae.latent_ranges_,
                               np.percentile(vae.encode(si).reshape(-1, 3), [2, 98], 0).T,
                               rtol=1e-4, atol=1e-5)

    def rvae_before(state):                      # the rVAE stored z_range only
        state["z_range"] = state.pop("latent_ranges")
        del state["latent_center"]

    old = MultichannelRVAE.load(_with_old_state(rvae.save(tmp_path / "r.eelsmodel"),
                                                tmp_path / "r_old.eelsmodel", rvae_before))
    np.testing.assert_array_equal(old.latent_ranges_, rvae.latent_ranges_)
    np.testing.assert_array_equal(old.latent_center_, [0.0, 0.0])
    np.testing.assert_array_equal(old.manifold(grid=3), rvae.manifold(grid=3))  # d = 2

    def vae_before(state):                       # the VAE stored no latent summary
        del state["latent_ranges"], state["latent_center"]

    old_vae = SpectralVAE.load(_with_old_state(vae.save(tmp_path / "v.eelsmodel"),
                                               tmp_path / "v_old.eelsmodel", vae_before))
    np.testing.assert_array_equal(old_vae.encode(si), vae.encode(si))
    with pytest.raises(ValueError, match="fit it again"):
        old_vae.manifold(grid=3)


def test_im2spec_files_from_before_the_latent_summary_are_upgraded():
    old = {"n_train": 5, "code_lo": [0.0, -1.0], "code_hi": [1.0, 2.0], "code_mid": [0.5, 0.0]}
    new = ew.Im2Spec._upgrade_state(old)
    assert new["latent_ranges"] == [[0.0, 1.0], [-1.0, 2.0]]
    assert new["latent_center"] == [0.5, 0.0] and new["n_train"] == 5
    assert not {"code_lo", "code_hi", "code_mid"} & set(new) and "code_lo" in old
    # a damaged old file still fails with the field named (lists of different length)
    bad = ew.Im2Spec._upgrade_state({"code_lo": [0.0], "code_hi": [1.0, 2.0]})
    assert bad["latent_ranges"] == [0.0]
