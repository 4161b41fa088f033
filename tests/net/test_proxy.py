"""ECR pushes honour HTTP(S)_PROXY / NO_PROXY like botocore, the hot path included (CONNECT tunnel)."""
from __future__ import annotations

import json
import socket

import pytest

from conftest import run_pypush, server_fixture
from connect_proxy import running_proxy


@server_fixture
def proxy():
    with running_proxy() as server:
        yield server


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
    from pypush.transports.distribution.client import RegistryClient

    proxy = f"http://user:s3cret@127.0.0.1:{_unused_port()}"
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = RegistryClient(f"127.0.0.1:{_unused_port()}", repository="app")
    with pytest.raises(requests.exceptions.ProxyError) as caught:
        client._probe_once()
    error = client._connection_error(caught.value, "API check")
    assert isinstance(error, TransientError) and "proxy" in str(error) and "NO_PROXY" in str(error)
    assert "s3cret" not in str(error)
