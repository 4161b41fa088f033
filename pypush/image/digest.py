"""Streaming digest verification: a reader that hashes and counts what flows through it.

Digests are ``sha256:<64 hex>`` or ``sha512:<128 hex>`` (the OCI image spec's registered algorithms);
manifests pypush writes are addressed by sha256."""
from __future__ import annotations

import hashlib
from typing import IO, Any, List, Optional, Tuple

from pypush.errors import DigestMismatchError, SourceError
from pypush.net.zero_copy import file_range  # at import, never first in an upload thread (import locks)


ALGORITHMS = ("sha256", "sha512")
"""The digest algorithms blobs may be addressed by."""


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """``<algorithm>:<hex>`` of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


HashPrefix = Tuple[int, Any]
"""``(n, h)``: the hashlib object ``h`` has been fed the first ``n`` bytes of a blob."""


class VerifyingReader:
    """Wrap a binary stream; hash and count every byte read; check digest and size at EOF.

    ``expected_digest`` may be ``""`` (unknown: the digest is computed, not checked) and
    ``expected_size`` may be ``None``. Reading past the declared size raises at once, so a
    too-long blob is caught without reading it whole. ``name`` appears in error messages.
    ``hashed``: a HashPrefix of this content (pypush.image.verify_ahead); its first ``n`` bytes are counted
    but not hashed again (the hash object is copied, so one prefix serves any number of readers).
    """

    def __init__(self, stream: IO[bytes], expected_digest: str = "", expected_size: Optional[int] = None,
                 name: str = "", hashed: Optional[HashPrefix] = None):
        algo, _, _ = expected_digest.partition(":") if expected_digest else ("sha256", "", "")
        if algo not in ALGORITHMS:
            raise DigestMismatchError(f"{name or 'blob'}: unsupported digest algorithm {algo!r}")
        self._stream = stream
        self._hash = hashed[1].copy() if hashed else hashlib.new(algo)
        self._hashed = hashed[0] if hashed else 0  # bytes at the start the hash already covers
        self._algo = algo
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        self.name = name or expected_digest
        self.count = 0
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all when ``n < 0``), verifying at EOF."""
        if self._eof:
            return b""
        if n is None or n < 0:
            parts: List[bytes] = []
            while True:
                chunk = self.read(1 << 20)
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        data = self._stream.read(n)
        self._account(data, n)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Read into ``buffer`` (without a copy when the stream has readinto); 0 at EOF."""
        if self._eof:
            return 0
        readinto = getattr(self._stream, "readinto", None)
        if readinto is None:
            data = self._stream.read(len(buffer))
            buffer[:len(data)] = data
            n = len(data)
        else:
            n = readinto(buffer) or 0
        self._account(buffer[:n], len(buffer))
        return n

    def _account(self, data: "bytes | memoryview", asked: int) -> None:
        if len(data):
            start = self.count
            self.count += len(data)
            if self.count > self._hashed:
                self._hash.update(data[max(0, self._hashed - start):] if start < self._hashed else data)
            if self.expected_size is not None and self.count > self.expected_size:
                raise DigestMismatchError(
                    f"blob {self.name}: more bytes than the {self.expected_size} its descriptor declares")
        elif asked:
            self._eof = True
            self.verify()

    def hash_prefix(self) -> HashPrefix:
        """What has been hashed so far, as a HashPrefix another reader of the same content can resume."""
        return max(self.count, self._hashed), self._hash

    def read_exactly(self, n: int) -> bytes:
        """Read ``n`` bytes unless EOF comes first (then fewer, and the stream is verified)."""
        parts, got = [], 0
        while got < n:
            chunk = self.read(min(n - got, 1 << 22))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def skip_hashed(self) -> None:
        """Move past the prefix the given HashPrefix already covers, without reading it (seekable streams;
        others are left where they are and their prefix is read, unhashed, as usual)."""
        if self.count == 0 and self._hashed and hasattr(self._stream, "seek"):
            try:
                self._stream.seek(self._hashed, 1)
            except (OSError, ValueError):
                return
            self.count = self._hashed

    def skip(self, n: int, holder: str = "the registry") -> None:
        """Read (and hash) the first ``n`` bytes without keeping them: what ``holder`` already stores.

        A stream that ends sooner raises SourceError: the source is not the one the upload started from.
        """
        left = n
        while left > 0:
            chunk = self.read(min(left, 1 << 22))
            if not chunk:
                raise SourceError(f"blob {self.name} ends after {self.count} bytes, but {holder} already holds {n} "
                                  f"(did the source change?)")
            left -= len(chunk)

    @property
    def digest(self) -> str:
        """The digest of the bytes read so far."""
        return f"{self._algo}:{self._hash.hexdigest()}"

    def verify(self) -> None:
        """Raise DigestMismatchError unless the bytes read match the declared size and digest."""
        if self.expected_size is not None and self.count != self.expected_size:
            raise DigestMismatchError(
                f"blob {self.name}: {self.count} bytes, but its descriptor declares {self.expected_size}")
        if self.expected_digest and self.digest != self.expected_digest:
            raise DigestMismatchError(
                f"blob {self.name}: content has digest {self.digest}, but its descriptor says {self.expected_digest}")

    def at_eof(self) -> bool:
        """True once a read returned no bytes (and verification passed)."""
        return self._eof

    def file_range(self) -> "Optional[Tuple[int, int, int]]":
        """``(fd, offset, bytes left)`` of the wrapped stream's rest when it is a plain file or a tar member
        read in place (pypush.net.zero_copy.file_range), else None."""
        return file_range(self._stream)

    def close(self) -> None:
        """Close the wrapped stream."""
        self._stream.close()

    def __enter__(self) -> "VerifyingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
