"""One server per data directory: an OS lock on ``DIR/pypush-serve.lock``, which holds the owner's pid.

The lock is the operating system's (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows, both in the
standard library), so it dies with its process, ``kill -9`` included: a lock file left by a killed server
is simply taken over. The file is never deleted (deleting it would let two servers lock two files).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional, Union

from pypush.errors import UsageError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

LOCK_NAME = "pypush-serve.lock"
_WINDOWS_LOCK_OFFSET = 1 << 16
"""Windows locks a byte range against reading too: lock one byte far past the pid, which stays readable."""


class DataDirInUse(UsageError):
    """Another live server holds the data directory (exit 2)."""


class DataDirLock:
    """The exclusive claim of one server on ``data_dir``; ``acquire()`` then ``release()`` (or ``with``)."""

    def __init__(self, data_dir: Union[str, "os.PathLike[str]"]):
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: Optional[int] = None

    def acquire(self) -> "DataDirLock":
        """Take the lock or raise DataDirInUse naming the process that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UsageError(f"{self.path}: cannot open the lock file ({e.strerror or e})") from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise DataDirInUse(f"{self.path.parent} is in use by {_owner(self.path)}: stop it or serve "
                               f"another --data directory") from None
        record = f"{os.getpid()} {socket.gethostname()}\n".encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, record)
        os.ftruncate(fd, len(record))
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the directory up (the pid is cleared; the file stays)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(fd: int) -> None:
    """Lock without waiting; OSError when another process (or open file) holds it."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    elif msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _owner(path: Path) -> str:
    """``another pypush serve (pid N on HOST)`` from the lock file, as far as it says."""
    try:
        pid, _, host = path.read_text(encoding="utf-8", errors="replace").strip().partition(" ")
    except OSError:
        pid, host = "", ""
    if not pid.isdigit():
        return "another pypush serve"
    if int(pid) == os.getpid() and host in ("", socket.gethostname()):
        return f"another endpoint of this process (pid {pid})"
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"another pypush serve (pid {pid}{where})"
