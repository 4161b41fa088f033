"""File trees the readers look into: a directory on disk (here) or the members of a tar (tarfs.py).

A tree answers: does this relative path exist and how big is it, open it as a fresh stream, read a
small file whole, and how to name it in messages. Paths are '/'-separated and relative to the root.
Nothing ever escapes the root: symlinks that resolve outside it raise SourceError.
"""
from __future__ import annotations

import os
import stat
from types import ModuleType
from typing import IO, Callable, Optional

from pypush.errors import SourceError


class Tree:
    """Common base: subclasses implement ``size``, ``opener`` and ``name``."""

    label = ""  # the directory or archive path, for messages

    def size(self, rel: str) -> Optional[int]:
        """Size of the regular file at ``rel``, None when absent; SourceError when it is not usable."""
        raise NotImplementedError

    def opener(self, rel: str) -> Callable[[], IO[bytes]]:
        """A function opening a fresh binary stream of the file at ``rel`` (which must exist)."""
        raise NotImplementedError

    def name(self, rel: str) -> str:
        """Where ``rel`` is, for messages (``DIR/rel`` or ``ARCHIVE:rel``)."""
        raise NotImplementedError

    def read(self, rel: str, cap: int, what: str = "file") -> bytes:
        """The whole file at ``rel`` (at most ``cap`` bytes, else SourceError)."""
        size = self.size(rel)
        if size is None:
            raise SourceError(f"{self.name(rel)}: {what} is missing")
        if size > cap:
            raise SourceError(f"{self.name(rel)}: {what} of {size} bytes exceeds the {_mib(cap)} limit")
        try:
            with self.opener(rel)() as f:
                data = f.read(cap + 1)
        except OSError as e:
            raise SourceError(f"{self.name(rel)}: cannot read ({e.strerror or e})") from None
        if len(data) != size:
            raise SourceError(f"{self.name(rel)}: read {len(data)} bytes, expected {size} (file changed or truncated)")
        return data


class DirTree(Tree):
    """A directory on disk; symlinks may point anywhere inside it, never outside."""

    def __init__(self, root: str):
        stripped = root.rstrip(os.sep + (os.altsep or ""))
        self.label = stripped if stripped and not stripped.endswith(":") else root  # keep "/" and "C:\\"
        self._real_root = os.path.realpath(root)

    def _real(self, rel: str) -> Optional[str]:
        path = os.path.join(self.label, rel)
        if not os.path.lexists(path):
            return None
        real = os.path.realpath(path)
        if not is_within(real, self._real_root):
            raise SourceError(f"{self.name(rel)}: symlink points outside {self.label} (to {real})")
        return real

    def size(self, rel: str) -> Optional[int]:
        real = self._real(rel)
        if real is None:
            return None
        try:
            st = os.stat(real)
        except OSError as e:  # a dangling symlink inside the root
            raise SourceError(f"{self.name(rel)}: cannot read ({e.strerror or e})") from None
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"{self.name(rel)}: not a regular file")
        if not os.access(real, os.R_OK):
            raise SourceError(f"{self.name(rel)}: permission denied")
        return st.st_size

    def opener(self, rel: str) -> Callable[[], IO[bytes]]:
        real = self._real(rel)
        if real is None:
            raise SourceError(f"{self.name(rel)}: file is missing")
        name = self.name(rel)
        return lambda: open_or_fail(lambda: open(real, "rb"), name)

    def name(self, rel: str) -> str:
        return f"{self.label}/{rel}"


def is_within(path: str, root: str, paths: ModuleType = os.path) -> bool:
    """Whether the resolved ``path`` is ``root`` or below it, in the platform's own path syntax
    (``paths``: ``os.path``, or ``ntpath``/``posixpath`` to reason about another platform)."""
    path, root = paths.normcase(path), paths.normcase(root)
    try:
        return paths.commonpath([path, root]) == paths.commonpath([root])
    except ValueError:  # another drive, or a relative path beside an absolute one
        return False


def open_or_fail(open_: Callable[[], IO[bytes]], name: str) -> IO[bytes]:
    """``open_()``, with an OSError (the file vanished or became unreadable) turned into SourceError."""
    try:
        return open_()
    except OSError as e:
        raise SourceError(f"{name}: cannot open ({e.strerror or e})") from None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"
