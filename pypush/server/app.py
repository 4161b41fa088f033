"""The HTTP side: one threaded HTTP/1.1 server that hands each request to a door: POST / to the AWS
door (aws.dispatch, by X-Amz-Target), /v2/ and /token to the registry door (registry.router), GET/HEAD
of /publisher-reports/ to the report downloads (aws.reports), other GET/HEAD to the gallery. Bodies are read here: whole for the AWS door, streamed for the registry door.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
import traceback
import uuid
from contextlib import ExitStack
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Set, Tuple

from pypush.server.aws import reports
from pypush.server.aws.dispatch import LARGE_BODY, AwsDoor, too_large
from pypush.server.aws.limits import DropConnection
from pypush.server.aws.protocol import CONTENT_TYPE, ApiError
from pypush.server.http_body import BodyError, RequestBody
from pypush.server.registry.auth import token_response
from pypush.server.registry.reads import v2_error
from pypush.server.registry.router import RegistryDoor
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.server.store.store import Store

log = logging.getLogger("pypush.server")

HEADER_TIMEOUT = 60.0
"""Seconds a request line and its headers may take once their first byte arrived."""
LINGER_BYTES = 128 << 20
LINGER_SECONDS = 10.0
"""A connection closed before its request body was read is half-closed, and what the client still sends
is read and discarded (at most LINGER_BYTES, for at most LINGER_SECONDS) before it is closed."""


class App:
    """Everything a request needs: the two doors over one store, and the gallery."""

    def __init__(self, store: Store, settings: Settings, aws: AwsDoor, premium: bool = False):
        self.store = store
        self.settings = settings
        self.aws = aws
        self.premium = premium
        """The premium repositories' port: its /v2/ serves them, and it has no AWS door or gallery."""
        self.registry = RegistryDoor(store, settings, premium=premium)
        self._gallery: Any = None
        self._gallery_lock = threading.Lock()

    def gallery_page(self, method: str, target: str, headers: Message) -> Reply:
        """The HTML gallery (GET/HEAD outside /v2/), imported on first use; its failures stay on its pages."""
        try:
            with self._gallery_lock:
                if self._gallery is None:
                    from pypush.server.gallery import Gallery

                    self._gallery = Gallery(self.store, self.settings)
            return self._gallery.handle(method, target, headers)
        except Exception:
            log.error("gallery failed: %s", traceback.format_exc())
            return Reply(500, {"Content-Type": "text/plain; charset=utf-8"}, b"the gallery failed; the API is unaffected\n")


class RequestHandler(BaseHTTPRequestHandler):
    """One connection; keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: "EndpointServer"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)
        self._linger = False

    def handle_one_request(self) -> None:
        """Wait (idle keep-alive) for a request's first byte; then its line and headers must arrive
        within ``server.header_timeout`` seconds or the connection is closed (slow-header clients)."""
        self._expecting = False
        try:
            if not self.rfile.peek(1):  # type: ignore[attr-defined]
                self.close_connection = True
                return
        except OSError:
            self.close_connection = True
            return
        self.server.watch(self.connection, self.server.header_timeout)
        try:
            super().handle_one_request()
        finally:
            self.server.watch(self.connection, None)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        if self._linger:
            self._linger_close()
        self.server.track(self.connection, False)

    def _linger_close(self) -> None:
        """Half-close, then read and discard what the client still sends (bounded), so that closing does
        not reset the connection before the client, still sending its body, has read the answer (the
        lingering close of nginx and Apache)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            left = LINGER_BYTES
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                data = self.connection.recv(min(left, 1 << 16))
                if not data:
                    break
                left -= len(data)
        except OSError:
            pass

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """http.server's own refusals (bad request line, headers too long, unknown method) as JSON."""
        code = 405 if code == 501 else code
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        body = json.dumps({"errors": [{"code": "UNSUPPORTED" if code == 405 else "MALFORMED_REQUEST",
                                       "message": text, "detail": None}]}).encode()
        if not hasattr(self, "command") or self.command is None:
            self.command = ""
        try:
            self._send(code, {"Content-Type": "application/json"}, body)
        except OSError:
            pass

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue``: the interim answer waits until the route has looked at the headers,
        so a request refused before its body is read gets the final answer instead (``_continue``)."""
        self._expecting = True
        return True

    def _continue(self) -> None:
        """Send ``100 Continue`` if the client waits for it."""
        if self._expecting:
            self._expecting = False
            self.wfile.write(f"{self.protocol_version} 100 Continue\r\n\r\n".encode("latin-1"))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    # -- routing: /v2/... the registry door, /token its Bearer flow, POST / the AWS JSON API ---------
    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._route()

    do_HEAD = do_PUT = do_PATCH = do_DELETE = do_POST = do_GET

    def _route(self) -> None:
        self.server.watch(self.connection, None)  # the headers are in
        path = self.path.split("?", 1)[0]
        v2 = path == "/v2" or path.startswith("/v2/")
        if v2 or self.command != "POST" or path in ("/token", "/token/") or self.server.app.premium:
            self._continue()
        if v2:
            self._v2()
        elif path in ("/token", "/token/") and self.command in ("GET", "HEAD"):
            self._token()
        elif self.server.app.premium:
            self._drain_body()
            self._send(404, {"Content-Type": "application/json"},
                       b'{"errors":[{"code":"NOT_FOUND","message":"the premium port serves /v2/ only","detail":null}]}')
        elif self.command == "POST":
            self._aws()
        elif self.command in ("GET", "HEAD"):  # a publisher report's download, else the HTML gallery
            self._drain_body()
            app = self.server.app
            if path.startswith(reports.DOWNLOAD_PREFIX):
                reply = reports.download(app.store, app.settings, self.path)
            else:
                reply = app.gallery_page(self.command, self.path, self.headers)
            self._send(reply.status, reply.headers, reply.body)
        else:
            self._drain_body()
            self._send(404, {"Content-Type": "application/json"},
                       b'{"errors":[{"code":"NOT_FOUND","message":"no such route","detail":null}]}')

    # -- AWS JSON -------------------------------------------------------------------------------
    def _aws(self) -> None:
        door = self.server.app.aws
        with ExitStack() as leases:
            body = self._aws_body(door, leases)
            if body is None:
                return
            try:
                status, payload, error = door.dispatch(self.path, self.headers, body)
            except DropConnection:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self._send_aws(status, payload, error)

    def _send_aws(self, status: int, payload: bytes, error: Optional[str] = None) -> None:
        """An AWS JSON answer; an error names its code in ``x-amzn-ErrorType`` too, as AWS does (some
        SDKs read the code from there before the body's ``__type``)."""
        headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
        if error is not None:
            headers["x-amzn-ErrorType"] = error
        self._send(status, headers, payload)

    def _refuse(self, error: ApiError) -> None:
        """Answer a request whose body is not taken (or not whole), and end the connection."""
        self.close_connection = True
        self._send_aws(error.status, error.body(), error.code)

    def _aws_body(self, door: AwsDoor, leases: ExitStack) -> Optional[memoryview]:
        """The request body in memory (buffers above LARGE_BODY leased from ``door.bodies`` into
        ``leases``): Content-Length or chunked; None after answering a request whose body cannot be taken."""
        chunked = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if chunked == "chunked":
            return self._aws_chunked_body(door, leases)
        if chunked:
            self._refuse(ApiError("SerializationException", f"unsupported Transfer-Encoding {chunked!r}", status=501))
            return None
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.strip().isdigit():
            self._refuse(ApiError("SerializationException", "Content-Length is required", status=411))
            return None
        length = int(length_header)
        if length > door.max_body:
            if length <= 2 * door.max_body and not self._expecting:  # read it so the client sees the answer
                self._drain(length)
            self._refuse(too_large(length))
            return None
        self._continue()
        if door.faults is not None and door.faults.cut_body():
            self._drain(length // 2)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        body = leases.enter_context(door.bodies.borrow(length)) if length > LARGE_BODY else memoryview(bytearray(length))
        self._read_into(body)
        return body

    def _aws_chunked_body(self, door: AwsDoor, leases: ExitStack) -> Optional[memoryview]:
        """A chunked body, gathered in a bytearray up to LARGE_BODY and in a leased buffer beyond."""
        self._continue()
        small = bytearray()
        big: Optional[memoryview] = None
        n = 0
        incoming = RequestBody(self.rfile, self.headers)
        try:
            for piece in incoming.pieces(door.max_body):
                if big is None and n + len(piece) > LARGE_BODY:
                    big = leases.enter_context(door.bodies.borrow(door.max_body))
                    big[:n] = small
                if big is None:
                    small += piece
                else:
                    big[n : n + len(piece)] = piece
                n += len(piece)
        except BodyError as e:
            self._refuse(too_large(incoming.read_bytes) if incoming.read_bytes > door.max_body
                         else ApiError("SerializationException", f"malformed request body: {e}"))
            return None
        return big[:n] if big is not None else memoryview(small)

    def _read_into(self, body: memoryview) -> None:
        got = 0
        while got < len(body):
            n = self.rfile.readinto(body[got:])
            if not n:
                raise ConnectionError("client closed the connection mid-body")
            got += n

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    # -- v2 ---------------------------------------------------------------------------------------
    def _v2(self) -> None:
        try:
            body = RequestBody(self.rfile, self.headers)
        except BodyError as e:
            self.close_connection = True
            self._send(400, {"Content-Type": "application/json"}, v2_error(400, "SIZE_INVALID", str(e)).body)
            return
        try:
            reply = self.server.app.registry.handle(self.command, self.path, self.headers, body)
        except BodyError as e:  # the body ended early or was malformed: nothing was stored
            log.debug("v2 %s %s: %s", self.command, self.path, e)
            self.close_connection = True
            reply = v2_error(400, "SIZE_INVALID", str(e))
        except Exception:
            log.error("internal error: %s", traceback.format_exc())
            reply = v2_error(500, "UNKNOWN", "internal error")
        if not body.done and not body.drain(LARGE_BODY):
            self.close_connection = True  # an unread body (say, refused before it was read) ends the connection
        if reply.file is None:
            self._send(reply.status, reply.headers, reply.body)
            return
        try:
            f = open(reply.file, "rb")
        except OSError:  # deleted since the lookup
            self._send(404, {"Content-Type": "application/json"}, v2_error(404, "BLOB_UNKNOWN", "blob is gone").body)
            return
        with f:
            self._send(reply.status, reply.headers, b"", length=reply.length)
            if self.command != "HEAD":
                self.connection.sendfile(f, reply.offset, reply.length)

    def _token(self) -> None:
        self._drain_body()
        status, headers, payload = token_response(self.server.app.store, self.headers)
        self._send(status, headers, payload)

    def _drain_body(self) -> None:
        try:
            if not RequestBody(self.rfile, self.headers).drain(LARGE_BODY):
                self.close_connection = True
        except BodyError:
            self.close_connection = True

    def _has_body(self) -> bool:
        """Whether the request announced a body (which may still be arriving)."""
        headers = getattr(self, "headers", None)
        if headers is None:
            return False
        length = (headers.get("Content-Length") or "0").strip()
        return bool(headers.get("Transfer-Encoding")) or length != "0"

    # -- output -----------------------------------------------------------------------------------
    def _send(self, status: int, headers: Dict[str, str], body: bytes, length: Optional[int] = None) -> None:
        """Status line, headers and body in one write (no Nagle stalls on small answers)."""
        self.log_request(status)
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                 f"Date: {self.date_time_string()}",
                 f"Content-Length: {len(body) if length is None else length}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
            self._linger = self._has_body()
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body if self.command != "HEAD" else head)


class EndpointServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections so ``stop`` can close them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], app: App, header_timeout: float = HEADER_TIMEOUT):
        self.app = app
        if not header_timeout > 0:
            raise ValueError(f"header timeout must be above 0 seconds, not {header_timeout}")
        self.header_timeout = header_timeout
        self._connections: Set[socket.socket] = set()
        self._deadlines: Dict[socket.socket, float] = {}
        self._conn_lock = threading.Lock()
        self._closing = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)
        threading.Thread(target=self._watchdog, name="pypush-serve-headers", daemon=True).start()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)
            if not add:
                self._deadlines.pop(conn, None)

    def watch(self, conn: socket.socket, seconds: Optional[float]) -> None:
        """Close ``conn`` unless ``watch(conn, None)`` comes within ``seconds``."""
        with self._conn_lock:
            if seconds is None:
                self._deadlines.pop(conn, None)
            else:
                self._deadlines[conn] = time.monotonic() + seconds

    def _watchdog(self) -> None:
        while not self._closing.wait(min(0.5, self.header_timeout / 4)):
            now = time.monotonic()
            with self._conn_lock:
                late = [c for c, t in self._deadlines.items() if t < now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                log.debug("closing a connection whose request headers took over %s s", self.header_timeout)
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_idle(self, timeout: float) -> None:
        """Wait (bounded) for every connection's handler to finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._conn_lock:
                if not self._connections:
                    return
            time.sleep(0.01)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended: %s", client_address, traceback.format_exc(limit=1))
