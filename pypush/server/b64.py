"""Base64 blobs of request bodies, decoded in chunks without holding the whole payload twice.

``binascii.a2b_base64`` decodes ~250 MB/s here and holds the GIL. When the libcrypto that Python's
``hashlib`` already uses is loadable, its ``EVP_DecodeBlock`` (strict, ~1 GB/s, called through
ctypes so the GIL is released) does the work instead; otherwise binascii does.
"""
from __future__ import annotations

import binascii
import ctypes
import sys
import threading
from typing import Iterator, Optional, Union

from ..libcrypto import DECODE_BLOCK

CHUNK = 1 << 20  # base64 characters decoded per step (a multiple of 4)
Buffer = Union[bytes, bytearray]


_DECODE_BLOCK = DECODE_BLOCK
_local = threading.local()


class Base64Error(ValueError):
    """The text is not canonical base64."""


def _address(buf: Buffer, offset: int = 0) -> int:
    """Address of ``buf[offset]`` (no ctypes array type per length: those are cached forever)."""
    if isinstance(buf, bytearray):
        return ctypes.addressof(ctypes.c_char.from_buffer(buf, offset))
    return (ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value or 0) + offset


class Base64Blob:
    """A base64 string held as a slice ``[start, end)`` of a request body, decoded lazily."""

    __slots__ = ("buf", "start", "end", "size")

    def __init__(self, buf: Buffer, start: int = 0, end: Optional[int] = None):
        self.buf = buf
        self.start = start
        self.end = len(buf) if end is None else end
        n = self.end - self.start
        pad = 0
        if n:
            pad = (buf[self.end - 1] == 0x3D) + (n > 1 and buf[self.end - 2] == 0x3D)
        self.size = n // 4 * 3 - pad
        """Decoded length (exact when the text is valid base64)."""

    def __len__(self) -> int:
        return self.size

    def chunks(self) -> Iterator[memoryview]:
        """Decoded bytes, chunk by chunk; raises Base64Error on malformed text (possibly midway)."""
        n = self.end - self.start
        if n % 4:
            raise Base64Error("length is not a multiple of 4")
        produced = 0
        for off in range(self.start, self.end, CHUNK):
            stop = min(off + CHUNK, self.end)
            out = self._decode(off, stop)
            if stop == self.end:
                out = out[: self.size - produced]  # EVP_DecodeBlock emits the padding as zeros
            produced += len(out)
            yield out
        if produced != self.size:
            raise Base64Error("invalid characters")

    def decode(self) -> bytes:
        """All decoded bytes at once (for small blobs)."""
        return b"".join(bytes(c) for c in self.chunks())

    def _decode(self, off: int, stop: int) -> memoryview:
        if _DECODE_BLOCK is None:
            try:
                if sys.version_info >= (3, 11):
                    return memoryview(binascii.a2b_base64(memoryview(self.buf)[off:stop], strict_mode=True))
                return memoryview(binascii.a2b_base64(memoryview(self.buf)[off:stop]))
            except binascii.Error as e:
                raise Base64Error(str(e)) from None
        out = getattr(_local, "out", None)
        if out is None:
            out = _local.out = bytearray(CHUNK // 4 * 3)
        got = _DECODE_BLOCK(_address(out), _address(self.buf, off), stop - off)
        if got < 0:
            raise Base64Error("invalid characters")
        return memoryview(out)[:got]
