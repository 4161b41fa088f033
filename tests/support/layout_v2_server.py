"""A tiny read-only OCI distribution (v2) server over an OCI layout, with faults a test can arm:
cut a blob's connection once half-way, answer 429 with Retry-After, serve wrong manifest bytes. It may
serve TLS (``tls``: certificate and key files) and demand Basic credentials (``basic``: "user:password").

It records every request (method, path, Range, time) and the bytes of each blob it sent.
"""
from __future__ import annotations

import hashlib
import json
import re
import base64
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[a-f0-9]{64})$")
_TAGS = re.compile(r"^/v2/(?P<repo>.+)/tags/list$")


class LayoutV2Server:
    """Serves the images of ``layout`` (index.json tags) as repository ``repo`` on 127.0.0.1."""

    def __init__(self, layout: Path, repo: str = "img", tls: Optional[Tuple[Path, Path]] = None,
                 basic: Optional[str] = None):
        self.layout = layout
        self.repo = repo
        self.requests: List[Tuple[str, str, str, float]] = []  # (method, path, Range, monotonic time)
        self.sent: Counter = Counter()  # digest -> body bytes sent
        self.cut_once: Set[str] = set()  # blob digests whose next full GET is cut half-way
        self.throttle: Dict[str, int] = {}  # path substring -> how many 429s to answer first
        self.retry_after = "1"
        self.ignore_range = False
        self.tamper: Set[str] = set()  # manifest references answered with other bytes
        self.missing: Set[str] = set()  # blob digests answered 404
        self.page_size = 1  # tags per tags/list page
        self.bearer = False  # like ECR Public: every request needs a token; the token service refuses credentials
        self.basic = "Basic " + base64.b64encode(basic.encode()).decode() if basic else None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, tls))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ranges(self, digest: str) -> List[str]:
        """The Range headers of the GETs of blob ``digest`` ("" for none)."""
        return [r for m, p, r, _ in self.requests if m == "GET" and p.endswith(digest)]

    # ----- serving --------------------------------------------------------------------------------

    def _blob(self, digest: str) -> Optional[bytes]:
        path = self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        return path.read_bytes() if path.is_file() else None

    def _resolve(self, ref: str) -> Optional[Tuple[str, bytes]]:
        if ref.startswith("sha256:"):
            data = self._blob(ref)
            return None if data is None else (ref, data)
        for entry in json.loads((self.layout / "index.json").read_text())["manifests"]:
            if (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref:
                return entry["digest"], self._blob(entry["digest"]) or b""
        return None

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((h.command, path, h.headers.get("Range", ""), time.monotonic()))
            for part, left in self.throttle.items():
                if part in path and left > 0:
                    self.throttle[part] = left - 1
                    return self._reply(h, 429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
                                       {"Retry-After": self.retry_after}, head)
        if self.bearer and path == "/token":  # anonymous tokens only (as if the credentials had expired)
            if h.headers.get("Authorization"):
                return self._reply(h, 401, b'{"errors":[{"code":"DENIED","message":"expired"}]}', {}, head)
            return self._reply(h, 200, b'{"token": "anonymous-token"}', {}, head)
        if self.bearer and h.headers.get("Authorization") != "Bearer anonymous-token":
            challenge = f'Bearer realm="http://{self.host}/token",service="test"'
            return self._reply(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}',
                               {"WWW-Authenticate": challenge}, head)
        if self.basic and h.headers.get("Authorization") != self.basic:
            return self._reply(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"credentials"}]}',
                               {"WWW-Authenticate": 'Basic realm="test"'}, head)
        if path == "/v2/":
            return self._reply(h, 200, b"{}", {}, head)
        m = _TAGS.match(path)
        if m and m["repo"] == self.repo:
            index = json.loads((self.layout / "index.json").read_text())
            tags = [e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]
                    if "org.opencontainers.image.ref.name" in (e.get("annotations") or {})]
            last = re.search(r"[?&]last=([^&]+)", h.path)
            tags = sorted(tags)
            if last:
                tags = [t for t in tags if t > last.group(1)]
            page, extra = tags[:self.page_size], {}
            if len(tags) > self.page_size:  # one page at a time, whatever n asks (registries may cap it)
                extra["Link"] = f'</v2/{self.repo}/tags/list?n={self.page_size}&last={page[-1]}>; rel="next"'
            return self._reply(h, 200, json.dumps({"name": self.repo, "tags": page}).encode(), extra, head)
        m = _MANIFEST.match(path)
        if m and m["repo"] == self.repo:
            found = self._resolve(m["ref"])
            if found is None:
                return self._reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}', {}, head)
            digest, data = found
            media_type = json.loads(data).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
            if m["ref"] in self.tamper:
                data = data.replace(b"}", b" }", 1)
            return self._reply(h, 200, data, {"Content-Type": media_type, "Docker-Content-Digest": digest}, head)
        m = _BLOB.match(path)
        if m and m["repo"] == self.repo and m["digest"] not in self.missing:
            data = self._blob(m["digest"])
            if data is not None:
                return self._serve_blob(h, m["digest"], data, head)
        return self._reply(h, 404, b'{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}', {}, head)

    def _serve_blob(self, h: BaseHTTPRequestHandler, digest: str, data: bytes, head: bool) -> None:
        start = 0
        rng = re.match(r"^bytes=(\d+)-$", h.headers.get("Range", ""))
        if rng and not self.ignore_range:
            start = int(rng.group(1))
        body = data[start:]
        status = 206 if start else 200
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        with self._lock:
            cut = digest in self.cut_once and not start and not head
            self.cut_once.discard(digest)
        if not cut:
            with self._lock:
                self.sent[digest] += 0 if head else len(body)
            return self._reply(h, status, body, headers, head)
        half = len(body) // 2
        h.send_response(200)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body[:half])
        h.wfile.flush()
        with self._lock:
            self.sent[digest] += half
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: Dict[str, str], head: bool) -> None:
        h.send_response(status)
        headers = {"Content-Type": "application/json", **headers, "Content-Length": str(len(body))}
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(body)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
