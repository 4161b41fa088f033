"""The endpoint's HTTP side over real sockets: a client whose large body is refused early still reads the
refusal; `pypush -v serve` logs each request without credentials and stops on SIGTERM with connections
open."""
from __future__ import annotations

import base64
import http.client
import logging
import re
import signal
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import REPO_ROOT
from endpoint_client import V2, MiB, client, password_of, sha
from pypush.server.store.data_lock import DataDirLock

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


ACCESS_KEY, SECRET_KEY = "AKIDSERVETEST", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSERVETEST"
LINE = re.compile(r"pypush: (GET|HEAD|POST|PUT|PATCH|DELETE) (\S+)( \w+)? (\d{3}) (\d+) bytes (\d+\.\d) ms")


def test_verbose_serve_logs_each_request_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "pypush", "-v", "serve", "--data", str(data),
                             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        ep = SimpleNamespace(url=url, host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
        ecr = client(ep, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        ecr.create_repository(repositoryName="logged")
        token = ecr.get_authorization_token()["authorizationData"]["authorizationToken"]  # base64 AWS:<password>
        basic = {"Authorization": f"Basic {token}"}
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=60)
        for method, path in [("GET", "/v2/"), ("HEAD", "/v2/logged/manifests/v1"),
                             ("GET", "/v2/logged/tags/list?n=5&last=" + SECRET_KEY)]:
            conn.request(method, path, headers=basic)
            r = conn.getresponse()
            r.read()
        idle = socket.create_connection((ep.host, ep.port))  # open, no request
        busy = socket.create_connection((ep.host, ep.port))  # half a request line
        busy.sendall(b"PUT /v2/logged/manif")
        big = http.client.HTTPConnection(ep.host, ep.port, timeout=60)  # refused, its connection lingering
        big.request("PATCH", "/v2/logged/blobs/uploads/0123", body=BODY)
        r = big.getresponse()
        r.read()
        assert r.status == 401
        conn.request("GET", "/v2/_catalog", headers=basic)
        conn.getresponse().read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        idle.close()
        busy.close()
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    logged = [m.groups() for m in map(LINE.match, err.splitlines()) if m]
    # a line is written once its answer is sent: the refused PATCH (another connection) may come last
    assert sorted((g[0], g[1], (g[2] or "").strip(), g[3]) for g in logged) == sorted([
        ("POST", "/", "CreateRepository", "200"), ("POST", "/", "GetAuthorizationToken", "200"),
        ("GET", "/v2/", "", "200"), ("HEAD", "/v2/logged/manifests/v1", "", "404"),
        ("GET", "/v2/logged/tags/list", "", "200"), ("PATCH", "/v2/logged/blobs/uploads/0123", "", "401"),
        ("GET", "/v2/_catalog", "", "200")])
    sent = {g[1]: int(g[4]) for g in logged}
    assert sent["/v2/logged/tags/list"] == len(b'{"name": "logged", "tags": []}')
    assert sent["/v2/logged/manifests/v1"] == 0  # HEAD sends no body
    password = base64.b64decode(token).decode().partition(":")[2]
    for secret in (SECRET_KEY, password, token, "Authorization:", "Signature="):
        assert secret not in err
    with DataDirLock(data):  # the lock is free again
        pass


def test_each_answer_is_logged_once_in_the_order_clients_got_them(endpoint, caplog):
    """Whole answers and a streamed blob (sendfile) alike: one line each, with the bytes sent."""
    caplog.set_level(logging.INFO, logger="pypush.server")
    v2 = V2(endpoint, password_of(endpoint))
    blob = b"streamed blob " * 1000
    v2.upload("logged", blob)
    caplog.clear()
    assert v2("GET", f"/v2/logged/blobs/{sha(blob)}").content == blob
    assert v2("HEAD", f"/v2/logged/blobs/{sha(blob)}").status_code == 200
    assert v2("GET", "/v2/logged/tags/list").status_code == 200
    lines = ["pypush: " + r.getMessage() for r in caplog.records if r.name == "pypush.server"]
    logged = [m.groups() for m in map(LINE.match, lines) if m]
    assert [(g[0], g[1], g[3], g[4]) for g in logged] == [
        ("GET", f"/v2/logged/blobs/{sha(blob)}", "200", str(len(blob))),
        ("HEAD", f"/v2/logged/blobs/{sha(blob)}", "200", "0"),
        ("GET", "/v2/logged/tags/list", "200", str(len(b'{"name": "logged", "tags": []}')))]
