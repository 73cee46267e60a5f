"""Models: SpectralVAE, MultichannelRVAE, Im2Spec, Spec2Im on one shared trainer.

Every model is a scikit-learn style estimator (:class:`~eelswidgets.models.base.BaseModel`):
hyper-parameters in the constructor, ``fit(...)`` returns ``self``, learned attributes end in
``_``, ``save(path)`` / ``Model.load(path)`` use a safe file format (JSON + safetensors).
:func:`load` reads any model file. Classes are imported on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "BaseModel": ("eelswidgets.models.base", "BaseModel"),
    "NotFittedError": ("eelswidgets.models.base", "NotFittedError"),
    "load": ("eelswidgets.models.base", "load_model"),
    "Trainer": ("eelswidgets.models.trainer", "Trainer"),
    "StopTraining": ("eelswidgets.models.trainer", "StopTraining"),
    "TrainingDiverged": ("eelswidgets.models.trainer", "TrainingDiverged"),
    "register_progress_factory": ("eelswidgets.models.trainer", "register_progress_factory"),
    "resolve_device": ("eelswidgets.models.trainer", "resolve_device"),
    "seed_everything": ("eelswidgets.models.trainer", "seed_everything"),
    "SpectralVAE": ("eelswidgets.models.spectral_vae", "SpectralVAE"),
    "MultichannelRVAE": ("eelswidgets.models.rvae", "MultichannelRVAE"),
    "rgb_tiles": ("eelswidgets.analysis", "rgb_tiles"),
    "Im2Spec": ("eelswidgets.models.im2spec", "Im2Spec"),
    "Spec2Im": ("eelswidgets.models.im2spec", "Spec2Im"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'eelswidgets.models' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
