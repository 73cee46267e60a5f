"""eelswidgets: interactive machine learning for STEM-EELS spectrum images in JupyterLab.

The package is layered (see ``docs/design.md``): the :class:`SpectrumImage` container and its
pre-processing, file I/O and synthetic datasets at the bottom; decomposition and lazy windows;
models; analysis; widgets on top. Submodules are imported on first use so that
``import eelswidgets`` stays fast and does not pull in torch or the widget stack.
"""

from __future__ import annotations

import importlib

from ._progress import register_progress_factory as _register_progress_factory
from ._version import __version__
from .spectrum_image import SpectrumImage

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "datasets": ("eelswidgets.datasets", None),
    "io": ("eelswidgets.io", None),
    "preprocess": ("eelswidgets.preprocess", None),
    "patches": ("eelswidgets.patches", None),
    "models": ("eelswidgets.models", None),
    "analysis": ("eelswidgets.analysis", None),
    "latent_structure": ("eelswidgets.latent_structure", None),
    "plotting": ("eelswidgets.plotting", None),
    "widgets": ("eelswidgets.widgets", None),
    "load": ("eelswidgets.io", "load"),
    "save": ("eelswidgets.io", "save"),
    "from_hyperspy": ("eelswidgets.io", "from_hyperspy"),
    "decompose": ("eelswidgets.decomposition", "decompose"),
    "Decomposition": ("eelswidgets.decomposition", "Decomposition"),
    "SpectralVAE": ("eelswidgets.models", "SpectralVAE"),
    "MultichannelRVAE": ("eelswidgets.models", "MultichannelRVAE"),
    "Im2Spec": ("eelswidgets.models", "Im2Spec"),
    "Spec2Im": ("eelswidgets.models", "Spec2Im"),
    "error_map": ("eelswidgets.analysis", "error_map"),
    "pipeline": ("eelswidgets.pipeline", None),
    "client": ("eelswidgets.pipeline", "client"),
    "run_pipeline": ("eelswidgets.pipeline", "run_pipeline"),
    "load_maps": ("eelswidgets.io", "load_maps"),
}

__all__ = ["SpectrumImage", "__version__", *_LAZY]


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'eelswidgets' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


def _notebook_training_monitor(trainer):
    """Show the live TrainingMonitor for ``fit(progress="auto")`` in a notebook.

    The package root wires the layers together: the trainer only knows the registry in
    ``_progress``; the widgets are imported the first time a model trains in a notebook.
    """
    from .widgets.training_monitor import progress_factory

    return progress_factory(trainer)


_register_progress_factory(_notebook_training_monitor)
