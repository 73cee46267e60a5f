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
- ``save(path)`` / ``Model.load(path)`` use the safe ``.eelsmodel`` format described in
  :mod:`eelswidgets.models._serialization` (JSON + safetensors, never pickle).
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sklearn.exceptions
import torch

from .._version import __version__
from . import _serialization as _ser
from .trainer import Trainer, resolve_device, seed_everything

__all__ = ["BaseModel", "NotFittedError", "load_model"]

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


class BaseModel:
    """Base class of the eelswidgets models (scikit-learn style estimator).

    Subclasses define ``__init__`` with keyword-only hyper-parameters, each stored under its
    own name, including the training knobs ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``device``, ``val_fraction`` and ``patience`` used by :meth:`_make_trainer`.
    """

    _estimator_type: ClassVar[str] = "model"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

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

    # ------------------------------------------------------------------ fitted state
    @property
    def is_fitted(self) -> bool:
        """True once the model has been fitted or loaded."""
        return getattr(self, "module_", None) is not None

    def _check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the model has been fitted or loaded."""
        if not self.is_fitted:
            name = type(self).__name__
            raise NotFittedError(f"this {name} is not fitted yet; call .fit(...) first or "
                                 f"load a saved model with {name}.load(path)")

    def _build_module(self) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "auto"))

    # ------------------------------------------------------------------ training
    def _make_trainer(self, callbacks=(), progress=None) -> Trainer:
        """Build the :class:`Trainer` from this model's training hyper-parameters."""
        return Trainer(epochs=getattr(self, "epochs", 30),
                       batch_size=getattr(self, "batch_size", 128),
                       lr=getattr(self, "lr", 1e-3),
                       seed=getattr(self, "seed", 0),
                       device=getattr(self, "device", "auto"),
                       val_fraction=getattr(self, "val_fraction", 0.0),
                       patience=getattr(self, "patience", None),
                       weight_decay=getattr(self, "weight_decay", 0.0),
                       progress=progress, callbacks=callbacks)

    def _train(self, data, loss_fn, *, callbacks=(), progress="auto") -> BaseModel:
        """Seed, build ``module_`` from ``state_``, train it with the shared trainer.

        Subclasses set ``self.state_`` first, then call this. Sets ``module_`` and
        ``history_`` and returns ``self``. While training, :meth:`request_stop` stops it.
        """
        trainer = self._make_trainer(callbacks=callbacks, progress=progress)
        seed_everything(getattr(self, "seed", 0))
        module = self._build_module().to(trainer.device)
        self._trainer = trainer
        try:
            history = trainer.fit(module, data, loss_fn)
        finally:
            self._trainer = None
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
        (say) insists on that class.

        Raises
        ------
        TypeError
            The file holds another model class than ``cls``.
        ValueError
            The file is not a model file, or it is truncated or corrupted.
        """
        header, weights, state = _ser.unpack(path)
        name = header["class"]
        klass = _lookup_class(name, header.get("module"))
        if klass is None:
            raise ValueError(f"{str(path)!r} holds an unknown model class {name!r}; it may "
                             f"have been written by a newer eelswidgets")
        if not issubclass(klass, cls):
            raise TypeError(f"{str(path)!r} holds a {name}, not a {cls.__name__}; load it "
                            f"with {name}.load(path) or eelswidgets.models.load(path)")
        params = header["params"]
        if not isinstance(params, dict):
            raise ValueError(f"{str(path)!r} has a corrupted header (params)")
        valid = set(klass._get_param_names())
        unknown = set(params) - valid
        if unknown:
            raise ValueError(f"{str(path)!r} has parameters {sorted(unknown)} that "
                             f"{name} does not know; it was written by another version")
        sig = inspect.signature(klass.__init__)
        for key, value in params.items():  # JSON turned tuples into lists
            if isinstance(sig.parameters[key].default, tuple) and isinstance(value, list):
                params[key] = tuple(value)
        obj = klass(**params)
        obj.state_ = obj._state_from_file(state)
        obj.history_ = header.get("history") or {}
        module = obj._build_module()
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{str(path)!r}: the stored weights do not match the "
                             f"{name} architecture ({err})") from None
        try:
            device = obj._device()
        except ValueError:
            device = torch.device("cpu")  # saved on a GPU machine, loaded without one
        obj.module_ = module.to(device).eval()
        obj._after_load()
        return obj

    def _state_from_file(self, state: dict[str, Any]) -> dict[str, Any]:
        """Hook: convert the stored state (e.g. lists back to arrays). Default: as is."""
        return state

    def _after_load(self) -> None:
        """Hook run at the end of :meth:`load`."""


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
