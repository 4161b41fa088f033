"""Verify blobs ahead of their upload, on a core that would otherwise sit idle.

Before a push can send its first byte, the process spends 0.1–0.3 s on one core importing its
transport (requests, botocore) and asking the destination what it lacks. ``VerifyAhead`` hashes the
image's blobs meanwhile in a background thread (file reads and hashlib release the GIL), largest
first. When a blob's upload starts, the hash state so far is handed over: the upload sends every
byte but hashes only the rest, and checks the digest at the end as always. A blob found wrong here
fails the push as its upload would start, before any of its bytes are sent. A layer compressed on upload
has its plain input (``Blob.source``) hashed the same way; its compressor's reader resumes that hash.
"""
from __future__ import annotations

import io
import logging
import mmap
import threading
from typing import IO, Dict, Iterable, Optional, Set, Union, cast

from pypush.image.digest import HashPrefix, VerifyingReader
from pypush.errors import PypushError
from pypush.image.model import Blob
# Imported here, not in the hashing thread: a thread importing while the main thread imports requests can
# deadlock on the import locks (CPython 3.9 with urllib3 1.26's six importer did).
from pypush.net.zero_copy import file_range

PIECE = 1 << 20
"""Bytes hashed per step: a claim waits for the step under way to end; mapped pages already hashed leave
the resident set at the next step (the page cache keeps them), so a mapping holds one step (1 MiB keeps a
cold v2 push of big.oci under 30 MiB; 16 MiB steps cost ~8 MiB more, for no speed measured here)."""
CHECK_BUFFER = 128 << 10
"""BackgroundCheck's read buffer: it runs while uploads wait on sockets (the GIL is free), so small reads
cost little, and copies into one small buffer keep the resident set flat (a mapping's pages count)."""
HANDOVER_WAIT = 5.0
"""Seconds a claim waits at most for that (a stalled read): then the upload hashes the blob itself."""

log = logging.getLogger("pypush")


class VerifyAhead:
    """A background verifier of ``blobs`` (those whose bytes and digest are known up front)."""

    def __init__(self, blobs: Iterable[Blob]):
        todo = [b for b in blobs if _input(b).descriptor.digest and _input(b).descriptor.size > 0
                and (b.original is None or b.source is not None)]
        self._queue = sorted(todo, key=lambda b: -_input(b).descriptor.size)
        self._results: Dict[int, object] = {}  # id(blob) -> HashPrefix, or the PypushError it raised
        self._claimed: Set[int] = set()  # blobs this thread must leave alone
        self._current: Optional[int] = None  # the blob being hashed
        self._cond = threading.Condition()
        self._stop = threading.Event()

    def start(self) -> "VerifyAhead":
        """Start hashing in a daemon thread; returns self."""
        if self._queue:
            threading.Thread(target=self._run, name="pypush-verify-ahead", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop at the next step (does not wait for the thread)."""
        self._stop.set()

    def keep_only(self, blobs: Iterable[Blob]) -> None:
        """Leave every blob but these (those that must be uploaded) alone from now on."""
        keep = {id(b) for b in blobs}
        with self._cond:
            self._claimed.update(id(b) for b in self._queue if id(b) not in keep)

    def claim(self, blob: Blob) -> Optional[HashPrefix]:
        """Take over ``blob`` as its upload starts: what was hashed of it (all of it, verified, or a
        prefix), None when nothing was; raises the error its verification found. For a transformed blob
        that is its ``source``'s bytes (the compressor's input, hashed while the transport started)."""
        with self._cond:
            self._claimed.add(id(blob))
            self._cond.wait_for(lambda: self._current != id(blob), HANDOVER_WAIT)  # hand-over after this step
            result = self._results.pop(id(blob), None) if self._current != id(blob) else None
        if isinstance(result, PypushError):
            raise result
        hashed = cast(Optional[HashPrefix], result)
        if hashed is not None:
            log.debug("%s: %d of %d bytes verified ahead", blob.name or blob.descriptor.digest, hashed[0],
                      blob.descriptor.size)
        return hashed

    def _run(self) -> None:
        buffer = None
        for blob in self._queue:
            with self._cond:
                if self._stop.is_set():
                    return
                if id(blob) in self._claimed:
                    continue
                self._current = id(blob)
            result: object = None
            try:
                target = _input(blob)
                with target.open() as stream:
                    mapped = _Mapped.of(stream, target.descriptor.size)
                    if mapped is None and buffer is None:
                        buffer = memoryview(bytearray(PIECE))
                    source = stream if mapped is None else mapped
                    result = self._hash(blob, source, buffer if mapped is None else None)
            except PypushError as exc:
                result = exc
            except Exception:  # unreadable here: the upload reads it again and reports it properly
                pass
            with self._cond:
                self._results[id(blob)] = result
                self._current = None
                self._cond.notify_all()

    def _hash(self, blob: Blob, stream: Union["_Mapped", IO[bytes]], buffer: Optional[memoryview]) -> HashPrefix:
        """Hash ``stream`` (the bytes of ``_input(blob)``: into ``buffer`` when given, else by zero-copy reads)
        until EOF or a claim of ``blob``."""
        target = _input(blob)
        desc = target.descriptor
        with VerifyingReader(stream, desc.digest, desc.size, target.name) as reader:  # type: ignore[arg-type]
            while not (self._stop.is_set() or id(blob) in self._claimed):
                if not (reader.read(PIECE) if buffer is None else reader.readinto(buffer)):
                    break  # EOF: verified (or raised)
            return reader.hash_prefix()


def _input(blob: Blob) -> Blob:
    """The blob whose bytes an upload of ``blob`` reads from the source: its ``source`` when transformed."""
    return blob.source if blob.source is not None else blob


class BackgroundCheck:
    """Verify one blob on another thread while its bytes leave by other means (sendfile): read from the page
    cache into one small buffer and hashed, resuming what VerifyAhead hashed (``blob.hashed``)."""

    def __init__(self, blob: Blob):
        self._blob = blob
        self._error: Optional[BaseException] = None
        self._verified = False
        self._thread = threading.Thread(target=self._run, name="pypush-verify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        desc = self._blob.descriptor
        try:
            buffer = memoryview(bytearray(CHECK_BUFFER))
            with VerifyingReader(self._blob.open(), desc.digest, desc.size, self._blob.name,
                                 self._blob.hashed) as reader:
                reader.skip_hashed()
                while reader.readinto(buffer):
                    pass
            self._verified = True
        except BaseException as exc:  # reported to the uploading thread by result()
            self._error = exc

    def result(self) -> None:
        """Wait for the check; raise what it found (DigestMismatchError when the bytes are wrong)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if not self._verified:  # never pass a blob whose check did not run to its end
            raise PypushError(f"{self._blob.name or self._blob.descriptor.digest}: its digest check did not finish")


class _Mapped(io.RawIOBase):
    """Zero-copy reads of a file range: ``read`` returns views of one read-only mapping, and pages
    already read leave the process's resident set (the page cache keeps them).

    Hashing from a mapping needs the GIL once per piece instead of twice (read, then hash), which
    is what lets this thread keep pace while the main thread imports. Only this short-lived thread
    maps files: a file truncated in place while mapped would fault the process (tools replace
    image files by renaming, which leaves a mapping intact)."""

    def __init__(self, fd: int, offset: int, size: int):
        super().__init__()
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        self._map = mmap.mmap(fd, offset - start + size, access=mmap.ACCESS_READ, offset=start)
        self._view = memoryview(self._map)
        self._pos = self._done = offset - start

    @classmethod
    def of(cls, stream: IO[bytes], size: int) -> Optional["_Mapped"]:
        """The rest of ``stream`` (up to ``size`` + 1 bytes, so that an overlong blob shows) when it is a
        plain file or a tar member of one; None otherwise."""
        found = file_range(stream)
        if found is None:
            return None
        fd, offset, left = found
        try:
            length = min(left, size + 1)
            return cls(fd, offset, length) if length > 0 else None
        except (OSError, ValueError, OverflowError):  # not mappable (pipe, FUSE, 32-bit address space)
            return None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> Union[memoryview, bytes]:
        behind = self._pos - self._pos % mmap.PAGESIZE  # every byte before the new piece has been used
        end = len(self._view) if n is None or n < 0 else min(len(self._view), self._pos + n)
        piece = self._view[self._pos:end]
        self._pos = end
        if behind > self._done and hasattr(self._map, "madvise"):
            start = self._done - self._done % mmap.PAGESIZE
            self._map.madvise(mmap.MADV_DONTNEED, start, behind - start)
            self._done = behind
        return piece

    def close(self) -> None:
        if not self.closed and hasattr(self, "_view"):  # not when __init__ failed to map the file
            try:
                self._view.release()
                self._map.close()
            except BufferError:  # a view is still alive somewhere: the mapping goes with it
                pass
        super().close()
