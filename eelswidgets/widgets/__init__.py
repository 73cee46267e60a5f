"""Linked views for spectrum images: building blocks, explorers and a training monitor.

Building blocks: :class:`ImageView` (canvas), :class:`LatentScatter` (WebGL),
:class:`ManifoldView`, :class:`SpectrumView` (bqplot), :class:`TrainingMonitor`.
Explorers compose them around one :class:`Selection` (current pixel, selected pixels, energy
span): :class:`SpectrumImageExplorer`, :class:`DecompositionExplorer`, :class:`LatentExplorer`,
:class:`Im2SpecExplorer`; :func:`link` makes several explorers share one selection.

Names are imported on first use. Importing this package registers :class:`TrainingMonitor` as
the live progress display of ``fit(progress="auto")`` inside a notebook.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ImageView": "image_view",
    "LatentScatter": "latent_scatter",
    "ManifoldView": "manifold_view",
    "Selection": "selection",
    "SpectrumView": "spectrum_view",
    "TrainingMonitor": "training_monitor",
    "SpectrumImageExplorer": "si_explorer",
    "DecompositionExplorer": "decomposition_explorer",
    "LatentExplorer": "latent_explorer",
    "Im2SpecExplorer": "im2spec_explorer",
    "link": "link",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'eelswidgets.widgets' has no attribute {name!r}"
                             ) from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


def _register_training_monitor() -> None:
    from .._progress import register_progress_factory
    from .training_monitor import progress_factory

    register_progress_factory(progress_factory)


_register_training_monitor()
