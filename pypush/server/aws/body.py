"""An AWS request's body, whole in memory: Content-Length or chunked, bodies above LARGE_BODY in buffers
leased from the door's pool, the size limit and the injected mid-body cut."""
from __future__ import annotations

import io
from contextlib import ExitStack
from email.message import Message
from typing import Callable, Optional

from pypush.server.aws.dispatch import LARGE_BODY, AwsDoor, too_large
from pypush.server.aws.protocol import ApiError
from pypush.server.http_body import BodyError, RequestBody


class Refused(Exception):
    """The body is not taken: answer ``error`` (after reading ``drain`` bytes so the client sees it) and
    end the connection."""

    def __init__(self, error: ApiError, drain: int = 0):
        super().__init__(error.message)
        self.error = error
        self.drain = drain


class CutShort(Exception):
    """An injected fault: drop the connection after reading ``after`` bytes of the body."""

    def __init__(self, after: int):
        super().__init__(f"cut after {after} bytes")
        self.after = after


def read_body(rfile: io.BufferedIOBase, headers: Message, door: AwsDoor, leases: ExitStack,
              go_ahead: Callable[[], None], expecting: bool) -> memoryview:
    """The body (buffers above LARGE_BODY leased into ``leases``); ``go_ahead`` is called once the body
    is wanted (``100 Continue`` for a client that waits for it, which ``expecting`` says)."""
    chunked = (headers.get("Transfer-Encoding") or "").strip().lower()
    if chunked == "chunked":
        return _chunked(rfile, headers, door, leases, go_ahead)
    if chunked:
        raise Refused(ApiError("SerializationException", f"unsupported Transfer-Encoding {chunked!r}", status=501))
    length_header = headers.get("Content-Length")
    if length_header is None or not length_header.strip().isdigit():
        raise Refused(ApiError("SerializationException", "Content-Length is required", status=411))
    length = int(length_header)
    if length > door.max_body:  # a body up to twice the limit is read, so the client sees the answer
        raise Refused(too_large(length), drain=length if length <= 2 * door.max_body and not expecting else 0)
    go_ahead()
    if door.faults is not None and door.faults.cut_body():
        raise CutShort(length // 2)
    body = leases.enter_context(door.bodies.borrow(length)) if length > LARGE_BODY else memoryview(bytearray(length))
    got = 0
    while got < length:
        n = rfile.readinto(body[got:])
        if not n:
            raise ConnectionError("client closed the connection mid-body")
        got += n
    return body


def _chunked(rfile: io.BufferedIOBase, headers: Message, door: AwsDoor, leases: ExitStack,
             go_ahead: Callable[[], None]) -> memoryview:
    """A chunked body, gathered in a bytearray up to LARGE_BODY and in a leased buffer beyond."""
    go_ahead()
    small = bytearray()
    big: Optional[memoryview] = None
    n = 0
    incoming = RequestBody(rfile, headers)
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
        raise Refused(too_large(incoming.read_bytes) if incoming.read_bytes > door.max_body
                      else ApiError("SerializationException", f"malformed request body: {e}")) from None
    return big[:n] if big is not None else memoryview(small)
