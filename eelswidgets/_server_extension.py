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
"""

from __future__ import annotations

__all__: list[str] = []

_MARK = "_eelswidgets_nodelay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "eelswidgets._server_extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    cls = settings.get("kernel_websocket_connection_class")
    if cls is None or getattr(cls, _MARK, False):
        return
    settings["kernel_websocket_connection_class"] = with_nodelay(cls)
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
        The subclass; ``connect()`` switches Nagle's algorithm off on the websocket, then does
        what ``cls.connect`` does.
    """

    def connect(self):
        handler = getattr(self, "websocket_handler", None)
        if handler is not None and getattr(handler, "ws_connection", None) is not None:
            handler.set_nodelay(True)
        return cls.connect(self)

    return type(cls.__name__, (cls,), {"connect": connect, _MARK: True,
                                       "__module__": cls.__module__,
                                       "__doc__": cls.__doc__})
