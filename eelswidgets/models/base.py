"""The estimator base class shared by every model: parameters, training, save and load.

Conventions (scikit-learn style)
--------------------------------
- ``__init__`` stores keyword hyper-parameters only, under attributes of the same name;
  nothing is validated or computed there (validation happens in ``fit``).
- Learned attributes end in ``_``: ``module_`` (the ``torch.nn.Module``), ``history_``
  (the trainer's history dict) and ``state_`` (a dict of normalisation constants, shapes,
  energy axis...: JSON-able values or NumPy arrays).
- Subclasses implement ``_build_module(self) -> torch.nn.Module`` from their
  hyper-parameters and ``state_``; this is how :meth:`BaseModel.load` rebuilds a network.
- Subclasses declare their hyper-parameter rules in ``_parameter_constraints`` and the rules
  of their fitted constants in ``_state_constraints`` (see :mod:`eelswidgets.models._params`);
  ``fit`` checks the parameters with them, ``load`` checks a file's parameters and constants
  with them before building anything.
- ``fit`` is wrapped by :func:`fit_atomically` (subclasses' ``fit`` is wrapped
  automatically when not decorated): the learned attributes are replaced only
  when training ends well; on an error the previous fit (or the unfitted state) is restored
  completely, and a fit stopped before its first epoch finished leaves the model as it was.
- Training never reseeds or advances the caller's global NumPy and torch generators.
- ``save(path)`` / ``Model.load(path)`` use the safe ``.eelsmodel`` format described in
  :mod:`eelswidgets.models._serialization` (JSON + safetensors, never pickle).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import sklearn.exceptions
import torch

from .._version import __version__
from . import _serialization as _ser
from ._params import TRAINING_RULES, Array, Rule, check_params
from .trainer import Trainer, TrainingDiverged, resolve_device, seeded_rng

__all__ = ["BaseModel", "NotFittedError", "check_grid", "fit_atomically", "load_model",
           "preset_table"]

#: most decoded values that ``latent_grid`` / ``manifold`` may return (float32: 256 MiB)
MAX_GRID_VALUES = 2**26
#: most points per axis of a latent grid
MAX_GRID = 1024

#: class name -> class, filled by ``BaseModel.__init_subclass__``
_REGISTRY: dict[str, type[BaseModel]] = {}

#: where the built-in models live (imported on demand when a file names them)
_KNOWN_MODULES = {
    "SpectralVAE": "eelswidgets.models.spectral_vae",
    "MultichannelRVAE": "eelswidgets.models.rvae",
    "Im2Spec": "eelswidgets.models.im2spec",
    "Spec2Im": "eelswidgets.models.im2spec",
}


class NotFittedError(sklearn.exceptions.NotFittedError):
    """Raised when a model is used before ``fit`` (or ``load``)."""


class _StoppedBeforeFirstEpoch(Exception):
    """Training ended (interrupt, stop request) before its first epoch finished."""


def fit_atomically(fit):
    """Decorate a model's ``fit``: swap in the new fit only when training ends well.

    While ``fit`` runs the model holds no fitted state (so nothing can use a half-new
    model). If it raises (bad input, a callback error, a diverging loss, an interrupt outside
    the trainer's loop), every attribute is restored to what it was before the call - the
    previous fit, or the unfitted state - and the exception propagates; a diverging loss is
    reported as a :class:`~eelswidgets.models.trainer.TrainingDiverged` that says so. If
    training was stopped or interrupted before its first epoch finished, the model is
    likewise left as it was, with a ``RuntimeWarning``, and ``fit`` returns ``self``.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        for key in list(self.__dict__):
            if self._is_learned(key):
                del self.__dict__[key]

        def restore():
            self.__dict__.clear()
            self.__dict__.update(saved)

        name = type(self).__name__
        before = "its previous fit" if saved.get("module_") is not None else "not fitted"
        try:
            return fit(self, *args, **kwargs)
        except _StoppedBeforeFirstEpoch as stop:
            restore()
            if not self.is_fitted:
                self._stopped_before_fit = True
            warnings.warn(f"{name}.fit was {stop.args[0]} before its first epoch finished; "
                          f"the model was left as it was ({before})", RuntimeWarning,
                          stacklevel=2)
            return self
        except TrainingDiverged as err:
            restore()
            raise TrainingDiverged(f"{name}.fit failed: {err.cause}. The model was left as "
                                   f"it was before this fit ({before}).", epoch=err.epoch,
                                   best_epoch=err.best_epoch, lr=err.lr) from None
        except BaseException:
            restore()
            raise

    wrapper._atomic = True
    return wrapper


def preset_table(**named: dict[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """Read-only ``presets`` of a model: ``"default"`` (no change) plus the ``named`` ones."""
    return MappingProxyType({"default": MappingProxyType({}),
                             **{k: MappingProxyType(dict(v)) for k, v in named.items()}})


def check_grid(grid, per_point: int, name: str = "grid") -> int:
    """Check a ``grid x grid`` lattice size against the memory its decoding takes.

    Parameters
    ----------
    grid : int
        Points per axis (>= 1).
    per_point : int
        Values decoded per lattice point (e.g. ``n_energy`` or ``C * w * w``).
    name : str
        Name used in messages.

    Returns
    -------
    int
    """
    most = max(1, min(MAX_GRID, math.isqrt(MAX_GRID_VALUES // max(1, per_point))))
    if isinstance(grid, bool) or not isinstance(grid, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {grid!r}")
    g = int(grid)
    if g < 1:
        raise ValueError(f"{name} must be >= 1 (points per axis), got {g}")
    if g > most:
        raise ValueError(f"{name} must be in [1, {most}], got {g}: a {g}x{g} lattice of "
                         f"{per_point} values per point would take "
                         f"{4 * g * g * per_point / 2**20:.0f} MiB; decode fewer points")
    return g


class BaseModel:
    """Base class of the eelswidgets models (scikit-learn style estimator).

    Subclasses define ``__init__`` with keyword-only hyper-parameters, each stored under its
    own name, including the training knobs ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``device``, ``val_fraction`` and ``patience`` (the rules ``TRAINING_RULES``) that
    :meth:`_make_trainer` passes to the :class:`Trainer`.
    """

    _estimator_type: ClassVar[str] = "model"
    #: hyper-parameter name -> rule (see :mod:`eelswidgets.models._params`)
    _parameter_constraints: ClassVar[dict[str, Rule]] = {}
    #: fitted-constant name -> rule; ``Array`` rules are stored as tensors in model files
    _state_constraints: ClassVar[dict[str, Rule]] = {}
    #: private attributes that belong to a fit (cleared and restored with it)
    _learned_private: ClassVar[tuple[str, ...]] = ("_stopped_before_fit",)
    #: named sets of hyper-parameters (see :meth:`from_preset`); ``"default"`` is the
    #: constructor's defaults
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = preset_table()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls
        fit = cls.__dict__.get("fit")
        if callable(fit) and not getattr(fit, "_atomic", False):
            cls.fit = fit_atomically(fit)  # every model's fit, even one not decorated

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the hyper-parameters as a dict (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> BaseModel:
        """Set hyper-parameters; returns ``self``. Unknown names raise ``ValueError``."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; valid "
                                 f"parameters: {sorted(valid)}")
            setattr(self, key, value)
        return self

    @classmethod
    def from_preset(cls, name: str = "default", **overrides) -> BaseModel:
        """A new, unfitted estimator with the hyper-parameters of a named preset.

        A preset is data (``cls.presets[name]``, a dict of hyper-parameters), resolved here,
        once: the estimator returned is an ordinary one whose ``get_params`` shows every
        setting the preset chose, so ``clone``, ``repr``, ``save``/``load`` and the
        parameter rules treat it like any other (a ``preset`` parameter resolved in ``fit``
        would hide the settings from ``get_params`` and make two spellings of one model).

        Parameters
        ----------
        name : str
            A key of ``cls.presets`` (every model has ``"default"``).
        **overrides
            Hyper-parameters that replace the preset's or the defaults (e.g. ``epochs``).

        Returns
        -------
        BaseModel
            ``cls(**{**cls.presets[name], **overrides})``; values are checked by ``fit``.
        """
        if not isinstance(name, str) or name not in cls.presets:
            raise ValueError(f"{cls.__name__} has no preset {name!r}; choose one of "
                             f"{sorted(cls.presets)}")
        return cls().set_params(**{**cls.presets[name], **overrides})

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = sig.parameters[name].default
            try:
                same = bool(value == default) if not isinstance(value, np.ndarray) else False
            except Exception:
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _validate_params(self) -> dict[str, Any]:
        """Check the hyper-parameters with ``_parameter_constraints``; return them checked."""
        return check_params(type(self).__name__, self._parameter_constraints,
                            self.get_params())

    # ------------------------------------------------------------------ fitted state
    @classmethod
    def _is_learned(cls, key: str) -> bool:
        """True for attributes that a fit sets (``module_``, ``state_``, ...)."""
        return (key.endswith("_") and not key.startswith("_")) or key in cls._learned_private

    @property
    def is_fitted(self) -> bool:
        """True once the model has been fitted or loaded."""
        return getattr(self, "module_", None) is not None

    def _check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the model has been fitted or loaded."""
        if not self.is_fitted:
            name = type(self).__name__
            note = (" (the last fit was stopped before its first epoch finished)"
                    if getattr(self, "_stopped_before_fit", False) else "")
            raise NotFittedError(f"this {name} is not fitted yet{note}; call .fit(...) first "
                                 f"or load a saved model with {name}.load(path)")

    def _build_module(self) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "auto"))

    # ------------------------------------------------------------------ training
    def _make_trainer(self, callbacks=(), progress=None) -> Trainer:
        """Build the :class:`Trainer` from this model's checked training hyper-parameters.

        The model's parameters named in ``TRAINING_RULES`` are passed on; any it lacks
        take the trainer's defaults (the one place where they are written).
        """
        params = self._validate_params()
        options = {k: params[k] for k in TRAINING_RULES if k in params}
        return Trainer(**options, progress=progress, callbacks=callbacks)

    def _expected_weights(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Name -> (dtype code, shape) of the module's state dict, built without memory.

        The module is built on the ``meta`` device (shapes only). Raises ``ValueError`` when
        the weights would exceed what a model may hold.
        """
        with torch.device("meta"):
            module = self._build_module()
        out = {k: (_ser.dtype_code(v.dtype), tuple(v.shape))
               for k, v in module.state_dict().items()}
        total = sum(_ser.nbytes(spec) for spec in out.values())
        if total > _ser.MAX_WEIGHT_BYTES:
            raise ValueError(f"these hyper-parameters and data give {type(self).__name__} "
                             f"{total / 2**30:.1f} GiB of weights, more than the "
                             f"{_ser.MAX_WEIGHT_BYTES / 2**30:.0f} GiB a model may have; "
                             f"use smaller layers or windows")
        return out

    def _train(self, data, loss_fn, *, callbacks=(), progress="auto") -> BaseModel:
        """Seed, build ``module_`` from ``state_``, train it with the shared trainer.

        Subclasses set ``self.state_`` first, then call this (inside a ``fit`` decorated with
        :func:`fit_atomically`). Sets ``module_`` and ``history_`` and returns ``self``.
        While training, :meth:`request_stop` stops it. The random numbers come from
        generators seeded with ``seed``; the caller's global generators are left alone.
        """
        trainer = self._make_trainer(callbacks=callbacks, progress=progress)
        self._expected_weights()
        self._trainer = trainer
        try:
            with seeded_rng(trainer.seed, trainer.device):
                module = self._build_module().to(trainer.device)
                history = trainer.fit(module, data, loss_fn)
        finally:
            self._trainer = None
        if history["epochs_run"] == 0:
            how = "interrupted" if history["interrupted"] else "stopped"
            raise _StoppedBeforeFirstEpoch(how)
        module.eval()
        self.module_ = module
        self.history_ = history
        return self

    def request_stop(self) -> None:
        """Stop a running ``fit`` after the current mini-batch (keeps the best weights)."""
        trainer = getattr(self, "_trainer", None)
        if trainer is not None:
            trainer.request_stop()

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted model to one file (written atomically).

        The file holds the class name, the eelswidgets version, the hyper-parameters (JSON),
        the fitted state (normalisation constants...) and the weights (safetensors). Load it
        with ``type(model).load(path)`` or :func:`eelswidgets.models.load`. The suffix
        ``.eelsmodel`` is customary but not required.

        Parameters
        ----------
        path : str or path-like
            Destination; an existing file is replaced.

        Returns
        -------
        pathlib.Path
        """
        self._check_fitted()
        header = {
            "class": type(self).__name__,
            "module": type(self).__module__,
            "eelswidgets_version": __version__,
            "torch_version": torch.__version__,
            "params": self.get_params(),
            "history": getattr(self, "history_", None) or {},
        }
        payload = _ser.pack(header, self.module_.state_dict(), dict(self.state_))
        return _ser.atomic_write_bytes(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseModel:
        """Load a model saved with :meth:`save` (safe: never unpickles).

        ``BaseModel.load`` returns whichever model the file holds; ``SpectralVAE.load``
        (say) insists on that class. Everything in the file is checked before anything is
        built: the header (its size, keys and types), the hyper-parameters and fitted
        constants (with the estimator's own rules, as ``fit`` does), then every tensor's
        name, dtype and shape against the architecture they imply, and the weights member's
        size against the size they imply - so a small hostile file cannot make ``load``
        allocate much.

        Raises
        ------
        TypeError
            The file holds another model class than ``cls``, or a field has a wrong type.
        ValueError
            The file is not a model file, it is truncated or corrupted, or a field is out of
            range (the message names the field).
        """
        name = str(path)
        with _ser.open_archive(path) as zf:
            header = _ser.read_header(zf, name)
            klass = _checked_class(header, cls, name)
            params, state, arrays = klass._check_header(header, name)
            obj = klass(**params)
            obj.state_ = state
            expected = obj._expected_weights()
            expected.update({_ser.STATE_PREFIX + k: (_ser.dtype_code(d), shape)
                             for k, (d, shape) in arrays.items()})
            tensors = _ser.read_weights(zf, name, expected)
        for key in arrays:
            state[key] = tensors.pop(_ser.STATE_PREFIX + key).numpy().copy()
        state = check_params(f"{name!r} state", klass._state_constraints, state,
                             context=params)
        obj.state_ = obj._state_from_file(state)
        obj.history_ = header["history"]
        module = obj._build_module()
        module.load_state_dict(tensors, strict=True)  # names and shapes checked above
        try:
            device = obj._device()
        except ValueError:
            device = torch.device("cpu")  # saved on a GPU machine, loaded without one
        obj.module_ = module.to(device).eval()
        obj._after_load()
        return obj

    @classmethod
    def _check_header(cls, header: dict, name: str
                      ) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple]]:
        """Check a file's params and fitted constants; return them and the arrays' specs.

        Returns ``(params, json_state, arrays)`` with ``arrays`` mapping each fitted-state
        array to the ``(numpy dtype, shape)`` its tensor must have.
        """
        header = dict(header, state=cls._upgrade_state(header["state"]))
        rules = cls._parameter_constraints
        names = set(cls._get_param_names())
        if set(rules) != names:
            raise TypeError(f"{cls.__name__} cannot be loaded safely: it has no rule for the "
                            f"parameter(s) {sorted(names - set(rules))}")
        params = check_params(f"{name!r} params", rules, header["params"], exact=True)
        state_rules = cls._state_constraints
        array_keys = [k for k, r in state_rules.items() if isinstance(r, Array)]
        if sorted(header["state_arrays"]) != sorted(array_keys):
            raise ValueError(f"{name!r}: header field 'state_arrays' must list "
                             f"{sorted(array_keys)}, got {header['state_arrays'][:10]}")
        clash = sorted(set(header["state"]) & set(array_keys))
        if clash:
            raise ValueError(f"{name!r} state: {clash} must be stored as tensors, not JSON")
        state = check_params(f"{name!r} state", state_rules, header["state"],
                             context=params, exact=True, skip=array_keys)
        ctx = {**params, **state}
        arrays = {k: state_rules[k].spec(ctx) for k in array_keys}
        return params, state, arrays

    @classmethod
    def _upgrade_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """Hook: bring the fitted constants of a file from an older version up to date."""
        return state

    def _state_from_file(self, state: dict[str, Any]) -> dict[str, Any]:
        """Hook: convert the stored state (e.g. lists back to arrays). Default: as is."""
        return state

    def _after_load(self) -> None:
        """Hook run at the end of :meth:`load`."""


def _checked_class(header: dict, cls: type[BaseModel], name: str) -> type[BaseModel]:
    """The model class a file's header names; it must be ``cls`` or a subclass."""
    klass = _lookup_class(header["class"], header["module"])
    if klass is None:
        raise ValueError(f"{name!r} holds an unknown model class {header['class'][:60]!r}; it "
                         f"may have been written by a newer eelswidgets")
    if not issubclass(klass, cls):
        raise TypeError(f"{name!r} holds a {klass.__name__}, not a {cls.__name__}; load it "
                        f"with {klass.__name__}.load(path) or eelswidgets.models.load(path)")
    return klass


def _lookup_class(name: str, module: str | None) -> type[BaseModel] | None:
    if name in _REGISTRY:
        return _REGISTRY[name]
    candidates = [_KNOWN_MODULES.get(name)]
    if isinstance(module, str) and module.startswith("eelswidgets."):
        candidates.append(module)  # only our own modules are ever imported
    for mod in candidates:
        if not mod:
            continue
        try:
            importlib.import_module(mod)
        except ImportError:
            continue
        if name in _REGISTRY:
            return _REGISTRY[name]
    return None


def load_model(path: str | os.PathLike) -> BaseModel:
    """Load any eelswidgets model file (same as ``BaseModel.load(path)``)."""
    return BaseModel.load(path)
