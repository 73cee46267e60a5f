"""Hostile model files, failed refits, the caller's random generators and early stops.

- Tampered ``.eelsmodel`` files (one table of cases, run for all four models) are refused with
  a ``ValueError``/``TypeError`` that names the field, before anything big is allocated (the
  peak memory of loading the reproduced hostile files is measured in a subprocess).
- A ``fit`` that fails leaves the previous fit (or the unfitted state) completely in place.
- ``fit(seed=...)`` leaves NumPy's and torch's global generators as the caller had them and is
  still bit-reproducible.
- A fit stopped before its first epoch finished leaves the model as it was.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import eelswidgets as ew
from eelswidgets.models import (
    BaseModel,
    Im2Spec,
    MultichannelRVAE,
    NotFittedError,
    Spec2Im,
    SpectralVAE,
    StopTraining,
)
from eelswidgets.models.trainer import Trainer, TrainingDiverged

FAST = {"epochs": 2, "device": "cpu", "seed": 0}
HEADER, WEIGHTS = "eelsmodel.json", "weights.safetensors"


def _si(seed: int = 0, ne: int = 20, n: int = 12) -> ew.SpectrumImage:
    rng = np.random.default_rng(seed)
    cube = rng.random((n, n, ne)).astype(np.float32) + 0.1
    haadf = rng.random((n, n)).astype(np.float32)
    return ew.SpectrumImage(cube, energy=np.linspace(1.0, 2.0, ne), haadf=haadf)


def _maps(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((2, 12, 12)).astype(np.float32)


def _make(name: str) -> BaseModel:
    if name == "SpectralVAE":
        return SpectralVAE(latent_dim=2, hidden=(8,), **FAST)
    if name == "MultichannelRVAE":
        return MultichannelRVAE(window=5, hidden=8, encoder_hidden=8, decoder="fast", **FAST)
    if name == "Im2Spec":
        return Im2Spec(latent_dim=2, window=4, nb_filters=4, n_dilated=1, **FAST)
    return Spec2Im(latent_dim=2, window=4, nb_filters=4, n_dilated=1, pool=4, **FAST)


def _data(name: str, seed: int = 0):
    return _maps(seed) if name == "MultichannelRVAE" else _si(seed)


def _encode(model, data):
    out = model.encode(data)
    return np.concatenate([out[k].ravel() for k in sorted(out)]) if isinstance(
        out, dict) else out


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny networks train several times faster on one thread."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        yield
    finally:
        torch.set_num_threads(threads)


MODELS = ("SpectralVAE", "MultichannelRVAE", "Im2Spec", "Spec2Im")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (header dict, weights bytes) of a small fitted model of each class."""
    out = {}
    for name in MODELS:
        model = _make(name).fit(_data(name), progress=False)
        path = model.save(tmp_path_factory.mktemp("m") / f"{name}.eelsmodel")
        with zipfile.ZipFile(path) as zf:
            out[name] = (json.loads(zf.read(HEADER)), zf.read(WEIGHTS))
    return out


# ----------------------------------------------------------------------------- building files
def _zip(members: dict[str, bytes], level: int = 6) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return buf.getvalue()


def _file(header, weights: bytes) -> bytes:
    return _zip({HEADER: json.dumps(header).encode(), WEIGHTS: weights})


def _split(weights: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", weights[:8])
    return json.loads(weights[8:8 + n]), weights[8 + n:]


def _join(table: dict, data: bytes) -> bytes:
    head = json.dumps(table).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


_DEL = object()


def _set(d: dict, key: str, value) -> None:
    if value is _DEL:
        del d[key]
    else:
        d[key] = value


def P(key, value):
    """Tamper with a hyper-parameter."""
    def mutate(h, w):
        _set(h["params"], key, value)
        return _file(h, w)
    return mutate


def S(key, value):
    """Tamper with a fitted constant stored as JSON."""
    def mutate(h, w):
        _set(h["state"], key, value)
        return _file(h, w)
    return mutate


def H(key, value):
    """Tamper with a top-level header field."""
    def mutate(h, w):
        _set(h, key, value)
        return _file(h, w)
    return mutate


def T(fn):
    """Tamper with the safetensors header (names, dtypes, shapes, offsets)."""
    def mutate(h, w):
        table, data = _split(w)
        fn(table)
        return _file(h, _join(table, data))
    return mutate


def W(fn):
    """Tamper with the tensors' values (re-saved as a consistent safetensors member)."""
    def mutate(h, w):
        tensors = st_load(w)
        fn(tensors)
        return _file(h, st_save(tensors))
    return mutate


def R(fn):
    """Build the raw file from the header bytes and the weights bytes."""
    return lambda h, w: fn(json.dumps(h).encode(), w)


def _first(table):
    return min((k for k in table if k != "__metadata__"), key=lambda k: table[k][
        "data_offsets"][0])


def _grow_first(table):
    table[_first(table)]["shape"][0] += 1


def _int_first(table):
    table[_first(table)]["dtype"] = "I32"


def _drop_first(table):
    del table[_first(table)]


def _overlap(table):
    keys = sorted((k for k in table if k != "__metadata__"),
                  key=lambda k: table[k]["data_offsets"][0])
    a, b = table[keys[0]]["data_offsets"], table[keys[1]]["data_offsets"]
    size = b[1] - b[0]
    table[keys[1]]["data_offsets"] = [a[0], a[0] + size]


def _huge_table(h, w):
    return _zip({HEADER: h, WEIGHTS: struct.pack("<Q", 2**60) + w[8:]})


def _bad_json_table(h, w):
    return _zip({HEADER: h, WEIGHTS: struct.pack("<Q", 4) + b"{{{{" + w[12:]})


NAN = float("nan")
#: (case, mutation, exception type, text the message must contain) for every model
COMMON = [
    ("latent_dim_zero", P("latent_dim", 0), ValueError, "latent_dim"),
    ("latent_dim_huge", P("latent_dim", 10**6), ValueError, "latent_dim"),
    ("latent_dim_float", P("latent_dim", 2.5), TypeError, "latent_dim"),
    ("latent_dim_string", P("latent_dim", "2"), TypeError, "latent_dim"),
    ("latent_dim_null", P("latent_dim", None), TypeError, "latent_dim"),
    ("lr_nan", P("lr", NAN), ValueError, "lr"),
    ("lr_negative", P("lr", -1.0), ValueError, "lr"),
    ("epochs_bool", P("epochs", True), TypeError, "epochs"),
    ("seed_negative", P("seed", -1), ValueError, "seed"),
    ("batch_size_list", P("batch_size", [1]), TypeError, "batch_size"),
    ("val_fraction_one", P("val_fraction", 1.0), ValueError, "val_fraction"),
    ("patience_zero", P("patience", 0), ValueError, "patience"),
    ("device_unknown", P("device", "tpu"), ValueError, "device"),
    ("param_missing", P("seed", _DEL), ValueError, "seed"),
    ("param_extra", P("depth", 3), ValueError, "depth"),
    ("params_list", H("params", [1, 2]), TypeError, "params"),
    ("state_list", H("state", []), TypeError, "state"),
    ("state_missing", H("state", _DEL), ValueError, "state"),
    ("header_extra_key", H("evil", 1), ValueError, "evil"),
    ("class_unknown", H("class", "Nope"), ValueError, "Nope"),
    ("class_number", H("class", 3), TypeError, "class"),
    ("module_dict", H("module", {}), TypeError, "module"),
    ("format_other", H("format", "other"), ValueError, "format"),
    ("format_version_future", H("format_version", 99), ValueError, "format_version"),
    ("format_version_string", H("format_version", "1"), ValueError, "format_version"),
    ("state_arrays_wrong", H("state_arrays", ["nope"]), ValueError, "state_arrays"),
    ("state_arrays_not_list", H("state_arrays", "energy"), TypeError, "state_arrays"),
    ("history_list", H("history", [1]), TypeError, "history"),
    ("history_nested", H("history", {"loss": [{"a": 1}]}), TypeError, "history"),
    ("n_train_negative", S("n_train", -1), ValueError, "n_train"),
    ("n_train_string", S("n_train", "10"), TypeError, "n_train"),
    ("state_extra", S("evil", 1), ValueError, "evil"),
    ("state_missing_key", S("n_train", _DEL), ValueError, "n_train"),
    ("header_is_list", R(lambda h, w: _zip({HEADER: b"[1, 2]", WEIGHTS: w})), ValueError,
     "format"),
    ("header_not_utf8", R(lambda h, w: _zip({HEADER: b"\xff\xfe{}", WEIGHTS: w})),
     ValueError, "UTF-8"),
    ("header_not_json", R(lambda h, w: _zip({HEADER: b"{'a': 1", WEIGHTS: w})), ValueError,
     "JSON"),
    ("header_inflates", R(lambda h, w: _zip({HEADER: h[:-1] + b" " * 17 * 2**20 + b"}",
                                             WEIGHTS: w})), ValueError, "declares"),
    ("tensor_shape", T(_grow_first), ValueError, "shape"),
    ("tensor_dtype", T(_int_first), ValueError, "dtype"),
    ("tensor_missing", T(_drop_first), ValueError, "missing"),
    ("tensor_extra", T(lambda t: t.update(extra={"dtype": "F32", "shape": [1],
                                                 "data_offsets": [0, 4]})), ValueError,
     "unexpected ['extra']"),
    ("tensor_overlap", T(_overlap), ValueError, "expected"),
    ("tensor_offsets_text", T(lambda t: t[_first(t)].update(data_offsets="0")), ValueError,
     "data_offsets"),
    ("tensor_table_huge", R(_huge_table), ValueError, "safetensors header"),
    ("tensor_table_not_json", R(_bad_json_table), ValueError, "JSON"),
    ("weights_extra_bytes", R(lambda h, w: _zip({HEADER: h, WEIGHTS: w + b"\0" * 64})),
     ValueError, "declares"),
    ("weights_inflate_16mb", R(lambda h, w: _zip({HEADER: h, WEIGHTS: w + bytes(2**24)})),
     ValueError, "declares"),
    ("weights_cut", R(lambda h, w: _zip({HEADER: h, WEIGHTS: w[:-8]})), ValueError,
     "declares"),
    ("member_extra", R(lambda h, w: _zip({HEADER: h, WEIGHTS: w, "data.pkl": b"x"})),
     ValueError, "exactly the members"),
    ("member_missing", R(lambda h, w: _zip({HEADER: h})), ValueError, "exactly the members"),
    ("file_truncated", R(lambda h, w: _zip({HEADER: h, WEIGHTS: w})[:-40]), ValueError,
     "model file"),
    ("file_empty", R(lambda h, w: b""), ValueError, "model file"),
]

SPECIFIC = {
    "SpectralVAE": [
        ("n_energy_1e7", S("n_energy", 10**7), ValueError, "n_energy"),
        ("n_energy_off_by_one", S("n_energy", 21), ValueError, "shape"),
        ("n_energy_float", S("n_energy", 20.0), TypeError, "n_energy"),
        ("hidden_empty", P("hidden", []), ValueError, "hidden"),
        ("hidden_string", P("hidden", "abc"), TypeError, "hidden"),
        ("hidden_huge", P("hidden", [2**20]), ValueError, "hidden"),
        ("sigma_zero", P("sigma", 0), ValueError, "sigma"),
        ("normalize_unknown", P("normalize", "bogus"), ValueError, "normalize"),
        ("kl_weight_inf", P("kl_weight", float("inf")), ValueError, "kl_weight"),
        ("scale_nan", W(lambda t: t["state.scale"].fill_(NAN)), ValueError, "scale"),
        ("scale_zero", W(lambda t: t["state.scale"].zero_()), ValueError, "scale"),
        ("energy_f32", W(lambda t: t.update({"state.energy": t["state.energy"].float()})),
         ValueError, "dtype"),
        ("energy_as_json", S("energy", [1.0] * 20), ValueError, "energy"),
    ],
    "MultichannelRVAE": [
        ("window_2000", P("window", 2000), ValueError, "window"),
        ("window_2", P("window", 2), ValueError, "window"),
        ("symmetry_zero", P("symmetry", 0), ValueError, "symmetry"),
        ("symmetry_negative", P("symmetry", -4), ValueError, "symmetry"),
        ("symmetry_float", P("symmetry", 2.5), TypeError, "symmetry"),
        ("translation_string", P("translation", "yes"), TypeError, "translation"),
        ("decoder_unknown", P("decoder", "conv"), ValueError, "decoder"),
        ("ranges_reversed", P("ranges", [[1, 0], [0, 1]]), ValueError, "ranges"),
        ("sigma_negative", P("sigma", -0.1), ValueError, "sigma"),
        ("state_window_differs", S("window", 7), ValueError, "window"),
        ("n_channels_zero", S("n_channels", 0), ValueError, "n_channels"),
        ("n_channels_3", S("n_channels", 3), ValueError, "normalization"),
        ("normalization_reversed", S("normalization", {
            "method": "channel", "lo": [1, 1], "hi": [0, 0], "out_lo": [0, 0],
            "out_hi": [1, 1]}), ValueError, "normalization"),
        ("normalization_missing_key", S("normalization", {"method": "channel"}),
         ValueError, "normalization"),
        ("latent_ranges_short", S("latent_ranges", [[0, 1]]), ValueError, "latent_ranges"),
        ("latent_ranges_nan", S("latent_ranges", [[NAN, 1], [0, 1]]), ValueError,
         "latent_ranges"),
    ],
    "Im2Spec": [
        ("window_odd", P("window", 15), ValueError, "even"),
        ("window_huge", P("window", 4096), ValueError, "window"),
        ("upsample_zero", P("upsample", 0), ValueError, "upsample"),
        ("nb_filters_huge", P("nb_filters", 10**6), ValueError, "nb_filters"),
        ("spec_scale_zero", S("spec_scale", 0), ValueError, "spec_scale"),
        ("spec_scale_nan", S("spec_scale", NAN), ValueError, "spec_scale"),
        ("latent_center_short", S("latent_center", [0.0]), ValueError, "latent_center"),
        ("haadf_norm_two_channels", S("haadf_norm", {
            "method": "channel", "lo": [0, 0], "hi": [1, 1], "out_lo": [0, 0],
            "out_hi": [1, 1]}), ValueError, "haadf_norm"),
        ("n_energy_1e7", S("n_energy", 10**7), ValueError, "n_energy"),
    ],
    "Spec2Im": [
        ("window_not_multiple_of_4", P("window", 18), ValueError, "multiple of 4"),
        ("pool_zero", P("pool", 0), ValueError, "pool"),
        ("n_dilated_huge", P("n_dilated", 10**4), ValueError, "n_dilated"),
        ("latent_center_text", S("latent_center", "median"), TypeError, "latent_center"),
        ("n_energy_2", S("n_energy", 2), ValueError, "shape"),
    ],
}

CASES = [pytest.param(model, *case[1:], id=f"{model}-{case[0]}")
         for model in MODELS for case in COMMON]
CASES += [pytest.param(model, *case[1:], id=f"{model}-{case[0]}")
          for model, cases in SPECIFIC.items() for case in cases]


@pytest.mark.parametrize("model", MODELS)
def test_untampered_file_from_the_helpers_loads(model, saved, tmp_path):
    """The helpers rebuild a loadable file, so each refusal below is due to its tampering."""
    header, weights = saved[model]
    path = tmp_path / "ok.eelsmodel"
    path.write_bytes(_file(json.loads(json.dumps(header)), _join(*_split(weights))))
    back = BaseModel.load(path)
    assert type(back).__name__ == model and back.is_fitted
    data = _data(model)
    ref = _make(model).fit(data, progress=False)
    np.testing.assert_array_equal(_encode(back, data), _encode(ref, data))


@pytest.mark.parametrize(("model", "mutate", "exc", "text"), CASES)
def test_tampered_file_is_refused_naming_the_field(model, mutate, exc, text, saved, tmp_path):
    header, weights = saved[model]
    path = tmp_path / "bad.eelsmodel"
    path.write_bytes(mutate(json.loads(json.dumps(header)), weights))
    with pytest.raises((ValueError, TypeError)) as info:
        BaseModel.load(path)
    assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    assert text in str(info.value)


def test_every_parameter_has_a_rule():
    for cls in (SpectralVAE, MultichannelRVAE, Im2Spec, Spec2Im):
        assert set(cls._parameter_constraints) == set(cls._get_param_names()), cls


def test_parameter_messages_name_the_value_and_the_range():
    si = _si()
    with pytest.raises(ValueError, match=r"latent_dim must be >= 1 \(allowed: an integer in "
                                         r"\[1, 1024\]\), got 0"):
        SpectralVAE(latent_dim=0, **FAST).fit(si, progress=False)
    with pytest.raises(ValueError, match=r"window must be even; use window=14 or 16"):
        Im2Spec(window=15, **FAST).fit(si, progress=False)
    with pytest.raises(ValueError, match=r"window must be a multiple of 4; use window=16 or "
                                         r"20"):
        Spec2Im(window=18, **FAST).fit(si, progress=False)


@pytest.mark.parametrize(("value", "exc"), [(0, ValueError), (-2, ValueError),
                                            (2.0, TypeError), (True, TypeError)])
def test_rvae_symmetry_must_be_a_positive_integer(value, exc):
    with pytest.raises(exc, match="symmetry"):
        _make("MultichannelRVAE").set_params(symmetry=value).fit(_maps(), progress=False)


def test_fit_refuses_weights_too_big_to_allocate():
    with pytest.raises(ValueError, match="GiB of weights"):
        SpectralVAE(hidden=(2**16, 2**16, 2**16), **FAST).fit(_si(), progress=False)


# ----------------------------------------------------------------------------- memory
def _lie_about_size(raw: bytes, member: str, size: int) -> bytes:
    """Patch a member's uncompressed size in the local header and the central directory."""
    out = bytearray(raw)
    name = member.encode()
    for sig, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        pos = out.find(sig)
        while pos >= 0:
            if out[pos + name_at:pos + name_at + len(name)] == name:
                out[pos + size_at:pos + size_at + 4] = struct.pack("<I", size)
            pos = out.find(sig, pos + 4)
    return bytes(out)


@pytest.fixture(scope="module")
def hostile_files(saved, tmp_path_factory):
    """The three reproduced hostile files (plus a bomb that lies about its size)."""
    folder = tmp_path_factory.mktemp("hostile")
    vae_head, vae_w = saved["SpectralVAE"]
    head = json.loads(json.dumps(vae_head))
    head["state"]["n_energy"] = 10**7
    (folder / "n_energy.eelsmodel").write_bytes(_file(head, vae_w))
    rv_head, rv_w = saved["MultichannelRVAE"]
    head = json.loads(json.dumps(rv_head))
    head["params"]["window"] = head["state"]["window"] = 2000
    (folder / "window.eelsmodel").write_bytes(_file(head, rv_w))
    bomb = folder / "bomb.eelsmodel"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(HEADER, json.dumps(vae_head))
        with zf.open(WEIGHTS, "w") as fh:
            fh.write(vae_w)
            zeros = bytes(2**24)
            for _ in range(64):  # 1 GiB of zeros, a few MB on disk
                fh.write(zeros)
    liar = folder / "liar.eelsmodel"
    liar.write_bytes(_lie_about_size(bomb.read_bytes(), WEIGHTS, len(vae_w)))
    ok = folder / "ok.eelsmodel"
    ok.write_bytes(_file(vae_head, vae_w))
    return ok, [folder / "n_energy.eelsmodel", folder / "window.eelsmodel", bomb, liar]


def test_hostile_files_are_small_and_refused_without_allocating(hostile_files, monkeypatch):
    """Refused before any real network is built, with little Python memory on the way.

    Torch allocates only when a network or tensor is built; every network build outside the
    ``meta`` device (shapes only) is recorded, and tracemalloc measures the rest (bytes,
    bytearrays, NumPy arrays). The old loader took 1.6 to 2.2 GB on these files.
    """
    ok, paths = hostile_files
    assert all(p.stat().st_size < 8 * 2**20 for p in paths)
    with zipfile.ZipFile(paths[2]) as zf:
        assert zf.getinfo(WEIGHTS).file_size > 2**30  # the bomb really inflates to 1 GiB
    real_builds = []
    for cls in (SpectralVAE, MultichannelRVAE):
        def guarded(self, _build=cls._build_module):
            if torch.empty(0).device.type != "meta":
                real_builds.append(type(self).__name__)
            return _build(self)
        monkeypatch.setattr(cls, "_build_module", guarded)
    BaseModel.load(ok)
    assert real_builds == ["SpectralVAE"]       # the guard sees a real build
    messages = []
    tracemalloc.start()
    try:
        for path in paths:
            with pytest.raises(ValueError) as info:
                BaseModel.load(path)
            messages.append(str(info.value))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert real_builds == ["SpectralVAE"]
    assert "n_energy" in messages[0] and "window" in messages[1]
    assert "declares" in messages[2] and "corrupted" in messages[3]
    assert peak < 4 * 2**20, peak


# ----------------------------------------------------------------------------- failed refit
class _FailAt:
    """Raise ``error`` at the end of epoch ``epoch``."""

    def __init__(self, epoch: int, error: BaseException):
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, trainer, info):
        if info["epoch"] == self.epoch:
            raise self.error


class _PoisonAfterFirstEpoch:
    """Fill the weights with NaN after epoch 1, so that epoch 2's loss is NaN."""

    def on_epoch_end(self, trainer, info):
        if info["epoch"] == 1:
            with torch.no_grad():
                for p in trainer.module.parameters():
                    p.fill_(float("nan"))


def _snapshot(model, data, tmp_path):
    path = model.save(tmp_path / "snap.eelsmodel")
    weights = {k: v.clone() for k, v in model.module_.state_dict().items()}
    return _encode(model, data), weights, json.dumps(model.history_), path


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("failure", ["callback", "nan"])
def test_failed_refit_keeps_the_previous_model(model_name, failure, tmp_path):
    data = _data(model_name)
    model = _make(model_name).set_params(epochs=3).fit(data, progress=False)
    module, state = model.module_, model.state_
    enc, weights, history, _ = _snapshot(model, data, tmp_path)
    new = (_si(1, ne=16, n=10) if model_name != "MultichannelRVAE"
           else np.random.default_rng(1).random((3, 10, 10)).astype(np.float32))
    if failure == "callback":
        cb, exc, text = _FailAt(2, RuntimeError("callback failed")), RuntimeError, "callback"
    else:
        cb, exc, text = _PoisonAfterFirstEpoch(), TrainingDiverged, "left as it was"
    with pytest.raises(exc, match=text) as info:
        model.fit(new, callbacks=[cb], progress=False)
    if failure == "nan":
        assert "restored" not in str(info.value) and "its previous fit" in str(info.value)
        assert isinstance(info.value, FloatingPointError)
    assert model.module_ is module and model.state_ is state
    for key, value in model.module_.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert json.dumps(model.history_) == history
    np.testing.assert_array_equal(_encode(model, data), enc)
    back = type(model).load(model.save(tmp_path / "after.eelsmodel"))
    np.testing.assert_array_equal(_encode(back, data), enc)


def test_failed_first_fit_leaves_the_model_unfitted():
    model = _make("SpectralVAE")
    with pytest.raises(RuntimeError, match="callback failed"):
        model.fit(_si(), callbacks=[_FailAt(1, RuntimeError("callback failed"))],
                  progress=False)
    assert not model.is_fitted and not hasattr(model, "state_")
    assert not hasattr(model, "history_")
    with pytest.raises(NotFittedError):
        model.encode(_si())


def test_im2spec_failed_refit_keeps_its_reference_data():
    si = _si()
    model = _make("Im2Spec").fit(si, progress=False)
    ref = model.back_project(np.zeros((1, 2)), k=2)
    with pytest.raises(RuntimeError):
        model.fit(_si(1), callbacks=[_FailAt(1, RuntimeError("x"))], progress=False)
    np.testing.assert_array_equal(model.back_project(np.zeros((1, 2)), k=2)["pixels"],
                                  ref["pixels"])


# ----------------------------------------------------------------------------- early stops
class _InterruptAtBegin:
    def on_train_begin(self, trainer, info):
        raise KeyboardInterrupt


class _StopAtBegin:
    def on_train_begin(self, trainer, info):
        trainer.request_stop()


class _StopAfterFirstEpoch:
    def on_epoch_end(self, trainer, info):
        raise StopTraining


@pytest.mark.filterwarnings("ignore:training interrupted after 0 epoch")
@pytest.mark.parametrize("callback", [_InterruptAtBegin, _StopAtBegin])
def test_stop_before_the_first_epoch_leaves_an_unfitted_model_unfitted(callback):
    model = _make("SpectralVAE")
    with pytest.warns(RuntimeWarning, match="before its first epoch finished"):
        assert model.fit(_si(), callbacks=[callback()], progress=False) is model
    assert not model.is_fitted
    with pytest.raises(NotFittedError, match="stopped before its first epoch"):
        model.encode(_si())


@pytest.mark.filterwarnings("ignore:training interrupted after 0 epoch")
@pytest.mark.parametrize("callback", [_InterruptAtBegin, _StopAtBegin])
def test_stop_before_the_first_epoch_leaves_a_fitted_model_unchanged(callback, tmp_path):
    si = _si()
    model = _make("MultichannelRVAE").fit(_maps(), progress=False)
    before = dict(model.__dict__)
    enc = _encode(model, _maps())
    with pytest.warns(RuntimeWarning, match="its previous fit"):
        model.fit(_maps(1)[:1], callbacks=[callback()], progress=False)
    assert model.__dict__ == before
    np.testing.assert_array_equal(_encode(model, _maps()), enc)
    del si


def test_stop_after_an_epoch_keeps_the_trained_model():
    model = _make("SpectralVAE").set_params(epochs=5)
    model.fit(_si(), callbacks=[_StopAfterFirstEpoch()], progress=False)
    assert model.is_fitted and model.history_["epochs_run"] == 1
    assert model.history_["stop_reason"] == "stop_requested"


# ----------------------------------------------------------------------------- random numbers
def _global_rng_state():
    return np.random.get_state(), torch.get_rng_state().clone()  # noqa: NPY002


def _assert_same_rng(a, b):
    (np_a, t_a), (np_b, t_b) = a, b
    assert np_a[0] == np_b[0] and np.array_equal(np_a[1], np_b[1]) and np_a[2:] == np_b[2:]
    assert torch.equal(t_a, t_b)


@pytest.mark.parametrize("model_name", MODELS)
def test_fit_leaves_the_global_generators_alone_and_is_reproducible(model_name):
    data = _data(model_name)
    np.random.seed(1234)  # noqa: NPY002 (the caller's global state under test)
    torch.manual_seed(4321)
    before = _global_rng_state()
    first = _make(model_name).fit(data, progress=False)
    _assert_same_rng(_global_rng_state(), before)
    np.random.random(17)  # noqa: NPY002 (move the caller's generators on)
    torch.rand(5)
    second = _make(model_name).fit(data, progress=False)
    a, b = first.module_.state_dict(), second.module_.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(_encode(first, data), _encode(second, data))
    other = _make(model_name).set_params(seed=1).fit(data, progress=False)
    assert not all(torch.equal(a[k], other.module_.state_dict()[k]) for k in a)


def test_trainer_leaves_the_global_generators_alone():
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    net = torch.nn.Linear(3, 3)
    before = _global_rng_state()
    Trainer(epochs=2, seed=3, progress=False).fit(
        net, (x,), lambda m, b: ((m(b[0]) - b[0]) ** 2).mean())
    _assert_same_rng(_global_rng_state(), before)


# ----------------------------------------------------------------------------- grids
def test_latent_grid_and_manifold_have_an_upper_bound():
    im = _make("Im2Spec").fit(_si(), progress=False)
    assert im.latent_grid(grid=3)[0].shape == (3, 3, 20)
    with pytest.raises(ValueError, match=r"grid must be in \[1, \d+\].*MiB"):
        im.latent_grid(grid=10**5)
    with pytest.raises(TypeError, match="grid must be an integer"):
        im.latent_grid(grid=2.5)
    with pytest.raises(ValueError, match="grid must be >= 1"):
        im.latent_grid(grid=0)
    rv = _make("MultichannelRVAE").fit(_maps(), progress=False)
    with pytest.raises(ValueError, match="grid must be in"):
        rv.manifold(grid=10**4)
    assert rv.manifold(grid=2).shape == (2, 2, 2, 5, 5)


def test_a_subclass_fit_is_atomic_without_the_decorator():
    class Plain(BaseModel):
        def __init__(self, *, epochs=1, seed=0, device="cpu"):
            self.epochs, self.seed, self.device = epochs, seed, device

        def _build_module(self):
            return torch.nn.Linear(2, 2)

        def fit(self, x, callbacks=()):
            self.state_ = {"n": len(x)}
            return self._train((torch.as_tensor(x),), lambda m, b: m(b[0]).pow(2).mean(),
                               callbacks=callbacks, progress=False)

    model = Plain()
    with pytest.warns(RuntimeWarning, match="Plain.fit was stopped"):
        model.fit(np.ones((4, 2), np.float32), callbacks=[_StopAtBegin()])
    assert not model.is_fitted and not hasattr(model, "state_")



def test_deeply_nested_header_is_a_value_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.eelsmodel"
    path.write_bytes(_zip({HEADER: b"[" * 100_000 + b"]" * 100_000, WEIGHTS: b""}))
    with pytest.raises(ValueError, match="nest"):
        ew.SpectralVAE.load(path)
