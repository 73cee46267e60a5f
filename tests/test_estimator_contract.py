"""The estimator contract, checked the same way on all four models.

scikit-learn's ``clone``, ``get_params``/``set_params``, ``fit`` returning ``self``, the
not-fitted error from every public method, a save/load round trip with identical outputs, a
refit that replaces the previous fit, ``repr``, and parameter rules that refuse a bad value for
every parameter (the bad values are generated from the rules themselves). Tiny data, one or
two epochs.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sklearn.base

import eelswidgets as ew
from eelswidgets.models import Im2Spec, MultichannelRVAE, NotFittedError, Spec2Im, SpectralVAE
from eelswidgets.models._params import (
    Boolean,
    Choice,
    Device,
    Integer,
    IntTuple,
    Pairs,
    Real,
    Rule,
    check_params,
)

pytestmark = pytest.mark.usefixtures("one_thread")

#: public methods that need no fit (besides fit itself, static and class methods)
NO_FIT_NEEDED = {"fit", "get_params", "set_params", "request_stop"}


@functools.cache
def _wires(i: int):
    return ew.datasets.nanowires(seed=i, shape=(16, 16 + 2 * i), n_energy=32 - 8 * i)


@functools.cache
def _maps(i: int):
    side = 10 - i
    return np.random.default_rng(i).random((2 + i, side, side)).astype(np.float32)


@functools.cache
def _cubes(i: int):
    return ew.datasets.nanocube_array(seed=i, shape=(16, 16 + 2 * i), n_energy=32 - 8 * i)


def _arrays(out) -> list[np.ndarray]:
    """The arrays in a method's output (an array, a SpectrumImage or a dict of arrays)."""
    if isinstance(out, ew.SpectrumImage):
        return [out.data, out.valid]
    if isinstance(out, dict):
        return [np.asarray(out[k]) for k in sorted(out)]
    return [np.asarray(out)]


def _vae_outputs(model, si, z) -> list:
    return [model.encode(si), model.reconstruct(si), model.decode(z)]


def _rvae_outputs(model, maps, z) -> list:
    return [model.encode(maps), model.reconstruction_error(maps), model.decode(z)]


def _pair_outputs(model, si, z) -> list:
    out = [model.predict(si), model.encode(si), model.decode(z),
           model.back_project(z[:1], si=si)]
    return out + ([model.window_error_map(si)] if isinstance(model, Spec2Im) else [])


@dataclass(frozen=True)
class Case:
    """A model class and preset, small hyper-parameters, two data sets, the outputs to compare.

    The estimator is ``cls.from_preset(preset, **overrides)``; ``params`` are the
    hyper-parameters that differ from the constructor's defaults (the preset's, then the
    overrides).
    """

    cls: type
    overrides: dict[str, Any]
    data: Callable[[int], Any]        # data(0): the first fit, data(1): other data
    results: Callable[..., list]      # results(model, data, z): what a fit determines
    preset: str = "default"

    @property
    def params(self) -> dict[str, Any]:
        return {**self.cls.presets[self.preset], **self.overrides}

    @property
    def name(self) -> str:
        return self.cls.__name__ + ("" if self.preset == "default" else f"-{self.preset}")

    def outputs(self, model, data) -> list[np.ndarray]:
        """What the fitted ``model`` gives on ``data``, as a flat list of arrays."""
        d = self.params["latent_dim"]
        z = np.linspace(-1, 1, 2 * d, dtype=np.float32).reshape(2, d)
        return [a for out in self.results(model, data, z) for a in _arrays(out)]


_TRAIN = {"epochs": 2, "batch_size": 32, "seed": 0, "device": "cpu"}
_RVAE_SMALL = {"latent_dim": 2, "window": 4, "hidden": 8, "n_layers": 1, "encoder_hidden": 8,
               "encoder_layers": 1, **_TRAIN}
CASES = [
    Case(SpectralVAE, {"latent_dim": 2, "hidden": (8,), **_TRAIN}, _wires, _vae_outputs),
    Case(MultichannelRVAE, _RVAE_SMALL, _maps, _rvae_outputs),
    Case(Im2Spec, {"latent_dim": 2, "window": 4, "nb_filters": 4, "n_dilated": 1,
                   "upsample": 2, **_TRAIN}, _cubes, _pair_outputs),
    Case(Spec2Im, {"latent_dim": 2, "window": 4, "pool": 4, "nb_filters": 4, "n_dilated": 1,
                   **_TRAIN}, _cubes, _pair_outputs),
    # the paper presets, at their own decoder widths (cheap on this tiny data)
    Case(MultichannelRVAE, _RVAE_SMALL, _maps, _rvae_outputs, "paper"),
    Case(Im2Spec, {"latent_dim": 2, "window": 4, **_TRAIN}, _cubes, _pair_outputs, "paper"),
    Case(Spec2Im, {"latent_dim": 2, "window": 4, "pool": 4, **_TRAIN}, _cubes, _pair_outputs,
         "paper"),
]


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture(scope="module")
def fitted(case):
    model = case.cls.from_preset(case.preset, **case.overrides)
    assert model.fit(case.data(0), progress=False) is model      # fit returns self
    return model


def _assert_same_outputs(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)     # NaN at the same places counts as equal


# ----------------------------------------------------------------------------- parameters
def test_rules_cover_exactly_the_parameters_and_accept_the_defaults(case):
    names = set(case.cls()._get_param_names())
    assert set(case.cls._parameter_constraints) == names
    defaults = case.cls().get_params()
    assert check_params(case.cls.__name__, case.cls._parameter_constraints,
                        defaults) == defaults


def test_every_model_has_the_default_preset_and_refuses_unknown_ones(case):
    assert dict(case.cls.presets["default"]) == {}
    assert case.cls.from_preset().get_params() == case.cls().get_params()
    preset = case.cls.from_preset(case.preset, **case.overrides)
    assert type(preset) is case.cls and not preset.is_fitted
    assert preset.get_params() == {**case.cls().get_params(), **case.params}
    assert check_params(case.cls.__name__, case.cls._parameter_constraints,
                        preset.get_params()) == preset.get_params()
    with pytest.raises(ValueError, match=r"no preset 'papers'.*'default'"):
        case.cls.from_preset("papers")
    with pytest.raises(ValueError, match="no parameter 'depth'"):
        case.cls.from_preset(case.preset, depth=3)
    with pytest.raises(TypeError):
        case.cls.presets["default"]["epochs"] = 1        # presets are read-only data


def test_get_set_params_round_trip_and_clone(case, fitted):
    params = fitted.get_params()
    assert {k: params[k] for k in case.params} == case.params
    other = case.cls()
    assert other.set_params(**params) is other and other.get_params() == params
    with pytest.raises(ValueError, match="no parameter 'depth'"):
        other.set_params(depth=3)
    twin = sklearn.base.clone(fitted)              # also checks __init__ stores, unchanged
    assert type(twin) is case.cls and twin.get_params() == params
    assert fitted.is_fitted and not twin.is_fitted


def test_repr_shows_the_parameters_that_differ_from_the_defaults(case, fitted):
    assert repr(case.cls()) == f"{case.cls.__name__}()"
    text = repr(fitted)
    defaults = case.cls().get_params()
    for name, value in case.params.items():
        assert (f"{name}={value!r}" in text) == (value != defaults[name]), name
    again = eval(text, {case.cls.__name__: case.cls})
    assert again.get_params() == fitted.get_params()


def _bad_values(rule: Rule) -> list:
    """Values that ``rule`` must refuse, derived from its own bounds and choices."""
    bad: list = [] if rule.none_ok else [None]
    if isinstance(rule, Integer):
        bad += [rule.low - 1, rule.high + 1, rule.low + 0.5, True]
        if rule.multiple_of > 1:
            bad.append(rule.low + 1)
    elif isinstance(rule, Real):
        bad += [float("nan"), float("inf"), "1"]
        if rule.low is not None:
            bad.append(rule.low if rule.low_open else rule.low - 1)
        if rule.high is not None:
            bad.append(rule.high if rule.high_open else rule.high + 1)
    elif isinstance(rule, Boolean):
        bad += ["yes", 1]
    elif isinstance(rule, Choice):
        bad += ["no such choice", 3]
    elif isinstance(rule, Device):
        bad += ["tpu", "cuda:x", 3]
    elif isinstance(rule, IntTuple):
        bad += [(), "64", (rule.item.low - 1,), (rule.item.low,) * (rule.max_len + 1)]
    elif isinstance(rule, Pairs):
        bad += ["ab", [(1.0, 0.0)], [(0.0, float("nan"))], [(0.0, 1.0)] * (rule.max_len + 1)]
    else:
        pytest.fail(f"no bad values known for a {type(rule).__name__} rule; add them here")
    return bad


def test_rules_refuse_a_bad_value_for_every_parameter(case):
    data = case.data(0)
    tried = 0
    for name, rule in case.cls._parameter_constraints.items():
        for value in _bad_values(rule):
            model = case.cls(**case.params).set_params(**{name: value})
            with pytest.raises((TypeError, ValueError), match=name) as err:
                model.fit(data, progress=False)
            assert case.cls.__name__ in str(err.value), (name, value)
            assert not model.is_fitted and model.get_params()[name] is value
            tried += 1
    assert tried >= 3 * len(case.cls._parameter_constraints)


# ----------------------------------------------------------------------------- fitted state
def _call_args(method, case: Case, tmp_path) -> list:
    """Arguments for a public method's required parameters, by their names."""
    known = {"si": case.data(0), "stack": case.data(0), "path": tmp_path / "m.eelsmodel",
             "z": np.zeros((1, case.params["latent_dim"]), np.float32),
             "points": np.zeros((1, 2), np.float32),
             "tiles": np.zeros((2, 2, 3, 4, 4), np.float32)}
    args = []
    for p in inspect.signature(method).parameters.values():
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            assert p.name in known, f"add an argument for {p.name!r} to the contract test"
            args.append(known[p.name])
    return args


def test_every_public_method_needs_a_fit(case, tmp_path):
    model = case.cls(**case.params)
    checked = []
    for name in dir(case.cls):
        attr = inspect.getattr_static(case.cls, name)
        if (name.startswith("_") or name in NO_FIT_NEEDED or not inspect.isfunction(attr)):
            continue                      # private, no fit needed, property, static, class
        method = getattr(model, name)
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(*_call_args(method, case, tmp_path))
        checked.append(name)
    assert {"encode", "decode", "save"} <= set(checked)
    assert not (tmp_path / "m.eelsmodel").exists()


def test_save_load_round_trip_gives_identical_outputs(case, fitted, tmp_path):
    path = fitted.save(tmp_path / "m.eelsmodel")
    loaded = case.cls.load(path)
    assert type(loaded) is case.cls and loaded.get_params() == fitted.get_params()
    assert loaded.history_["epochs_run"] == fitted.history_["epochs_run"] == 2
    _assert_same_outputs(case.outputs(loaded, case.data(0)), case.outputs(fitted, case.data(0)))


def test_refit_on_other_data_replaces_the_fit(case, fitted):
    before = case.outputs(fitted, case.data(0))
    refit = copy.deepcopy(fitted)
    assert refit.fit(case.data(1), progress=False) is refit
    fresh = sklearn.base.clone(fitted).fit(case.data(1), progress=False)
    # nothing of the first fit is left: the same as a fit on the other data alone ...
    _assert_same_outputs(case.outputs(refit, case.data(1)), case.outputs(fresh, case.data(1)))
    assert refit.state_["n_train"] != fitted.state_["n_train"]
    # ... and the first fit itself was not touched by its copy's refit
    _assert_same_outputs(case.outputs(fitted, case.data(0)), before)
