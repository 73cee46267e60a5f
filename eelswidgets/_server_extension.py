"""Jupyter server extension: kernel messages reach the browser without Nagle's delay.

jupyter_server leaves TCP's Nagle algorithm on for the kernel websockets. Every widget update
that the kernel sends in reply to a click follows the kernel's ``busy`` status message within
the same round trip, so TCP holds the update back until the browser acknowledges the status
message, and browsers delay that acknowledgement (40 ms on Linux). A click that should redraw a
spectrum in 20-30 ms then takes 60-70 ms. This extension switches Nagle off (``TCP_NODELAY``, as
tornado's documentation recommends for interactive websockets) on every kernel websocket of the
server, whatever connection class the server is configured with; nothing else changes.

It is enabled by the ``jupyter_server_config.d/eelswidgets.json`` file that the package installs;
turn it off with ``jupyter server extension disable eelswidgets._server_extension``.

Nothing here may break the server: if the connection class cannot be wrapped, or switching
Nagle off fails on a socket (a stream already closed, a transport without ``TCP_NODELAY``),
the failure is logged as a warning and the websocket works as it would without the extension.
"""

from __future__ import annotations

import logging

__all__: list[str] = []

_LOG = logging.getLogger(__name__)

_MARK = "_eelswidgets_nodelay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "eelswidgets._server_extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    cls = settings.get("kernel_websocket_connection_class")
    if cls is None or getattr(cls, _MARK, False):
        return
    try:
        wrapped = with_nodelay(cls)
    except Exception as err:  # e.g. a class that cannot be subclassed
        serverapp.log.warning("eelswidgets: kernel websockets keep Nagle's algorithm on; cannot "
                              "extend %r (%s: %s)", cls, type(err).__name__, err)
        return
    settings["kernel_websocket_connection_class"] = wrapped
    serverapp.log.debug("eelswidgets: kernel websockets send without Nagle's delay")


def with_nodelay(cls: type) -> type:
    """A subclass of the kernel websocket connection ``cls`` that sets ``TCP_NODELAY``.

    Parameters
    ----------
    cls : type
        jupyter_server's kernel websocket connection class (anything with ``connect()`` and a
        ``websocket_handler``: the default ZMQ one, the gateway one, a user's own).

    Returns
    -------
    type
        The subclass; ``connect()`` switches Nagle's algorithm off on the websocket (a failure
        is logged, never raised), then does what ``cls.connect`` does.
    """

    def connect(self):
        try:
            handler = getattr(self, "websocket_handler", None)
            if handler is not None and getattr(handler, "ws_connection", None) is not None:
                handler.set_nodelay(True)
        except Exception as err:  # the websocket works, only with Nagle's delay
            log = getattr(self, "log", None) or _LOG
            log.warning("eelswidgets: cannot switch Nagle's algorithm off on a kernel "
                        "websocket (%s: %s); messages may wait for delayed ACKs",
                        type(err).__name__, err)
        return cls.connect(self)

    return type(cls.__name__, (cls,), {"connect": connect, _MARK: True,
                                       "__module__": cls.__module__,
                                       "__doc__": cls.__doc__})
