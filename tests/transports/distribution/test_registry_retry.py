"""Retries, resumption and registry hints, through a fault-injecting proxy in front of docker-registry."""
from __future__ import annotations

import http.client
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple

import pytest

from conftest import server_fixture
from registry_builders import MiB, Progress, blob_of, fetch_blob, make_image, gz_layer
from imagegen import random_bytes

from pypush.transports.distribution.docker_credentials import Credentials
from pypush.errors import AuthError, RegistryError, TransientError
from pypush.image.model import OCI_MANIFEST, Blob, Descriptor
from pypush.net.retry import Backoff, parse_retry_after, retry_call
from pypush.transports.distribution.destination import RegistryTransport

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}

Fault = Optional[Tuple]
"""None (forward), ("status", code, headers) (answer instead of the registry) or ("drop",) (close the
connection without answering; the registry never sees the request)."""


class FaultProxy:
    """A tiny HTTP/1.1 proxy to a registry; ``rule(method, path, n)`` picks a fault for the n-th (from 1)
    request matching ``method path``; ``extra_headers`` are added to every answer from the registry.
    With ``require_auth`` set, requests without that Authorization value get a Basic challenge (and it is
    not forwarded); ``location_host`` replaces the host of Location headers; ``authorizations`` records
    (method, Authorization or None) of every request."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.rule: Callable[[str, str, int], Fault] = lambda method, path, n: None
        self.extra_headers: dict = {}
        self.require_auth: Optional[str] = None
        self.location_host: Optional[str] = None
        self.authorizations: List[Tuple[str, Optional[str]]] = []
        self.seen: List[Tuple[str, str, Optional[int]]] = []  # method, path, status (None: dropped)
        self._counts: dict = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle_one(self) -> None:
                body = self.read_body()
                path = self.path.split("?", 1)[0]
                key = (self.command, "upload session" if re.search(r"/blobs/uploads/[^/]+$", path) else path)
                with proxy._lock:
                    proxy._counts[key] = n = proxy._counts.get(key, 0) + 1
                auth = self.headers.get("Authorization")
                proxy.authorizations.append((self.command, auth))
                if proxy.require_auth and auth != proxy.require_auth:
                    return self.reply(401, {"WWW-Authenticate": 'Basic realm="proxy"'}, b"", path)
                fault = proxy.rule(self.command, path, n)
                if fault and fault[0] == "drop":
                    proxy.seen.append((self.command, path, None))
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault and fault[0] == "status":
                    payload = json.dumps({"errors": [{"code": "TOOMANYREQUESTS" if fault[1] == 429 else "UNAVAILABLE",
                                                      "message": "injected fault"}]}).encode()
                    return self.reply(fault[1], {**fault[2], "Content-Type": "application/json"}, payload, path)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"authorization"}}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
                conn.close()
                if proxy.location_host and "Location" in out:
                    out["Location"] = re.sub(r"^(https?://)[^/]+", r"\g<1>" + proxy.location_host, out["Location"])
                self.reply(resp.status, {**out, **proxy.extra_headers}, data, path)

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status: int, headers: dict, data: bytes, path: str) -> None:
                proxy.seen.append((self.command, path, status))
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", headers.get("Content-Length", str(len(data))))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def statuses(self, method: str, part: str) -> List[Optional[int]]:
        return [s for m, p, s in self.seen if m == method and part in p]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@server_fixture
def proxy(registry):
    p = FaultProxy(registry.port)
    yield p
    p.stop()


FAST = Backoff(attempts=4, base=0.01, cap=0.05)


def via(proxy, repo: str, **kw) -> RegistryTransport:
    kw.setdefault("backoff", FAST)
    kw.setdefault("insecure", True)
    return RegistryTransport(proxy.host, repo, lookup_credentials=False, **kw)


@pytest.mark.parametrize("fault", [("drop",), ("status", 503, {"Retry-After": "0"})])
def test_chunked_upload_resumes_from_registry_range(registry, proxy, fault):
    data = random_bytes(4 * MiB + 10, 31)
    blob = blob_of(data)
    proxy.rule = lambda method, path, n: fault if method == "PATCH" and n == 3 else None
    repo = f"resume/{fault[0]}"
    with via(proxy, repo, chunk_size=MiB) as t:
        progress = Progress()
        assert t.upload(blob, progress) == blob.descriptor
        assert t.stats["resumes"] == 1 and t.stats["retries"] == 1 and t.stats["patches"] == 5
        assert progress.total == len(data)
        if fault[0] == "drop":
            assert -MiB in progress.calls  # the dropped chunk was rewound
    assert proxy.statuses("GET", "/blobs/uploads/") == [204]  # asked the registry where to go on
    assert len(proxy.statuses("POST", "/blobs/uploads/")) == 1  # same session throughout
    assert fetch_blob(registry, repo, blob.descriptor.digest) == data


def test_monolithic_upload_restarts_after_a_dropped_put(registry, proxy):
    data = random_bytes(2 * MiB, 32)
    blob = blob_of(data)
    proxy.rule = lambda method, path, n: ("drop",) if method == "PUT" and n == 1 else None
    with via(proxy, "restart/a") as t:
        progress = Progress()
        assert t.upload(blob, progress) == blob.descriptor
        assert progress.total == len(data) and t.stats["retries"] == 1
    assert len(proxy.statuses("POST", "/blobs/uploads/")) == 2
    assert fetch_blob(registry, "restart/a", blob.descriptor.digest) == data


def test_unknown_digest_stream_resumes(registry, proxy):
    data = random_bytes(3 * MiB, 33)
    blob = Blob(Descriptor("application/octet-stream", "", 0), lambda: io.BytesIO(data), name="stream")
    proxy.rule = lambda method, path, n: ("status", 502, {}) if method == "PATCH" and n == 1 else None
    with via(proxy, "resume/stream") as t:
        stored = t.upload(blob, Progress())
    assert stored.size == len(data) and fetch_blob(registry, "resume/stream", stored.digest) == data


def test_retry_after_is_honoured(registry, proxy):
    proxy.rule = lambda method, path, n: ("status", 503, {"Retry-After": "7"}) if method == "POST" and n == 1 else None
    with via(proxy, "wait/a") as t:
        waits = []
        t.client._retry.sleep = waits.append  # what the policy waits, without waiting
        t.upload(blob_of(b"x" * 1000), Progress())
        assert waits == [7.0] and t.stats["retries"] == 1
    assert proxy.statuses("POST", "/blobs/uploads/") == [503, 202]


def test_manifest_put_retried_on_429(registry, proxy):
    image = make_image([gz_layer(100_000, 34)])
    proxy.rule = lambda method, path, n: ("status", 429, {}) if method == "PUT" and "/manifests/" in path and n <= 2 \
        else None
    with via(proxy, "throttled/a") as t:
        for blob in image.blobs:
            t.upload(blob, Progress())
        t.put_manifest(image.raw, OCI_MANIFEST, image.descriptor.digest, ["1"])
        assert t.stats["retries"] == 2 and t.stats["throttled"] == 2
    assert proxy.statuses("PUT", "/manifests/") == [429, 429, 201]


def test_persistent_5xx_gives_up_with_transient_error(proxy):
    proxy.rule = lambda method, path, n: ("status", 500, {})
    with via(proxy, "down/a") as t:
        with pytest.raises(TransientError) as info:
            t.prepare()
    assert "HTTP 500 UNAVAILABLE: injected fault" in str(info.value) and info.value.code == "UNAVAILABLE"
    assert len(proxy.seen) == 1 + FAST.attempts  # the scheme probe, then the attempts


def test_client_errors_are_not_retried(proxy):
    proxy.rule = lambda method, path, n: ("status", 400, {})
    with via(proxy, "bad/a") as t:
        with pytest.raises(RegistryError) as info:
            t.put_manifest(b"{}", OCI_MANIFEST, "sha256:" + "0" * 64, ["1"])
    assert not isinstance(info.value, TransientError) and "HTTP 400" in str(info.value)
    assert proxy.statuses("PUT", "/manifests/") == [400]


def test_registry_asking_for_chunks(registry, proxy):
    proxy.extra_headers = {"OCI-Chunk-Min-Length": str(2 * MiB)}
    small, big = blob_of(random_bytes(MiB, 35)), blob_of(random_bytes(5 * MiB, 36))
    with via(proxy, "chunks/a", chunk_size=MiB) as t:
        t.upload(small, Progress())
        assert t.stats["patches"] == 1  # chunked although small: the registry asked
        t.upload(big, Progress())
        assert t.stats["patches"] == 1 + 3  # chunks of at least 2 MiB
    assert fetch_blob(registry, "chunks/a", big.descriptor.digest) == random_bytes(5 * MiB, 36)


# ----- the retry helper itself ------------------------------------------------------------------------

def test_retry_call_bounds_and_waits():
    waits: List[float] = []
    calls = []

    class Busy(Exception):
        retry_after = 2.5

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise Busy()
        return "ok"

    assert retry_call(flaky, is_transient=lambda e: isinstance(e, Busy), sleep=waits.append) == "ok"
    assert waits == [2.5, 2.5]

    def always():
        calls.append(1)
        raise Busy()

    calls.clear()
    with pytest.raises(Busy):
        retry_call(always, is_transient=lambda e: True, backoff=Backoff(attempts=3, max_retry_after=1.0),
                   sleep=waits.append)
    assert waits[2:] == [1.0, 1.0] and len(calls) == 3  # capped wait, bounded attempts


def test_retry_call_does_not_retry_other_errors():
    with pytest.raises(KeyError):
        retry_call(lambda: {}["x"], is_transient=lambda e: False, sleep=lambda s: pytest.fail("slept"))


def test_backoff_is_jittered_and_capped():
    b = Backoff(base=0.5, cap=4.0)
    delays = [b.delay(n) for n in range(10) for _ in range(20)]
    assert all(0 <= d <= 4.0 for d in delays) and len(set(delays)) > 100


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 9 <= parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) <= 10


def test_registry_without_resumable_chunks_gets_whole_blobs_and_restarts(registry, proxy):
    """ECR-like: one PATCH per session at most; a failure restarts the upload in a new session."""
    big = blob_of(random_bytes(3 * MiB, 37))
    stream_data = random_bytes(2 * MiB, 38)
    stream = Blob(Descriptor("application/octet-stream", "", 0), lambda: io.BytesIO(stream_data), name="stream")
    proxy.rule = lambda method, path, n: ("drop",) if method == "PATCH" and n == 1 else None
    with via(proxy, "ecrlike/a", chunk_size=MiB, resumable=False) as t:
        assert t.upload(big, Progress()) == big.descriptor
        assert t.stats["patches"] == 0  # above chunk_size, still one PUT
        stored = t.upload(stream, Progress())
        assert t.stats["resumes"] == 0 and t.stats["patches"] == 1
    assert proxy.statuses("PATCH", "/blobs/uploads/") == [None, 202]
    assert len(proxy.statuses("POST", "/blobs/uploads/")) == 3  # big, stream, stream again
    assert fetch_blob(registry, "ecrlike/a", stored.digest) == stream_data


def test_credentials_stay_with_the_registry_host(registry, proxy):
    """An upload URL on another host gets no Authorization header (as docker does)."""
    other = FaultProxy(registry.port)
    try:
        creds = Credentials("user", "pass-word")
        proxy.require_auth = creds.basic()
        proxy.location_host = other.host
        blob = blob_of(random_bytes(100_000, 39))
        with via(proxy, "hosts/a", credentials=creds) as t:
            assert t.upload(blob, Progress()) == blob.descriptor
        assert other.statuses("PUT", "/blobs/uploads/") == [201]
        assert [a for _, a in other.authorizations] == [None]
        assert ("POST", creds.basic()) in proxy.authorizations
    finally:
        other.stop()


def test_no_credentials_to_a_plain_http_token_service(proxy):
    challenge = 'Bearer realm="http://token.example.invalid/token",service="x"'
    proxy.rule = lambda method, path, n: ("status", 401, {"WWW-Authenticate": challenge})
    with via(proxy, "realm/a", credentials=Credentials("user", "pass-word"), insecure=False) as t:
        with pytest.raises(AuthError, match="token.example.invalid is plain http"):
            t.prepare()


def test_registry_reporting_another_digest_is_an_error(proxy):
    image = make_image([gz_layer(50_000, 40)])
    with via(proxy, "digest/a") as t:
        for blob in image.blobs:
            t.upload(blob, Progress())
        proxy.extra_headers = {"Docker-Content-Digest": "sha256:" + "0" * 64}
        with pytest.raises(RegistryError) as info:
            t.put_manifest(image.raw, OCI_MANIFEST, image.descriptor.digest, ["1"])
    assert info.value.code == "DIGEST_MISMATCH" and image.descriptor.digest in str(info.value)
