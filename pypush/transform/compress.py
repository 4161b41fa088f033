"""Streaming, reproducible layer compressors: parallel gzip (pigz-style, stdlib zlib) and zstd.

Each compressor is a file-like reader: ``read(n)`` returns compressed bytes of a source stream,
with bounded memory, while worker threads compress ahead. The output depends only on the input
bytes and the settings (never on thread count, read sizes or timing), so a digest computed once
can be predicted later; :func:`compressor_id` names everything the bytes depend on, for cache keys.

gzip layout (one member, RFC 1952): a fixed 10-byte header (no name, mtime 0, OS 255), then the
input cut into ``GZIP_BLOCK_SIZE`` blocks compressed independently on a thread pool. Each block is
raw deflate primed with the 32 KiB of input before it (``zdict``), ending byte-aligned with a sync
flush, so the pieces concatenate into one deflate stream; an empty final block and the CRC-32/ISIZE
trailer close it. Within a block, 64 KiB chunks whose first 2 KiB do not compress to under 95 %
are written as stored blocks: zlib is slow on incompressible data (random or already-compressed
files, 30 MB/s here), and storing it costs a memcpy. The bytes depend on zlib's version (the
deflate implementation), which :func:`compressor_id` includes.

Levels 1 and 2 deflate through ISA-L (``isal``, 3-8x zlib's speed, similar size) when it is installed
and makes, on this machine, the bytes pypush recorded (:func:`gzip_backend` checks a fixed probe once:
ISA-L picks its code by CPU; its pure-C fallback hashes differently, and its level 3 differs between
AVX2 and AVX-512). ISA-L stores incompressible input itself, so its blocks skip the chunk sampling.
Otherwise, and at levels 0 and 3-9, zlib.
``PYPUSH_GZIP=zlib`` forces zlib.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import threading
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import groupby
from typing import IO, Any, Deque, List, Optional, Tuple, cast

from pypush.errors import SourceError, UsageError

GZIP = "gzip"
ZSTD = "zstd"
ZLIB = "zlib"  # gzip backends
ISAL = "isal"
DEFAULT_LEVELS = {GZIP: 1, ZSTD: 3}
LEVEL_RANGES = {GZIP: range(0, 10), ZSTD: range(1, 20)}

GZIP_BLOCK_SIZE = 1 << 20  # input bytes per independently compressed block
_WINDOW = 32768  # deflate's window: the dictionary each block is primed with
_CHUNK = 65536  # unit of the stored-or-compressed decision inside a block
_SAMPLE = 2048  # bytes at the start of a chunk that decide it
_STORE_PERCENT = 95  # a sample compressing to >= this share of its size marks the chunk stored
_GZIP_FORMAT = "pgz1"  # bump whenever the layout or any constant above changes
_ZSTD_JOB_SIZE = 4 << 20  # zstd multi-threading job: the default 8 MiB at level 3 costs ~85 MiB more RSS
_ZSTD_FORMAT = "zst1"  # streamed (compressobj), nbWorkers >= 1, _ZSTD_JOB_SIZE, checksum on, no content size


def cpu_threads() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined, unused-ignore]  # not on macOS
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_level(algorithm: str, level: Optional[int]) -> int:
    """The level to use for ``algorithm`` (its default when ``None``); UsageError when out of range."""
    if algorithm not in DEFAULT_LEVELS:
        raise UsageError(f"unknown compression algorithm {algorithm!r} (expected gzip or zstd)")
    if level is None:
        return DEFAULT_LEVELS[algorithm]
    allowed = LEVEL_RANGES[algorithm]
    if not isinstance(level, int) or level not in allowed:
        raise UsageError(f"{algorithm} compression level must be {allowed.start}..{allowed.stop - 1}, not {level!r}")
    return level


def compressor_id(algorithm: str) -> str:
    """Everything besides input and level that the compressed bytes depend on (library versions)."""
    if algorithm == GZIP:
        isal = f"/isal-{_isal_version()}" if gzip_backend() == ISAL else ""
        return f"{_GZIP_FORMAT}/zlib-{zlib.ZLIB_RUNTIME_VERSION}{isal}/b{GZIP_BLOCK_SIZE}"
    if algorithm == ZSTD:
        zstandard = _zstandard()
        return f"{_ZSTD_FORMAT}/zstandard-{zstandard.__version__}/libzstd-{'.'.join(map(str, zstandard.ZSTD_VERSION))}"
    raise UsageError(f"unknown compression algorithm {algorithm!r}")


def _zstandard() -> Any:
    """The zstandard module, imported when zstd is first needed; a UsageError when it does not load (the
    package installs without its backend on PyPy older than its cffi 1.17): the rest of pypush works."""
    try:
        import zstandard
    except ImportError as exc:
        raise UsageError(f"zstd needs the zstandard package, which does not load on this Python ({exc}); "
                         f"use --compression gzip, or a Python where zstandard works") from None
    return zstandard


def read_full(stream: IO[bytes], n: int) -> bytes:
    """Exactly ``n`` bytes from ``stream``, fewer only at EOF (block boundaries must not depend on
    how the source happens to split its reads)."""
    data = stream.read(n)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _stored(data: bytes) -> bytes:
    """``data`` as non-final stored deflate blocks (the stream must be byte-aligned here)."""
    out = []
    for i in range(0, len(data), 65535):
        piece = data[i:i + 65535]
        out.append(struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF))
        out.append(piece)
    return b"".join(out)


def _compressible(sample: bytes, level: int) -> bool:
    if level == 0:
        return False
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    size = len(c.compress(sample)) + len(c.flush())
    return size * 100 < len(sample) * _STORE_PERCENT


def deflate_block(data: bytes, dictionary: bytes, level: int, backend: str = "zlib") -> bytes:
    """Raw deflate of ``data`` given the input before it (``dictionary``, last 32 KiB used).

    The result is byte-aligned and has no final block, so results of consecutive blocks concatenate
    into one valid stream. Pure function of its arguments (and the library's version); ``backend``
    ``"isal"`` deflates levels 1-2 through ISA-L in one piece.
    """
    return b"".join(_deflate_pieces(data, dictionary, level, backend))


def _deflate_pieces(data: bytes, dictionary: bytes, level: int, backend: str) -> Tuple[bytes, ...]:
    """``deflate_block`` as the pieces that concatenate to it (ISA-L's two are not copied into one)."""
    if backend == ISAL and 1 <= level <= _ISAL_MAX_LEVEL:
        from isal import isal_zlib

        window = dictionary[-_WINDOW:]
        c = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15, 8, 0, window) if window else \
            isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
        return c.compress(data), c.flush(isal_zlib.Z_SYNC_FLUSH)
    kinds = [_compressible(data[s:s + _SAMPLE], level) for s in range(0, len(data), _CHUNK)]
    out: List[bytes] = []
    start = 0
    for compress, run in groupby(kinds):
        end = min(len(data), start + _CHUNK * len(list(run)))
        if compress:
            window = (dictionary[-(_WINDOW - start):] if start < _WINDOW else b"") + data[max(0, start - _WINDOW):start]
            if window:
                z = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, window)
            else:
                z = zlib.compressobj(level, zlib.DEFLATED, -15)
            out.append(z.compress(data[start:end]))
            out.append(z.flush(zlib.Z_SYNC_FLUSH))
        else:
            out.append(_stored(data[start:end]))
        start = end
    return (b"".join(out),)  # many small stored pieces: one send is cheaper than a socket write each


_ISAL_MAX_LEVEL = 2  # ISA-L's level 3 gives different bytes on AVX2 and AVX-512 CPUs: zlib does levels >= 3
# sha256 of deflate_block(_probe()[32768:], _probe()[:32768], level, "isal"): ISA-L 2.32.1 makes these on
# x86-64 CPUs with SSE4.2, AVX, AVX2 and AVX-512 alike (checked under qemu; tests/transform/test_compress.py), others
# (no SSE4.2: a different hash) do not.
_ISAL_PROBE_DIGESTS = {
    1: "ac9ac7b2a33c0e50073f7a81ea6220c1401d7c9cc1b4953949fd6cf7b3d40b7a",
    2: "a2525f28a8e5b2c49d079902bbb7523ce3b2d60609671e0d0ffc86cbaceeeb3f",
}
_backend: Optional[str] = None


def _probe() -> bytes:
    """192 KiB of fixed, text-like input with a stretch of noise (the same on every platform)."""
    words = [hashlib.sha256(b"w%d" % i).hexdigest()[:3 + i % 9].encode() for i in range(256)]
    stream = b"".join(hashlib.sha256(b"s%d" % i).digest() for i in range(1024))
    text = b" ".join(map(words.__getitem__, stream))
    return text[:96 << 10] + stream[:16 << 10] + text[-(80 << 10):]


def _isal_version() -> str:
    import isal

    return str(isal.ISAL_VERSION)


def gzip_backend() -> str:
    """``"isal"`` when ISA-L is installed and reproduces the recorded probe bytes here, else ``"zlib"``."""
    global _backend
    if _backend is None:
        _backend = ZLIB
        if os.environ.get("PYPUSH_GZIP", "").lower() != ZLIB:
            try:
                probe = _probe()
                ok = all(hashlib.sha256(deflate_block(probe[_WINDOW:], probe[:_WINDOW], lvl, ISAL)).hexdigest()
                         == digest for lvl, digest in _ISAL_PROBE_DIGESTS.items())
                _backend = ISAL if ok and _ISAL_PROBE_DIGESTS else ZLIB
            except ImportError:
                pass
    return _backend


def _gzip_header(level: int) -> bytes:
    xfl = 4 if level <= 1 else 2 if level == 9 else 0
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes((xfl, 255))


class _Reader(io.RawIOBase):
    """Common file-like surface: ``read(n)`` serves from ``_next()`` results; ``close()`` frees."""

    def __init__(self) -> None:
        super().__init__()
        self._buf = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes:  # pragma: no cover - abstract
        """The next piece of output; ``b""`` at the end."""
        raise NotImplementedError

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` compressed bytes (all the rest when ``n < 0``); ``b""`` at the end."""
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while self._pos >= len(self._buf):
            if self.closed:
                raise ValueError("read from a closed compressor")
            piece = self._next()
            if not piece:
                return b""
            if len(piece) <= n:
                return piece
            self._buf, self._pos = memoryview(piece), 0
        chunk = bytes(self._buf[self._pos:self._pos + n])
        self._pos += len(chunk)
        return chunk

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)


class ParallelGzipReader(_Reader):
    """Reproducible gzip of ``source`` compressed on ``threads`` threads (default: every core).

    Memory stays below about ``2 * threads + 2`` blocks of input plus their output. Errors raised by
    ``source.read`` (e.g. a digest mismatch at EOF) propagate from ``read`` before the last bytes.
    """

    def __init__(self, source: IO[bytes], level: Optional[int] = None, threads: Optional[int] = None):
        super().__init__()
        self._source = source
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pending: Deque[Future] = deque()
        self._ready: Deque[bytes] = deque()  # output pieces of a finished block, not yet read
        self._level = check_level(GZIP, level)
        self._backend = gzip_backend()
        self._crc32 = zlib.crc32
        if self._backend == ISAL:
            from isal import isal_zlib

            self._crc32 = isal_zlib.crc32  # the same CRC, ~4x faster (this runs on the reading thread)
        threads = threads or cpu_threads()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pypush-gzip")
        self._depth = 2 * threads + 1
        self._dictionary = b""
        self._crc = 0
        self._source_eof = False
        self._state = "header"
        self.bytes_in = 0  # uncompressed bytes read from the source so far

    def _top_up(self) -> None:
        while not self._source_eof and len(self._pending) < self._depth:
            data = read_full(self._source, GZIP_BLOCK_SIZE)
            if not data:
                self._source_eof = True
                return
            self._crc = self._crc32(data, self._crc)
            self.bytes_in += len(data)
            assert self._pool is not None
            self._pending.append(self._pool.submit(_deflate_pieces, data, self._dictionary, self._level, self._backend))
            self._dictionary = (self._dictionary + data[-_WINDOW:])[-_WINDOW:]
            if len(data) < GZIP_BLOCK_SIZE:
                self._source_eof = True

    def _next(self) -> bytes:
        while not self._ready:
            if self._state == "header":
                self._state = "body"
                self._top_up()
                self._ready.append(_gzip_header(self._level))
            elif self._state == "body" and self._pending:  # _top_up keeps it non-empty until the source ends
                self._ready.extend(piece for piece in self._pending.popleft().result() if piece)
                self._top_up()
            elif self._state == "body":
                self._state = "done"
                self._shutdown()
                self._ready.append(b"\x03\x00" + struct.pack("<II", self._crc & 0xFFFFFFFF, self.bytes_in & 0xFFFFFFFF))
            else:
                return b""
        return self._ready.popleft()

    def _shutdown(self) -> None:
        if self._pool is not None:
            for fut in self._pending:
                fut.cancel()
            self._pending.clear()
            self._pool.shutdown(wait=False)
            self._pool = None

    def close(self) -> None:
        """Stop the workers and close the source."""
        if not self.closed:
            self._shutdown()
            self._ready.clear()
            self._source.close()
        super().close()


class ZstdReader(_Reader):
    """Reproducible zstd of ``source`` through ``zstandard`` on ``threads`` worker threads.

    zstd's multi-threaded mode gives the same bytes for any number of workers >= 1 (but not the
    single-threaded mode, nor one-shot ``compress``), so at least one worker is always used. The job
    size is pinned (4 MiB): memory stays near 25 MiB a stream plus ~7 MiB a worker, output within 1 % of
    the default's. Without ``threads``, streams share the cores: a stream gets those that streams
    already running leave over, at least one (several layers at once need no more, and each worker
    costs memory).
    """

    _running = 0
    _running_lock = threading.Lock()

    def __init__(self, source: IO[bytes], level: Optional[int] = None, threads: Optional[int] = None,
                 read_size: int = 1 << 20):
        super().__init__()
        self._source = source
        self._cobj: Any = None
        zstandard = _zstandard()
        with ZstdReader._running_lock:
            params = zstandard.ZstdCompressionParameters.from_level(
                check_level(ZSTD, level), threads=max(1, threads or cpu_threads() - ZstdReader._running),
                job_size=_ZSTD_JOB_SIZE, write_checksum=1, write_content_size=0)
            ZstdReader._running += 1
        # compressobj, not stream_reader: its final flush waits for the last jobs with the GIL released
        # (stream_reader holds it there, stalling every other upload's thread at each layer's end)
        self._cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()
        self._read_size = read_size
        self._flushed = False

    def _next(self) -> bytes:
        while not self._flushed:
            data = self._source.read(self._read_size)
            if not data:
                self._flushed = True
                return cast(bytes, self._cobj.flush())
            out = self._cobj.compress(data)
            if out:
                return cast(bytes, out)
        return b""

    def close(self) -> None:
        """Free the compression context and close the source."""
        if not self.closed:
            self._cobj = None  # frees the context and its workers
            self._source.close()
            with ZstdReader._running_lock:
                ZstdReader._running -= 1
        super().close()


def compressing_reader(source: IO[bytes], algorithm: str, level: Optional[int] = None,
                       threads: Optional[int] = None) -> IO[bytes]:
    """A reader of ``source`` compressed with ``algorithm`` ("gzip" or "zstd")."""
    if algorithm == GZIP:
        return cast(IO[bytes], ParallelGzipReader(source, level, threads))
    if algorithm == ZSTD:
        return cast(IO[bytes], ZstdReader(source, level, threads))
    raise UsageError(f"unknown compression algorithm {algorithm!r} (expected gzip or zstd)")


class _GunzipReader(gzip.GzipFile):
    """gzip.GzipFile that also closes its source."""

    def __init__(self, source: IO[bytes]):
        super().__init__(fileobj=source, mode="rb")
        self._source = source

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._source.close()


class _DecodeErrors:
    """Reads ``reader`` (decompressing ``source``); a decoding error becomes a SourceError naming the blob,
    after ``source`` is read to its end so that bytes not matching their digest report that instead."""

    def __init__(self, reader: IO[bytes], source: IO[bytes], algorithm: str, errors: tuple):
        self._reader, self._source, self._algorithm, self._errors = reader, source, algorithm, errors

    def read(self, n: int = -1) -> bytes:
        try:
            return self._reader.read(n)
        except self._errors as e:
            while self._source.read(1 << 20):  # a VerifyingReader raises DigestMismatchError at EOF
                pass
            name = getattr(self._source, "name", "") or "layer"
            raise SourceError(f"{name}: not valid {self._algorithm} data: {e}") from None

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "_DecodeErrors":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decompressing_reader(source: IO[bytes], algorithm: str) -> IO[bytes]:
    """A reader of the plain bytes of ``source`` compressed with ``algorithm`` ("gzip" or "zstd");
    data that does not decompress raises SourceError."""
    if algorithm == GZIP:
        reader = cast(IO[bytes], _GunzipReader(source))
        return cast(IO[bytes], _DecodeErrors(reader, source, algorithm, (OSError, EOFError, zlib.error)))
    if algorithm == ZSTD:
        zstandard = _zstandard()
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        return cast(IO[bytes], _DecodeErrors(reader, source, algorithm, (zstandard.ZstdError,)))
    raise UsageError(f"unknown compression algorithm {algorithm!r}")
