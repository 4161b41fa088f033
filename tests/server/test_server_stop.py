"""Stopping the endpoint closes every connection, including one accepted just before the stop whose handler
starts only after the open connections were closed (it used to wait for wait_idle's 10 s bound, so SIGTERM
took 10 s about 1 run in 20 with a client connected)."""
from __future__ import annotations

import socket

import pytest

from pypush.server.app import EndpointServer

pytestmark = pytest.mark.servers  # binds a listening socket


def test_a_connection_tracked_after_close_connections_is_shut_at_once():
    server = EndpointServer(("127.0.0.1", 0), app=None)  # type: ignore[arg-type]  # no request is served
    try:
        early_server_side, early_client = socket.socketpair()
        server.track(early_server_side, True)
        server.close_connections()
        late_server_side, late_client = socket.socketpair()
        server.track(late_server_side, True)  # its handler started after the stop began
        for client in (early_client, late_client):
            client.settimeout(60)
            assert client.recv(1) == b""  # the server side was shut down: end of stream, not a wait
        server.track(early_server_side, False)
        server.track(late_server_side, False)
        server.wait_idle(timeout=60)
    finally:
        server.server_close()
        for s in (early_server_side, early_client, late_server_side, late_client):
            s.close()


def test_before_a_stop_a_tracked_connection_stays_open():
    server = EndpointServer(("127.0.0.1", 0), app=None)  # type: ignore[arg-type]
    server_side, client = socket.socketpair()
    try:
        server.track(server_side, True)
        server_side.sendall(b"x")
        client.settimeout(60)
        assert client.recv(1) == b"x"
        server.track(server_side, False)
    finally:
        server.server_close()
        server_side.close()
        client.close()
