"""The Jupyter server extension that switches Nagle's algorithm off on kernel websockets."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

from eelswidgets import _server_extension as ext


class Handler:
    def __init__(self):
        self.ws_connection = object()
        self.nodelay = None

    def set_nodelay(self, value):
        self.nodelay = value


class Connection:
    """Stands in for jupyter_server's kernel websocket connection classes."""

    def __init__(self, handler):
        self.websocket_handler = handler
        self.connected = False

    def connect(self):
        self.connected = True
        return "future"


def test_connection_sets_nodelay_then_connects():
    cls = ext.with_nodelay(Connection)
    assert issubclass(cls, Connection) and cls.__name__ == "Connection"
    h = Handler()
    conn = cls(h)
    assert conn.connect() == "future"        # what the original connect returns
    assert conn.connected and h.nodelay is True


def test_a_failing_set_nodelay_is_logged_and_the_websocket_still_connects(caplog):
    class ClosedStream(Handler):
        def set_nodelay(self, value):
            raise OSError("[Errno 9] Bad file descriptor")

    conn = ext.with_nodelay(Connection)(ClosedStream())
    with caplog.at_level(logging.WARNING, logger="eelswidgets._server_extension"):
        assert conn.connect() == "future"
    assert conn.connected
    assert "Nagle" in caplog.text and "Bad file descriptor" in caplog.text


def test_a_class_that_cannot_be_extended_leaves_the_server_as_it_was():
    class Final:
        def __init_subclass__(cls, **kwargs):
            raise TypeError("Final cannot be subclassed")

    warnings = []
    app = SimpleNamespace(web_app=SimpleNamespace(
        settings={"kernel_websocket_connection_class": Final}),
        log=SimpleNamespace(debug=lambda *a: None, warning=lambda *a: warnings.append(a)))
    ext._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is Final
    assert len(warnings) == 1 and "cannot be subclassed" in str(warnings[0][-1])


def test_extension_wraps_the_configured_class_once():
    app = SimpleNamespace(web_app=SimpleNamespace(
        settings={"kernel_websocket_connection_class": Connection}),
        log=SimpleNamespace(debug=lambda *a: None))
    ext._load_jupyter_server_extension(app)
    wrapped = app.web_app.settings["kernel_websocket_connection_class"]
    assert wrapped is not Connection and issubclass(wrapped, Connection)
    ext._load_jupyter_server_extension(app)   # a second load changes nothing
    assert app.web_app.settings["kernel_websocket_connection_class"] is wrapped
    assert ext._jupyter_server_extension_points() == [{"module": "eelswidgets._server_extension"}]


def test_real_server_connection_class_keeps_working():
    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection,
    )

    cls = ext.with_nodelay(ZMQChannelsWebsocketConnection)
    assert cls.connect is not ZMQChannelsWebsocketConnection.connect
    assert cls.kernel_ws_protocol == ZMQChannelsWebsocketConnection.kernel_ws_protocol


def test_the_install_enables_the_extension():
    cfg = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/eelswidgets.json"
    assert json.loads(cfg.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"eelswidgets._server_extension": True}}}
