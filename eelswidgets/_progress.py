"""Progress displays (torch-free, bottom layer): the training registry and step counters.

The trainer (``models``) asks this registry for a progress display when it runs inside a
notebook; the widgets layer registers its ``TrainingMonitor`` here. Neither imports the other.
Chunk-wise computations count their steps with :func:`steps` (a ``tqdm.auto`` bar: text in a
terminal, a widget in a notebook; or a function the caller gives, such as a widget's setter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Steps", "progress_factories", "register_progress_factory", "steps"]

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


class Steps:
    """A counter of finished steps shown by a ``tqdm.auto`` bar and/or a function.

    Made by :func:`steps`; use as a context manager, call :meth:`advance` after each step.

    Attributes
    ----------
    done, total : int
        Steps finished so far, and in all.
    """

    def __init__(self, total: int, desc: str, report: Callable[[int, int, str], Any] | None,
                 bar: bool):
        self.done, self.total, self.desc = 0, int(total), str(desc)
        self._report = report
        self._bar = None
        if bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit="chunk", leave=False)
        self._emit()

    def _emit(self) -> None:
        if self._report is not None:
            self._report(self.done, self.total, self.desc)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more finished steps."""
        self.done = min(self.total, self.done + int(n))
        if self._bar is not None:
            self._bar.update(int(n))
        self._emit()

    def close(self) -> None:
        """Close the bar (the function is told nothing more)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def steps(total: int, desc: str, progress: Any = "auto") -> Steps:
    """A :class:`Steps` counter for ``total`` steps, shown as ``progress`` says.

    Parameters
    ----------
    total : int
        Number of steps (e.g. chunks to read).
    desc : str
        What is being computed (the bar's label).
    progress : {"auto", True, False, None} or callable
        ``"auto"``/True: a ``tqdm.auto`` bar (a widget in a notebook, text in a terminal);
        False/None: nothing; a callable: ``progress(done, total, desc)`` is called at the start
        and after every step.

    Raises
    ------
    TypeError
        ``progress`` is none of these.
    """
    if progress is None or progress is False:
        return Steps(total, desc, None, bar=False)
    if progress is True or (isinstance(progress, str) and progress == "auto"):
        return Steps(total, desc, None, bar=True)
    if callable(progress):
        return Steps(total, desc, progress, bar=False)
    raise TypeError(f"progress must be 'auto', True, False, None or a function "
                    f"progress(done, total, desc), got {progress!r}")
