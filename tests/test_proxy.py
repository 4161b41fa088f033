"""ECR pushes honour HTTP(S)_PROXY / NO_PROXY like botocore, the hot path included (CONNECT tunnel)."""
from __future__ import annotations

import json
import select
import socket
import socketserver
import threading

import pytest

from conftest import run_pypush, server_fixture


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        client = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        line, rest = head.split(b"\r\n", 1)
        method, target, version = line.decode().split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.server.tunnels += 1
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = head.split(b"\r\n\r\n", 1)[1]
        else:  # absolute-form request: forward it, then relay the connection as it is
            hostport = target.split("/")[2]
            host, port = hostport.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.server.forwarded += 1
            first = f"{method} {target} {version}\r\n".encode() + rest
        with upstream:
            if first:
                upstream.sendall(first)
            socks = [client, upstream]
            while True:
                ready, _, _ = select.select(socks, [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(1 << 20)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tunnels = self.forwarded = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@server_fixture
def proxy():
    server = Proxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_ecr_push_goes_through_the_proxy(endpoint, proxy):
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
    proc = run_pypush("push", "fixtures/small.oci", "public.ecr.aws/local/proxied:1", "--endpoint-url", endpoint.url,
                      "--create-repository", "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["blobs_pushed"] == 4
    assert proxy.tunnels >= 1, "UploadLayerPart must use the proxy (CONNECT)"
    assert proxy.forwarded >= 1, "botocore's calls use the proxy too"


def test_no_proxy_bypasses_it(endpoint, proxy):
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = run_pypush("push", "fixtures/small.oci", "public.ecr.aws/local/direct:1", "--endpoint-url", endpoint.url,
                      "--create-repository", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proxy.tunnels == proxy.forwarded == 0


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_proxy_is_named_not_the_tls_attempt(monkeypatch):
    """A plain-HTTP loopback registry behind a dead HTTP_PROXY: the error is the proxy's, not that of the
    https attempt (which goes direct and fails differently)."""
    import requests

    from pypush.errors import TransientError
    from pypush.transports.distribution.v2_transport import RegistryTransport

    proxy = f"http://user:s3cret@127.0.0.1:{_unused_port()}"
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = RegistryTransport(f"127.0.0.1:{_unused_port()}", "app")
    with pytest.raises(requests.exceptions.ProxyError) as caught:
        transport._probe_once()
    error = transport._connection_error(caught.value, "API check")
    assert isinstance(error, TransientError) and "proxy" in str(error) and "NO_PROXY" in str(error)
    assert "s3cret" not in str(error)
