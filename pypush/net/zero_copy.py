"""Zero-copy request bodies: a byte range of a file sent by the kernel (``socket.sendfile``).

A blob that is a plain file, or a member of a tar read in place, goes out without passing through
Python: headers through ``http.client``, then ``sendfile`` from the page cache straight to the socket.
Only on plain HTTP without a proxy (TLS needs the bytes in user space: there the caller streams as
usual) and where the OS has ``os.sendfile`` (Linux, macOS; not Windows). ``PYPUSH_SENDFILE=0`` turns it
off. The caller still checks every byte's digest (pypush.image.verify_ahead.BackgroundCheck).
"""
from __future__ import annotations

import http.client
import io
import os
from typing import IO, Callable, Mapping, Optional, Tuple
from urllib.parse import urlsplit

FileRange = Tuple[int, int, int]
"""``(file descriptor, offset, bytes left)`` of a stream's remaining content."""

STEP = 16 << 20
"""Bytes per sendfile call: progress is reported (and a cancelled push stops) between them."""


def file_range(stream: IO[bytes]) -> Optional[FileRange]:
    """The rest of ``stream`` as a file range when it is a plain file or a tar member read in place."""
    try:
        if callable(getattr(stream, "file_range", None)):
            return stream.file_range()  # type: ignore[attr-defined]
        if isinstance(stream, (io.BufferedReader, io.FileIO)):
            fd, offset = stream.fileno(), stream.tell()
            return fd, offset, os.fstat(fd).st_size - offset
    except (OSError, ValueError):
        pass
    return None


def can_send_file(url: str, proxies: Mapping[str, str]) -> bool:
    """Whether a body for ``url`` may go by sendfile: plain http, no proxy for it, an OS that has it."""
    return (urlsplit(url).scheme == "http" and not (proxies.get("http") or proxies.get("all"))
            and hasattr(os, "sendfile") and os.environ.get("PYPUSH_SENDFILE", "1") != "0")


class _Fd:
    """The little of a file object ``socket.sendfile`` uses."""

    def __init__(self, fd: int):
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def seek(self, pos: int) -> None:  # socket.sendfile seeks past what it sent; positions are explicit here
        pass


def send_file(conn: http.client.HTTPConnection, method: str, path: str, headers: Mapping[str, str],
              source: FileRange, count: int, progress: Callable[[int], None]) -> http.client.HTTPResponse:
    """``method path`` on ``conn`` with ``count`` bytes of ``source`` as the body; the response (unread).

    ``progress(n)`` is called after each STEP sent; whatever it raises stops the body half-way (the caller
    must then close the connection). OSError and http.client errors propagate.
    """
    fd, offset, left = source
    if left < count:
        raise OSError(f"the file holds {left} bytes from offset {offset}, {count} are needed")
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(count))
    conn.endheaders()
    sock = conn.sock
    sent = 0
    while sent < count:
        n = sock.sendfile(_Fd(fd), offset + sent, min(STEP, count - sent))  # type: ignore[arg-type]
        if n <= 0:
            raise OSError(f"sendfile stopped after {sent} of {count} bytes (the file shrank?)")
        sent += n
        progress(n)
    return conn.getresponse()
