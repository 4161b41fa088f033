"""Whole-archive compression: ``docker save img | gzip > img.tar.gz`` (or zstd, xz, bzip2) read as the tar it holds.

As skopeo does, the compression is told by its magic bytes and the archive is decompressed once, streaming
in 256 KiB pieces, into ``archive.tar`` in a private temporary directory (under ``$TMPDIR``), which is removed
when the source closes (also on error and Ctrl-C; at interpreter exit at the latest). gzip goes through ISA-L
(``isal``) when it is installed, else zlib; zstd through ``zstandard``; xz through lzma; bzip2 through bz2.
A corrupt or truncated stream raises a one-line SourceError naming the file.
"""
from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import shutil
import tempfile
import weakref
import zlib
from typing import IO, Any, Callable, Iterator, Optional, Tuple, Type

from pypush.errors import SourceError

log = logging.getLogger("pypush")

GZIP, ZSTD, XZ, BZIP2 = "gzip", "zstd", "xz", "bzip2"
_MAGIC: Tuple[Tuple[bytes, str], ...] = (
    (b"\x1f\x8b", GZIP), (b"\x28\xb5\x2f\xfd", ZSTD), (b"\xfd7zXZ\x00", XZ), (b"BZh", BZIP2))
_CHUNK = 256 << 10  # pieces that stay in the CPU cache: 1 MiB ones cost up to twice the CPU here


def sniff(head: bytes) -> Optional[str]:
    """The compression whose magic bytes ``head`` (the file's first bytes) starts with, else None."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


class _Anchor:
    """Lives as long as the interpreter: the copies' finalizers hang on it, so a copy is removed by ``remove``
    or at exit, never while blobs opened from it may still be read."""


_ANCHOR = _Anchor()


class Unpacked:
    """The decompressed copy of a compressed archive: ``path`` in a private temporary directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="pypush-archive-")
        self.path = os.path.join(self.dir, "archive.tar")
        self._finalizer = weakref.finalize(_ANCHOR, shutil.rmtree, self.dir, True)

    def remove(self) -> None:
        """Delete the directory (idempotent)."""
        self._finalizer()


def unpack(path: str, kind: str, label: Optional[str] = None) -> Unpacked:
    """Decompress the ``kind``-compressed file at ``path`` into a fresh temporary directory; messages name
    ``label`` (the path the user gave, when ``path`` is a copy of a stream), else ``path``."""
    name = label or path

    def fill(unpacked: Unpacked) -> None:
        log.debug("decompressing %s (%s) into %s", name, kind, unpacked.dir)
        try:
            with open(path, "rb") as src, open(unpacked.path, "wb") as out:
                for piece in _decoded(src, kind, name):
                    try:
                        out.write(piece)
                    except OSError as e:
                        raise SourceError(f"{name}: cannot decompress into {unpacked.dir} ({e.strerror or e}); "
                                          f"set TMPDIR to a directory with room") from None
        except OSError as e:
            raise SourceError(f"{name}: cannot read ({e.strerror or e})") from None

    return _filled(name, "decompress it", fill)


def _filled(name: str, what: str, fill: Callable[[Unpacked], None]) -> Unpacked:
    """A fresh Unpacked that ``fill`` writes (and raises for, naming ``name``); removed again when it fails."""
    try:
        copy = Unpacked()
    except OSError as e:
        raise SourceError(f"{name}: cannot make a temporary directory to {what} into ({e.strerror or e})") from None
    try:
        fill(copy)
    except BaseException:
        copy.remove()
        raise
    return copy


def _decoded(src: IO[bytes], kind: str, path: str) -> Iterator[bytes]:
    """The plain bytes of ``src``, piece by piece; SourceError naming ``path`` when the data is bad."""
    reader, errors = _reader(src, kind, path)
    try:
        while True:
            piece = reader(_CHUNK)
            if not piece:
                return
            yield piece
    except errors as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise SourceError(f"{path}: corrupt or truncated {kind}-compressed archive ({detail})") from None


_Errors = Tuple[Type[BaseException], ...]


def _reader(src: IO[bytes], kind: str, path: str) -> Tuple[Callable[[int], bytes], _Errors]:
    """``read(n)`` of the plain bytes and the exceptions that mean bad data."""
    if kind == ZSTD:
        return _zstd_reader(src, path)
    stream: Any
    errors: _Errors
    if kind == GZIP:
        try:
            from isal import igzip, isal_zlib

            stream = igzip.GzipFile(fileobj=src, mode="rb")
            errors = (isal_zlib.error, zlib.error)  # type: ignore[assignment]  # a class; isal's stub: an instance
        except ImportError:
            stream, errors = gzip.GzipFile(fileobj=src, mode="rb"), (zlib.error,)
    elif kind == XZ:
        stream, errors = lzma.LZMAFile(src), (lzma.LZMAError,)
    else:
        stream, errors = bz2.BZ2File(src), ()
    return stream.read, (EOFError, OSError, *errors)


def _zstd_reader(src: IO[bytes], path: str) -> Tuple[Callable[[int], bytes], _Errors]:
    """The frames of ``src`` decompressed one after another. zstandard's stream reader returns short data
    silently when the input ends inside a frame, so the frames are walked first (block headers only)."""
    try:
        import zstandard
    except ImportError as e:
        raise SourceError(f"{path}: zstd-compressed, and the zstandard package does not load on this Python "
                          f"({e}); decompress it first: unzstd") from None
    problem = zstd_frames_problem(src)
    if problem:
        raise SourceError(f"{path}: corrupt or truncated zstd-compressed archive ({problem})")
    src.seek(0)
    reader = zstandard.ZstdDecompressor().stream_reader(src, read_size=_CHUNK, read_across_frames=True)
    return reader.read, (zstandard.ZstdError,)


def zstd_frames_problem(f: IO[bytes]) -> str:
    """What is wrong with the zstd frames of the seekable ``f`` (RFC 8878: magic, header, block headers,
    checksum; skippable frames), judged from headers alone: "" when every frame is whole up to the end."""
    pos = 0
    while True:
        f.seek(pos)
        magic = f.read(4)
        if not magic:
            return "" if pos else "empty"
        if len(magic) < 4:
            return f"data ends inside a frame header at byte {pos}"
        if magic[1:] == b"\x2a\x4d\x18" and magic[0] & 0xF0 == 0x50:  # a skippable frame: size, then bytes
            length = f.read(4)
            if len(length) < 4:
                return f"data ends inside a frame header at byte {pos}"
            pos += 8 + int.from_bytes(length, "little")
        elif magic == b"\x28\xb5\x2f\xfd":
            desc = f.read(1)
            if not desc:
                return f"data ends inside a frame header at byte {pos}"
            d = desc[0]
            single = d >> 5 & 1
            fcs = (1 if single else 0, 2, 4, 8)[d >> 6]
            pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[d & 3] + fcs
            while True:
                f.seek(pos)
                head = f.read(3)
                if len(head) < 3:
                    return f"data ends inside a frame at byte {pos}"
                h = int.from_bytes(head, "little")
                kind, size = h >> 1 & 3, h >> 3
                if kind == 3:
                    return f"reserved block type at byte {pos}"
                pos += 3 + (1 if kind == 1 else size)
                if h & 1:
                    break
            pos += 4 if d & 4 else 0
        else:
            return f"not a zstd frame at byte {pos}"
        f.seek(0, os.SEEK_END)
        if f.tell() < pos:
            return f"data ends inside a frame at byte {f.tell()}"


__all__ = ["sniff", "spool", "unpack", "Unpacked", "GZIP", "ZSTD", "XZ", "BZIP2"]


def spool(path: str) -> Unpacked:
    """The bytes of the pipe at ``path`` (``docker save app | pypush push /dev/stdin …``, ``<(…)``) copied into a
    fresh temporary directory, so the archive can be indexed and its members read in any order."""
    def fill(spooled: Unpacked) -> None:
        log.debug("copying the stream %s into %s", path, spooled.dir)
        try:
            with open(path, "rb") as src, open(spooled.path, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        except OSError as e:
            raise SourceError(f"{path}: cannot copy the stream into {spooled.dir} ({e.strerror or e}); set TMPDIR "
                              f"to a directory with room") from None

    return _filled(path, "copy the stream", fill)
