"""A tiny HTTP proxy for tests: CONNECT tunnels and absolute-form forwarding, counted. ``routes`` sends a
tunnel for a host name to a loopback address instead (a registry posing as a real host, its name in its
TLS certificate)."""
from __future__ import annotations

import select
import socket
import socketserver
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple


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
            upstream = socket.create_connection(self.server.routes.get(host, (host, int(port))))
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

    def __init__(self, routes: Optional[Dict[str, Tuple[str, int]]] = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: Dict[str, Tuple[str, int]] = routes or {}
        self.tunnels = self.forwarded = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def running_proxy(routes: Optional[Dict[str, Tuple[str, int]]] = None) -> Iterator[Proxy]:
    """A Proxy serving on a thread of its own until the block ends."""
    server = Proxy(routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
