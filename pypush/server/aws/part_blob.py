"""Base64 blobs of request bodies, decoded in chunks without holding the whole payload twice.

Decoding is strict (pypush.b64): the standard alphabet only, padding only at the very end.
"""
from __future__ import annotations

from typing import Iterator, Optional, Union

from pypush.b64 import Base64Error, decode

CHUNK = 1 << 20  # base64 characters decoded per step (a multiple of 4)
Buffer = Union[bytes, bytearray]

__all__ = ["Base64Blob", "Base64Error", "Buffer", "CHUNK"]


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
            produced += len(out)
            yield out
        if produced != self.size:
            raise Base64Error("invalid characters")

    def decode(self) -> bytes:
        """All decoded bytes at once (for small blobs)."""
        return b"".join(bytes(c) for c in self.chunks())

    def _decode(self, off: int, stop: int) -> memoryview:
        if stop != self.end and self.buf[stop - 1] == 0x3D:  # '=' before the end is not padding
            raise Base64Error("invalid characters")
        return memoryview(decode(memoryview(self.buf)[off:stop]))
