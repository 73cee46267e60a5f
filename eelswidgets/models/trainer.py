"""The one training loop shared by every model.

:class:`Trainer` fits a ``torch.nn.Module`` to tensors held in memory (moved to the device
once), to a lazy dataset that gathers each mini-batch on demand (see
:mod:`eelswidgets.patches` and :class:`eelswidgets.models._samples.ArraySamples`), or to a
streamed dataset that chooses its own reading order (:class:`StreamingBatches`: the chunks of a
lazy cube through a shuffle buffer, :class:`eelswidgets.models._samples.ChunkedSamples`). It
provides

- seeding (:func:`seeded_rng`): the same seed gives identical weights on CPU, and the
  caller's global NumPy and torch generators are left as they were;
- the device (:func:`resolve_device`): ``"auto"`` is CUDA when present, else the CPU;
- mini-batches by a seeded index permutation (or the streamed dataset's seeded order), Adam,
  an optional validation split and early stopping;
- a history (per-epoch losses and seconds);
- progress: a ``tqdm.auto`` bar, or a live widget in a notebook through the progress hook
  (:func:`register_progress_factory`), plus callbacks with ``on_train_begin``,
  ``on_epoch_end`` and ``on_train_end`` methods;
- a clean stop: ``KeyboardInterrupt``, :meth:`Trainer.request_stop` (thread-safe, e.g. a
  widget's Stop button) or :class:`StopTraining` raised by a callback end training after the
  current batch/epoch and restore the best weights, so that the model stays usable.

Callback protocol
-----------------
A callback is any object with some of these methods (all optional)::

    on_train_begin(trainer, info)  # info: epochs, n_train, n_val, batch_size, device
    on_epoch_end(trainer, info)    # info: epoch (1-based), epochs, loss, val_loss (or None),
                                   #       seconds, eta (seconds left, estimated), history
    on_train_end(trainer, info)    # info: the history dict returned by Trainer.fit

Raising :class:`StopTraining` from any of them stops training cleanly.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from .._checks import check_int
from .._progress import progress_factories, register_progress_factory
from ._params import TRAINING_RULES, Boolean, Real, check_params

__all__ = [
    "LazyBatches",
    "StopTraining",
    "StreamingBatches",
    "Trainer",
    "TrainingDiverged",
    "register_progress_factory",
    "resolve_device",
    "seed_everything",
    "seeded_rng",
    "split_samples",
]


class StopTraining(Exception):
    """Raise from a callback to end training cleanly (the best weights are kept)."""


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN/Inf.

    Attributes
    ----------
    epoch : int
        The (1-based) epoch whose loss was not finite.
    best_epoch : int or None
        The best finished epoch before it (None if none finished).
    lr : float
        The learning rate used.
    """

    def __init__(self, message: str, *, epoch: int, best_epoch: int | None, lr: float):
        super().__init__(message)
        self.epoch, self.best_epoch, self.lr = epoch, best_epoch, lr

    @property
    def cause(self) -> str:
        """What happened and how to avoid it, without saying what became of the weights."""
        return (f"the training loss became NaN/Inf in epoch {self.epoch}; lower lr (now "
                f"{self.lr}) or check the input for extreme values")


class LazyBatches(Protocol):
    """A dataset that gathers mini-batches on demand instead of holding every sample.

    ``len(ds)`` is the number of samples and ``ds.get_batch(idx)`` returns a tuple of tensors
    for the samples at the (CPU, int64) indices ``idx``; the trainer moves them to the device.
    """

    def __len__(self) -> int: ...

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the tensors of the samples ``idx``."""


class StreamingBatches(Protocol):
    """A dataset read in order of its own choosing (e.g. chunks of a lazy cube).

    The trainer does not index it: ``split(val_fraction, gen)`` returns the training and
    validation parts (any objects whose ``len`` is their number of samples),
    ``train_batches(part, batch_size, gen)`` yields the mini-batches of one epoch (every
    sample once, in an order drawn from the seeded ``gen``) and ``val_batches(part,
    batch_size)`` those of the validation pass. See
    :class:`eelswidgets.models._samples.ChunkedSamples`.
    """

    def split(self, val_fraction: float, gen: torch.Generator) -> tuple[Any, Any]:
        """Return the training and validation parts."""

    def train_batches(self, part, batch_size: int, gen: torch.Generator
                      ) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield one epoch of mini-batches of ``part``."""

    def val_batches(self, part, batch_size: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield the mini-batches of ``part`` for the validation loss."""


# ----------------------------------------------------------------------------- helpers
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device request into a ``torch.device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device
        ``"auto"`` picks CUDA when it is available and the CPU otherwise.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For an unknown device string, or CUDA requested on a machine without it.
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        name = device.strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if name.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or "
                             f"'cuda:N'")
        try:
            dev = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or "
                             f"'cuda:N' ({err})") from None
    else:
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', "
                        f"got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available "
                             f"here; use device='cpu' or device='auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps")
                                  and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} was requested but MPS is not available here; "
                         f"use device='cpu' or device='auto'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch (CPU and CUDA) and NumPy's global RNG; return a seeded CPU generator.

    Model code that needs its own random numbers should use the returned generator (torch) or
    ``numpy.random.default_rng(seed)``; the global seeds make weight initialisation and
    ``torch.randn_like`` (the VAE sampling noise) reproducible.

    Parameters
    ----------
    seed : int
        Non-negative seed.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (documented: seeds the legacy global RNG)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device | None = None) -> Iterator[torch.Generator]:
    """Seed like :func:`seed_everything` inside the block, then restore the global generators.

    Weight initialisation and ``torch.randn_like`` inside the block are reproducible, and the
    caller's global NumPy and torch generators (CPU, and ``device`` when it is a CUDA device)
    are neither reseeded nor advanced as seen from outside.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    device : torch.device, optional
        The device trained on; a CUDA device's generator is saved and restored as well.

    Yields
    ------
    torch.Generator
        A CPU generator seeded with ``seed``.
    """
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    devices = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    np_state = np.random.get_state()  # noqa: NPY002 (saved to be restored)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.random.default_generator.manual_seed(seed)
            for index in devices:  # only the device trained on, as only it is restored
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            np.random.seed(seed % 2**32)  # noqa: NPY002 (restored below)
            gen = torch.Generator()
            gen.manual_seed(seed)
            yield gen
    finally:
        np.random.set_state(np_state)  # noqa: NPY002


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class _TqdmProgress:
    """Callback showing one ``tqdm.auto`` bar step per epoch."""

    def __init__(self):
        self.bar = None

    def on_train_begin(self, trainer, info):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=info["epochs"], desc="training", unit="epoch", leave=True)

    def on_epoch_end(self, trainer, info):
        if self.bar is None:
            return
        post = {"loss": f"{info['loss']:.4g}"}
        if info["val_loss"] is not None:
            post["val"] = f"{info['val_loss']:.4g}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer, info):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _progress_callback(progress, trainer) -> Any | None:
    if progress is None or progress is False:
        return None
    if progress == "auto":
        if _in_notebook():
            for factory in progress_factories():
                cb = factory(trainer)
                if cb is not None:
                    return cb
        return _TqdmProgress()
    if progress is True or progress == "tqdm":
        return _TqdmProgress()
    if hasattr(progress, "on_epoch_end") or hasattr(progress, "on_train_begin"):
        return progress  # a ready-made progress callback
    raise ValueError(f"unknown progress {progress!r}; use 'auto', True/'tqdm', False/None or "
                     f"a callback object")


class _Indexed:
    """Batches of an indexed dataset: a seeded sample split and a permutation per epoch."""

    def __len__(self) -> int:
        raise NotImplementedError

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def split(self, val_fraction: float, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        return split_samples(len(self), val_fraction, gen)

    def train_batches(self, part: torch.Tensor, batch_size: int, gen: torch.Generator
                      ) -> Iterator[tuple[torch.Tensor, ...]]:
        perm = part[torch.randperm(len(part), generator=gen)]
        for start in range(0, len(perm), batch_size):
            yield self.get_batch(perm[start:start + batch_size])

    def val_batches(self, part: torch.Tensor, batch_size: int
                    ) -> Iterator[tuple[torch.Tensor, ...]]:
        for start in range(0, len(part), batch_size):
            yield self.get_batch(part[start:start + batch_size])


class _TensorData(_Indexed):
    """In-memory tensors moved to the device once, indexed per batch."""

    def __init__(self, tensors: Sequence[torch.Tensor], device: torch.device):
        if not tensors:
            raise ValueError("tensors is empty; pass at least one tensor of samples")
        n = None
        moved = []
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"tensors[{i}] must be a torch.Tensor, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"tensors[{i}] is a scalar; samples run along the first axis")
            if n is None:
                n = t.shape[0]
            elif t.shape[0] != n:
                raise ValueError(f"all tensors must hold the same number of samples; "
                                 f"tensors[0] has {n} and tensors[{i}] has {t.shape[0]}")
            moved.append(t.to(device))
        self.tensors = tuple(moved)
        self.n = int(n)
        self.device = device

    def __len__(self) -> int:
        return self.n

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx = idx.to(self.device)
        return tuple(t[idx] for t in self.tensors)


def _to_device(out, device: torch.device) -> tuple[torch.Tensor, ...]:
    if isinstance(out, torch.Tensor):
        out = (out,)
    return tuple(t.to(device, non_blocking=True) for t in out)


class _LazyData(_Indexed):
    """Wrap a user dataset with ``__len__`` and ``get_batch``; move batches to the device."""

    def __init__(self, data, device: torch.device):
        self.data = data
        self.n = len(data)
        self.device = device

    def __len__(self) -> int:
        return self.n

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _to_device(self.data.get_batch(idx), self.device)


class _StreamData:
    """Wrap a :class:`StreamingBatches` dataset; move its batches to the device."""

    def __init__(self, data, device: torch.device):
        self.data = data
        self.device = device

    def split(self, val_fraction: float, gen: torch.Generator) -> tuple[Any, Any]:
        return self.data.split(val_fraction, gen)

    def train_batches(self, part, batch_size: int, gen: torch.Generator):
        for batch in self.data.train_batches(part, batch_size, gen):
            yield _to_device(batch, self.device)

    def val_batches(self, part, batch_size: int):
        for batch in self.data.val_batches(part, batch_size):
            yield _to_device(batch, self.device)


def _dataset(tensors, device: torch.device) -> _TensorData | _LazyData | _StreamData:
    """The samples to train on: in-memory tensors (moved once), a lazy or a streamed dataset."""
    if isinstance(tensors, torch.Tensor):
        tensors = (tensors,)
    if isinstance(tensors, (tuple, list)):
        return _TensorData(tensors, device)
    if all(hasattr(tensors, k) for k in ("split", "train_batches", "val_batches")):
        return _StreamData(tensors, device)
    if hasattr(tensors, "get_batch") and hasattr(tensors, "__len__"):
        return _LazyData(tensors, device)
    raise TypeError("tensors must be a tuple of torch.Tensor, an object with __len__ and "
                    "get_batch(idx), or one with split, train_batches and val_batches")


def split_samples(n: int, val_fraction: float, gen: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``n`` samples at random into training and validation indices.

    Parameters
    ----------
    n : int
        Number of samples.
    val_fraction : float
        Fraction held out for validation, in [0, 1); a positive fraction holds out at least
        one sample.
    gen : torch.Generator
        The seeded generator that draws the permutation.

    Returns
    -------
    train_idx, val_idx : torch.Tensor
        Disjoint int64 indices covering ``range(n)``.

    Raises
    ------
    ValueError
        No samples, or the split leaves no training sample.
    """
    if n < 1:
        raise ValueError("there are no training samples")
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    if n - n_val < 1:
        raise ValueError(f"val_fraction={val_fraction} leaves no training samples "
                         f"out of {n}; lower it")
    order = torch.randperm(n, generator=gen)
    return order[n_val:], order[:n_val]


#: why training ended early -> the history flag that says so
_STOP_FLAGS = {"early_stopping": "stopped_early", "stop_requested": "stop_requested",
               "interrupted": "interrupted"}


class _Record:
    """The history of one fit, the best weights so far and the early-stopping count.

    :meth:`add` records a finished epoch (or notes that its loss was not finite),
    :attr:`patience_exhausted` says when to stop early, :meth:`stop` notes why training
    ended before its last epoch.
    """

    def __init__(self, *, n_train: int, n_val: int, device: torch.device,
                 patience: int | None, min_delta: float):
        self.history: dict[str, Any] = {
            "loss": [], "val_loss": [], "seconds": [], "epochs_run": 0,
            "stopped_early": False, "interrupted": False, "stop_requested": False,
            "stop_reason": "completed", "best_epoch": None, "best_loss": None,
            "n_train": n_train, "n_val": n_val, "device": str(device)}
        self.patience, self.min_delta = patience, min_delta
        self.best_state: dict[str, torch.Tensor] | None = None
        self.diverged_epoch: int | None = None
        self._best = math.inf
        self._since_best = 0

    def add(self, epoch: int, loss: float, val_loss: float | None, seconds: float,
            module: torch.nn.Module) -> bool:
        """Record the 1-based ``epoch``; False (nothing recorded) if a loss is not finite."""
        monitored = loss if val_loss is None else val_loss
        if not (math.isfinite(monitored) and math.isfinite(loss)):
            self.diverged_epoch = epoch
            return False
        hist = self.history
        hist["loss"].append(loss)
        if val_loss is not None:
            hist["val_loss"].append(val_loss)
        hist["seconds"].append(seconds)
        hist["epochs_run"] = epoch
        if monitored < self._best - self.min_delta:
            self._best, self._since_best = monitored, 0
            hist["best_epoch"], hist["best_loss"] = epoch, monitored
            self.best_state = _snapshot(module)
        else:
            self._since_best += 1
        return True

    def epoch_info(self, epochs: int) -> dict[str, Any]:
        """The ``on_epoch_end`` info of the last recorded epoch."""
        hist = self.history
        done = hist["epochs_run"]
        mean_s = sum(hist["seconds"]) / len(hist["seconds"])
        return {"epoch": done, "epochs": epochs, "loss": hist["loss"][-1],
                "val_loss": hist["val_loss"][-1] if hist["n_val"] else None,
                "seconds": hist["seconds"][-1], "eta": mean_s * (epochs - done),
                "history": hist}

    @property
    def patience_exhausted(self) -> bool:
        """True when the monitored loss has not improved for ``patience`` epochs."""
        return self.patience is not None and self._since_best >= self.patience

    def stop(self, reason: str) -> None:
        """Note why training ended early: a key of ``_STOP_FLAGS``."""
        self.history[_STOP_FLAGS[reason]] = True
        self.history["stop_reason"] = reason

    def kept(self) -> str:
        """Which weights the model holds after an interrupt, in words."""
        best = self.history["best_epoch"]
        return (f"keeping the best weights (epoch {best})" if best is not None
                else "no epoch finished, so the weights are untrained")

    def divergence(self, lr: float) -> TrainingDiverged:
        """The :class:`TrainingDiverged` error for the epoch whose loss was not finite."""
        best = self.history["best_epoch"]
        err = TrainingDiverged("", epoch=self.diverged_epoch, best_epoch=best, lr=lr)
        kept = (f"The weights of the best epoch ({best}) were restored."
                if self.best_state is not None else
                "No epoch finished, so the weights are untrained.")
        err.args = (f"{err.cause}. {kept}",)
        return err


#: the trainer's options: those every model shares, and a few of its own
_TRAINER_RULES = {**TRAINING_RULES, "weight_decay": Real(0, None), "min_delta": Real(0, None),
                  "restore_best": Boolean()}


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Mini-batch Adam training with validation split, early stopping and a clean stop.

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the training samples.
    batch_size : int
        Samples per mini-batch (the last batch of an epoch may be smaller).
    lr : float
        Adam learning rate.
    seed : int
        Seeds torch before training (sampling noise) and the batch order.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    val_fraction : float
        Fraction of the samples held out (at random, seeded) to compute a validation loss
        after every epoch; 0 disables validation.
    patience : int, optional
        Stop when the monitored loss (validation loss if any, else training loss) has not
        improved by more than ``min_delta`` for this many epochs. None: never stop early.
    progress : {"auto", True, "tqdm", False, None} or callback
        ``"auto"``: a live widget in a notebook when one is registered (see
        :func:`register_progress_factory`), else a ``tqdm.auto`` bar; ``True``/``"tqdm"``:
        a tqdm bar; ``False``/``None``: silent.
    callbacks : sequence
        Objects with optional ``on_train_begin``, ``on_epoch_end``, ``on_train_end``
        methods (see the module docstring).
    weight_decay : float
        Adam weight decay (L2), >= 0.
    min_delta : float
        Minimum decrease of the monitored loss counted as an improvement, >= 0.
    restore_best : bool
        Restore the weights of the best epoch at the end (always done after an interrupt).

    The numeric options are checked with the rules of :mod:`eelswidgets.models._params`
    (``TRAINING_RULES``, the ones every model declares, plus the three above).

    Examples
    --------
    >>> import torch
    >>> from eelswidgets.models.trainer import Trainer
    >>> x = torch.randn(64, 3)
    >>> net = torch.nn.Linear(3, 3)
    >>> hist = Trainer(epochs=2, progress=False).fit(
    ...     net, (x,), lambda m, b: ((m(b[0]) - b[0]) ** 2).mean())
    >>> hist["epochs_run"]
    2
    """

    def __init__(self, *, epochs: int = 30, batch_size: int = 128, lr: float = 1e-3,
                 seed: int = 0, device: str | torch.device = "auto", val_fraction: float = 0.0,
                 patience: int | None = None, progress="auto", callbacks: Sequence = (),
                 weight_decay: float = 0.0, min_delta: float = 0.0, restore_best: bool = True):
        p = check_params("Trainer", _TRAINER_RULES, {
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "device": device, "val_fraction": val_fraction, "patience": patience,
            "weight_decay": weight_decay, "min_delta": min_delta,
            "restore_best": restore_best})
        self.epochs, self.batch_size, self.lr = p["epochs"], p["batch_size"], p["lr"]
        self.seed, self.device = p["seed"], resolve_device(p["device"])
        self.val_fraction, self.patience = p["val_fraction"], p["patience"]
        self.weight_decay, self.min_delta = p["weight_decay"], p["min_delta"]
        self.restore_best = p["restore_best"]
        self.progress = progress
        if callbacks is None:
            callbacks = ()
        if not isinstance(callbacks, (list, tuple)):
            callbacks = (callbacks,)
        self.callbacks = tuple(callbacks)
        self.epoch = 0  # 0-based index of the epoch in progress (loss functions may read it)
        self.module: torch.nn.Module | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Ask the running :meth:`fit` to stop after the current mini-batch (thread-safe)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """True once :meth:`request_stop` has been called during the current fit."""
        return self._stop.is_set()

    def __repr__(self) -> str:
        return (f"Trainer(epochs={self.epochs}, batch_size={self.batch_size}, lr={self.lr}, "
                f"seed={self.seed}, device={str(self.device)!r}, "
                f"val_fraction={self.val_fraction}, patience={self.patience})")

    # ------------------------------------------------------------------ fit
    def fit(self, module: torch.nn.Module, tensors,
            loss_fn: Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
            ) -> dict:
        """Train ``module`` in place and return the history.

        Parameters
        ----------
        module : torch.nn.Module
            The network; moved to the trainer's device.
        tensors : tuple of torch.Tensor, torch.Tensor, lazy or streamed dataset
            Samples along the first axis of every tensor, an object with ``__len__`` and
            ``get_batch(idx) -> tuple[Tensor, ...]`` (see :class:`LazyBatches`), or one with
            ``split``, ``train_batches`` and ``val_batches`` (see :class:`StreamingBatches`).
        loss_fn : callable
            ``loss_fn(module, batch) -> scalar tensor`` (mean over the batch).

        Returns
        -------
        dict
            ``loss`` and ``val_loss`` (per-epoch means; ``val_loss`` is empty without a
            validation split), ``seconds`` (per epoch), ``epochs_run``, ``stopped_early``,
            ``interrupted`` (KeyboardInterrupt), ``stop_requested`` (request_stop or
            :class:`StopTraining`), ``stop_reason``, ``best_epoch`` (1-based, None if no
            epoch finished), ``best_loss``, ``n_train``, ``n_val``, ``device``.

        Raises
        ------
        TrainingDiverged
            A ``FloatingPointError``: the loss became NaN/Inf (the best weights so far are
            restored first).

        Notes
        -----
        Training draws its random numbers from generators seeded with ``seed`` (see
        :func:`seeded_rng`); the caller's global NumPy and torch generators are left as
        they were. The steps are methods of their own: :func:`split_samples` (data split),
        :meth:`_epoch` (one pass and the validation loss), ``_Record`` (history, best
        weights, early stop) and :meth:`_finish` (restore, divergence, ``on_train_end``).
        """
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if not callable(loss_fn):
            raise TypeError("loss_fn must be callable: loss_fn(module, batch) -> tensor")
        self._stop.clear()
        with seeded_rng(self.seed, self.device) as gen:
            data = _dataset(tensors, self.device)
            split = data.split(self.val_fraction, gen)
            opt = self._optimizer(module)
            record = _Record(n_train=len(split[0]), n_val=len(split[1]), device=self.device,
                             patience=self.patience, min_delta=self.min_delta)
            callbacks = self._callbacks()
            self._loop(module, data, split, opt, loss_fn, gen, record, callbacks)
            return self._finish(module, record, callbacks)

    def _optimizer(self, module: torch.nn.Module) -> torch.optim.Adam:
        """Move ``module`` to the device and build Adam over its trainable parameters."""
        module.to(self.device)
        self.module = module
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the module has no trainable parameters")
        return _adam(params, self.lr, self.weight_decay)

    def _callbacks(self) -> list:
        """The progress display (first, if any) and the user's callbacks."""
        prog = _progress_callback(self.progress, self)
        return ([] if prog is None else [prog]) + list(self.callbacks)

    def _notify(self, callbacks: list, name: str, info) -> None:
        for cb in callbacks:
            fn = getattr(cb, name, None)
            if fn is not None:
                fn(self, info)

    def _loop(self, module, data, split, opt, loss_fn, gen, record: _Record,
              callbacks: list) -> None:
        """Run the epochs; a stop request, ``StopTraining`` or an interrupt ends them."""
        n_train, n_val = len(split[0]), len(split[1])
        try:
            self._notify(callbacks, "on_train_begin", {
                "epochs": self.epochs, "n_train": n_train, "n_val": n_val,
                "batch_size": self.batch_size, "device": str(self.device)})
            for epoch in range(self.epochs):
                self.epoch = epoch
                t0 = time.perf_counter()
                loss, val_loss = self._epoch(module, data, split, opt, loss_fn, gen)
                if not record.add(epoch + 1, loss, val_loss, time.perf_counter() - t0,
                                  module):
                    break
                self._notify(callbacks, "on_epoch_end", record.epoch_info(self.epochs))
                if record.patience_exhausted:
                    record.stop("early_stopping")
                    break
        except StopTraining:
            record.stop("stop_requested")
        except KeyboardInterrupt:
            record.stop("interrupted")
            warnings.warn(f"training interrupted after {record.history['epochs_run']} "
                          f"epoch(s); {record.kept()}", RuntimeWarning, stacklevel=3)
        finally:
            module.eval()

    def _epoch(self, module, data, split, opt, loss_fn, gen: torch.Generator
               ) -> tuple[float, float | None]:
        """One pass over the training samples in a seeded order, then the validation loss.

        Returns the mean training loss and the validation loss (None without a split).
        Raises :class:`StopTraining` before a mini-batch once a stop was requested.
        """
        train_part, val_part = split
        module.train()
        total = torch.zeros((), device=self.device)
        seen = 0
        for batch in data.train_batches(train_part, self.batch_size, gen):
            if self._stop.is_set():
                raise StopTraining
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module, batch)
            loss.backward()
            opt.step()
            total += loss.detach() * len(batch[0])
            seen += len(batch[0])
        if not len(val_part):
            return float(total) / max(seen, 1), None
        val_loss = self._evaluate(module, data, val_part, loss_fn)
        module.train()
        return float(total) / max(seen, 1), val_loss

    def _finish(self, module: torch.nn.Module, record: _Record, callbacks: list) -> dict:
        """Restore the best weights where due, raise on divergence, call ``on_train_end``."""
        hist = record.history
        diverged = record.diverged_epoch is not None
        if record.best_state is not None and (
                self.restore_best or hist["stop_reason"] != "completed" or diverged):
            module.load_state_dict(record.best_state)
        if diverged:
            hist["stop_reason"] = "diverged"
            raise record.divergence(self.lr)
        with contextlib.suppress(StopTraining):
            self._notify(callbacks, "on_train_end", hist)
        return hist

    @torch.inference_mode()
    def _evaluate(self, module, data, part, loss_fn) -> float:
        module.eval()
        total, seen = 0.0, 0
        for batch in data.val_batches(part, self.batch_size):
            total += float(loss_fn(module, batch)) * len(batch[0])
            seen += len(batch[0])
        return total / max(seen, 1)


def _adam(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam with the single-kernel ("fused") update where torch supports it.

    Same algorithm as the default implementation, but one kernel for all parameters instead
    of a dozen small operations per parameter tensor (a few milliseconds per step on a CPU).
    """
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
