"""Request bodies of the registry door, streamed: Content-Length or chunked transfer coding."""
from __future__ import annotations

import io
from email.message import Message
from typing import Iterator, Optional

PIECE = 1 << 20
"""Bytes per read (and per write to an upload file)."""


class BodyError(Exception):
    """The body is malformed or ended early (the connection cannot be reused)."""


class RequestBody:
    """The body of one request, read at most once; ``pieces()`` yields views of one reused buffer."""

    def __init__(self, rfile: io.BufferedIOBase, headers: Message):
        self._rfile = rfile
        te = (headers.get("Transfer-Encoding") or "").strip().lower()
        length = headers.get("Content-Length")
        self.chunked = te == "chunked"
        if te and not self.chunked:
            raise BodyError(f"unsupported Transfer-Encoding {te!r}")
        if not self.chunked and length is not None and not length.strip().isdigit():
            raise BodyError("Content-Length is not a number")
        self.length: Optional[int] = None if self.chunked else int(length or 0)
        self._left = self.length or 0  # bytes of the current chunk (or body) still to read
        self._done = not self.chunked and not self.length
        self.read_bytes = 0
        self._chunks = 0

    @property
    def done(self) -> bool:
        """Every byte of the body was read (the connection can take the next request)."""
        return self._done

    def pieces(self, limit: Optional[int] = None) -> Iterator[memoryview]:
        """The body's bytes; BodyError when it ends early or exceeds ``limit`` bytes."""
        buf = bytearray(min(PIECE, self.length) if self.length is not None and self.length else PIECE)
        view = memoryview(buf)
        while not self._done:
            if self.chunked and self._left == 0:
                self._next_chunk()
                continue
            n = self._rfile.readinto(view[: min(len(buf), self._left)])
            if not n:
                raise BodyError("the client closed the connection mid-body")
            self._left -= n
            self.read_bytes += n
            if limit is not None and self.read_bytes > limit:
                raise BodyError(f"the body exceeds {limit} bytes")
            if not self.chunked and self._left == 0:
                self._done = True
            yield view[:n]

    def read(self, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes)."""
        return b"".join(bytes(p) for p in self.pieces(limit))

    def drain(self, limit: int) -> bool:
        """Read and discard up to ``limit`` bytes; True when the body is then complete."""
        try:
            for _ in self.pieces(limit):
                pass
        except BodyError:
            return False
        return self._done

    def _next_chunk(self) -> None:
        if self._chunks:  # the CRLF after the previous chunk's data
            if self._rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BodyError("malformed chunked body")
        line = self._rfile.readline(1026)
        size = line.split(b";", 1)[0].strip()
        try:
            self._left = int(size, 16)
        except ValueError:
            raise BodyError("malformed chunk size") from None
        if self._left < 0:
            raise BodyError("malformed chunk size")
        self._chunks += 1
        if self._left == 0:
            while True:  # trailers, up to the empty line
                trailer = self._rfile.readline(8194)
                if trailer in (b"\r\n", b"\n", b""):
                    break
            self._done = True
