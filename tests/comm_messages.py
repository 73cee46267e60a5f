"""Comm messages as a browser sends them, and a recorder of what the kernel sends back."""

from __future__ import annotations

import json

import numpy as np
from ipywidgets.widgets.widget import _remove_buffers


def wire(arr, dtype=None) -> dict:
    """What codec.js ``encodeArray`` sends: ``{buffer, dtype, shape}`` with a binary buffer."""
    a = np.ascontiguousarray(arr, dtype=dtype)
    return {"buffer": memoryview(a).cast("B"), "dtype": str(a.dtype), "shape": list(a.shape)}


def update_message(state) -> dict:
    """The comm message of a front-end ``update`` of ``state``, as the kernel receives it.

    Binary buffers travel apart (``buffer_paths``); the rest goes through JSON as on the wire
    (Python's JSON accepts NaN and Infinity, so a hostile browser can send them).
    """
    if isinstance(state, dict):
        json_state, paths, buffers = _remove_buffers(state)
    else:
        json_state, paths, buffers = state, [], []
    data = {"method": "update", "state": json.loads(json.dumps(json_state)),
            "buffer_paths": paths}
    return {"content": {"data": data}, "buffers": [memoryview(b) for b in buffers]}


def send_from_browser(widget, state) -> None:
    """Deliver ``state`` to ``widget`` the way a browser's update reaches the kernel."""
    widget._handle_msg(update_message(state))


def record_sent(monkeypatch, widget) -> list[dict]:
    """Record every message ``widget`` sends to the front end (instead of sending it)."""
    sent: list[dict] = []
    monkeypatch.setattr(widget, "_send", lambda msg, buffers=None: sent.append(msg))
    return sent
