"""The endpoint's HTTP side over real sockets: a client whose large body is refused early still reads the
refusal."""
from __future__ import annotations

import base64
import http.client

import pytest

from endpoint_client import MiB, password_of

pytestmark = pytest.mark.servers

BODY = b"\0" * (6 * MiB)


def _send(ep, method: str, path: str, headers=None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=60)
    conn.request(method, path, body=BODY, headers={"Content-Type": "application/octet-stream", **(headers or {})})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def test_a_large_body_refused_for_want_of_credentials_gets_its_401(endpoint):
    statuses = []
    for i in range(10):
        method, path = [("PATCH", "/v2/local/app/blobs/uploads/0123"), ("PUT", "/v2/local/app/manifests/v1"),
                        ("POST", "/v2/local/app/blobs/uploads/?digest=sha256:" + "0" * 64)][i % 3]
        statuses.append(_send(endpoint, method, path).status)  # no BrokenPipeError, no ConnectionResetError
    assert statuses == [401] * 10


def test_an_out_of_order_chunk_gets_its_416(endpoint):
    auth = {"Authorization": "Basic " + base64.b64encode(f"AWS:{password_of(endpoint)}".encode()).decode()}
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    conn.request("POST", "/v2/local/app/blobs/uploads/", headers=auth)
    r = conn.getresponse()
    r.read()
    assert r.status == 202
    location = r.getheader("Location")
    conn.close()
    for _ in range(5):
        r = _send(endpoint, "PATCH", location, {**auth, "Content-Range": f"{MiB}-{MiB + len(BODY) - 1}"})
        assert r.status == 416
