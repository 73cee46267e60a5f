"""TrainingMonitor: live loss curves, epoch, ETA and a Stop button for any model's ``fit``.

The monitor is a trainer callback (``on_train_begin``, ``on_epoch_end``, ``on_train_end``, see
:mod:`eelswidgets.models.trainer`). Importing :mod:`eelswidgets.widgets` registers
:func:`progress_factory`, so ``model.fit(..., progress="auto")`` (the default) shows one in a
notebook. Stop calls the trainer's ``request_stop()``: training ends after the current
mini-batch and the best weights are kept.

A notebook cell that runs ``fit`` keeps the kernel busy, and a button's click normally waits
until the cell is done. Where the kernel reads its shell messages in a thread of its own
(ipykernel 7), the monitor handles the Stop click there, as soon as it arrives.
"""

from __future__ import annotations

import math
import time

import bqplot
import ipywidgets as widgets
import numpy as np

from ._front_end import FrontEndGate
from ._html import SafeHTML, bold, concat

__all__ = ["TrainingMonitor", "progress_factory"]


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _on_click_while_busy(button: widgets.Button, callback) -> bool:
    """Call ``callback()`` as soon as a click on ``button`` reaches the kernel.

    ipykernel 7 receives shell messages in a thread of its own and asks each comm where to
    route a message (``_reply_subshell_for``) before the busy main thread sees it; wrapping that
    hook lets a click act while a cell is running. ``callback`` runs in that thread, so it
    must be thread-safe (``Trainer.request_stop`` is). Returns False where the hook is missing
    (the click then acts when the cell has finished).
    """
    comm = getattr(button, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if comm is None or route is None:
        return False

    def routed(data, default):
        if isinstance(data, dict) and data.get("method") == "custom":
            content = data.get("content") or {}
            if isinstance(content, dict) and content.get("event") == "click":
                callback()
        return route(data, default)

    comm._reply_subshell_for = routed
    return True


class TrainingMonitor(FrontEndGate, widgets.VBox):
    """Live training display: loss curves, epoch counter, ETA and a Stop button.

    Pass it as a callback (``fit(..., progress=monitor)`` or ``callbacks=[monitor]``) or let
    ``progress="auto"`` create one. It can also replay a finished history
    (:meth:`show_history`).

    Parameters
    ----------
    title : str
        Title of the loss plot.
    log_scale : bool
        Logarithmic loss axis (default False: a VAE loss may be negative).
    auto_display : bool
        Display itself when training starts (what ``progress="auto"`` uses).
    width, height : int
        Plot size in CSS pixels.

    Attributes
    ----------
    figure : bqplot.Figure
        Loss curves (CSS class ``ew-training-monitor``).
    stop_button : ipywidgets.Button
        Calls :meth:`stop`.
    epochs_done : int
        Epochs finished so far.
    stopped : bool
        True once Stop was pressed.
    history : dict
        The trainer's history as last seen.

    Examples
    --------
    >>> mon = TrainingMonitor()
    >>> mon.show_history({"loss": [1.0, 0.5, 0.3], "val_loss": [], "seconds": [0.1] * 3})
    >>> mon.epochs_done
    3
    """

    def __init__(self, *, title: str = "training loss", log_scale: bool = False,
                 auto_display: bool = False, width: int = 460, height: int = 260):
        self.auto_display = bool(auto_display)
        self.trainer = None
        self.epochs_done = 0
        self.epochs_total = 0
        self.stopped = False
        self.history: dict = {}
        self._t0 = None
        self._running = False
        xs = bqplot.LinearScale(min=1.0)
        ys = bqplot.LogScale() if log_scale else bqplot.LinearScale()
        self._loss = bqplot.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32),
                                  scales={"x": xs, "y": ys}, colors=["#1f77b4"],
                                  labels=["train"], display_legend=True, marker="circle",
                                  marker_size=16)
        self._val = bqplot.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32),
                                 scales={"x": xs, "y": ys}, colors=["#e6550d"],
                                 labels=["validation"], display_legend=True, marker="circle",
                                 marker_size=16, visible=False)
        self._xs = xs
        self.figure = bqplot.Figure(
            marks=[self._loss, self._val],
            axes=[bqplot.Axis(scale=xs, label="epoch", tick_format="d"),
                  bqplot.Axis(scale=ys, side="left", label="loss",
                              tick_format=".4~g")],
            title=title, animation_duration=0, legend_location="top-right",
            fig_margin={"top": 40, "bottom": 45, "left": 65, "right": 15},
            layout=widgets.Layout(width=f"{int(width)}px", height=f"{int(height)}px"))
        self.figure.add_class("ew-training-monitor")
        self.progress = widgets.IntProgress(value=0, min=0, max=1,
                                            layout=widgets.Layout(width="220px"))
        self.status = SafeHTML("waiting for training to start")
        self.status.add_class("ew-training-status")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                          tooltip="stop training after the current batch; the "
                                                  "best weights are kept",
                                          disabled=True, layout=widgets.Layout(width="90px"))
        self.stop_button.add_class("ew-stop-button")
        self.stop_button.on_click(lambda _b: self.stop())
        self.fast_stop = _on_click_while_busy(self.stop_button, self._stop_now)
        super().__init__([self.figure,
                          widgets.HBox([self.stop_button, self.progress, self.status])])
        self.add_class("ew-training-box")

    # ------------------------------------------------------------------ control
    def _stop_now(self) -> None:
        # may run in the kernel's shell thread: only thread-safe work here
        self.stopped = True
        trainer = self.trainer
        if trainer is not None:
            trainer.request_stop()

    def stop(self) -> None:
        """Ask the running fit to stop after the current mini-batch."""
        self._stop_now()
        if self._running:
            self.stop_button.description = "stopping…"
            self.stop_button.disabled = True

    # ------------------------------------------------------------------ callback protocol
    def on_train_begin(self, trainer, info) -> None:
        """Reset the display for a new fit of ``trainer``."""
        self.trainer = trainer
        self._running = True
        self.stopped = False
        self.epochs_done = 0
        self.epochs_total = int(info.get("epochs", 0))
        self._t0 = time.perf_counter()
        with self.figure.hold_sync():
            for line in (self._loss, self._val):
                line.x = np.zeros(0, np.float32)
                line.y = np.zeros(0, np.float32)
            self._val.visible = bool(info.get("n_val"))
            self._xs.max = float(max(2, self.epochs_total))
        self.progress.max = max(1, self.epochs_total)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.stop_button.description = "Stop"
        self.stop_button.disabled = False
        self.status.value = (f"training on {info.get('n_train', '?')} samples "
                             f"({info.get('device', 'cpu')}), {self.epochs_total} epochs")
        if self.auto_display:
            from IPython.display import display

            display(self)

    def on_epoch_end(self, trainer, info) -> None:
        """Add the epoch's losses to the curves and update epoch and ETA."""
        hist = info.get("history") or {}
        self.history = hist
        self._draw(hist)
        self.epochs_done = int(info.get("epoch", self.epochs_done + 1))
        self.progress.value = min(self.epochs_done, self.progress.max)
        val = info.get("val_loss")
        val_txt = "" if val is None else f" · val {val:.4g}"
        stopping = concat(" · ", bold("stopping…")) if trainer.stop_requested else ""
        self.status.value = concat("epoch ", bold(f"{self.epochs_done}/{self.epochs_total}"),
                                   f" · loss {info.get('loss', float('nan')):.4g}{val_txt} · "
                                   f"{_fmt_seconds(info.get('seconds'))}/epoch · ETA "
                                   f"{_fmt_seconds(info.get('eta'))}", stopping)

    def on_train_end(self, trainer, info) -> None:
        """Show why training ended and disable Stop."""
        self._running = False
        self.history = info
        self._draw(info)
        reason = info.get("stop_reason", "completed")
        best = info.get("best_epoch")
        took = _fmt_seconds(time.perf_counter() - self._t0) if self._t0 else "–"
        words = {"completed": "done", "stop_requested": "stopped", "interrupted": "interrupted",
                 "early_stopping": "stopped early (no improvement)"}.get(reason, reason)
        self.status.value = concat(
            bold(words), f" after {info.get('epochs_run', 0)} epoch(s) in {took}; best epoch "
            f"{best} (loss {info.get('best_loss') or 0:.4g})" if best
            else " before the first epoch ended")
        self.status.add_class(f"ew-training-{reason}")
        self.progress.bar_style = "success" if reason == "completed" else "warning"
        self.stop_button.description = "Stop"
        self.stop_button.disabled = True

    # ------------------------------------------------------------------ drawing
    def _draw(self, hist: dict) -> None:
        loss = np.asarray(hist.get("loss", []), dtype=np.float32)
        val = np.asarray(hist.get("val_loss", []), dtype=np.float32)
        with self.figure.hold_sync():
            self._loss.x = np.arange(1, loss.size + 1, dtype=np.float32)
            self._loss.y = loss
            if val.size:
                self._val.x = np.arange(1, val.size + 1, dtype=np.float32)
                self._val.y = val
                self._val.visible = True
            self._xs.max = float(max(2, self.epochs_total, loss.size))

    def show_history(self, history: dict) -> None:
        """Draw a finished training history (e.g. a fitted model's ``history_``)."""
        if not isinstance(history, dict) or "loss" not in history:
            raise TypeError("history must be a dict with a 'loss' list, such as a fitted "
                            "model's history_")
        self.history = history
        self.epochs_done = len(history["loss"])
        self.epochs_total = max(self.epochs_total, self.epochs_done)
        self._draw(history)
        self.progress.max = max(1, self.epochs_total)
        self.progress.value = self.epochs_done
        self.status.value = f"{self.epochs_done} epoch(s)"


def progress_factory(trainer) -> TrainingMonitor:
    """The notebook progress display for ``fit(progress="auto")``: a new monitor per fit."""
    return TrainingMonitor(auto_display=True)
