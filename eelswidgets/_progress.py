"""Registry of live progress displays for training (torch-free, bottom layer).

The trainer (``models``) asks this registry for a progress display when it runs inside a
notebook; the widgets layer registers its ``TrainingMonitor`` here. Neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["progress_factories", "register_progress_factory"]

_FACTORIES: list[Callable[[Any], Any]] = []


def register_progress_factory(factory: Callable[[Any], Any] | None) -> None:
    """Register how ``progress="auto"`` shows training progress inside a notebook.

    ``factory(trainer)`` is called at the start of every ``Trainer.fit`` with
    ``progress="auto"`` when running in a Jupyter kernel and must return a callback object
    (``on_train_begin``, ``on_epoch_end``, ``on_train_end``) or None to fall back to the
    ``tqdm.auto`` bar. The last registered factory wins; registering a factory again moves it
    to the end. ``register_progress_factory(None)`` removes every registered factory.

    Parameters
    ----------
    factory : callable or None
        ``factory(trainer) -> callback | None``.
    """
    if factory is None:
        _FACTORIES.clear()
        return
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")
    if factory in _FACTORIES:
        _FACTORIES.remove(factory)
    _FACTORIES.append(factory)


def progress_factories() -> list[Callable[[Any], Any]]:
    """The registered factories, the one to try first first."""
    return list(reversed(_FACTORIES))
