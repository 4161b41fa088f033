"""Members of an uncompressed tar archive, read in place.

The archive is indexed once (names, data offsets, sizes, links); a member then opens as a bounded
reader over its own file handle at the member's data offset, so openers are thread-safe and nothing
is extracted. Member names that escape the archive, links that resolve outside it and truncated
archives raise SourceError.
"""
from __future__ import annotations

import io
import os
import posixpath
import tarfile
from typing import IO, Callable, Dict, List, Optional, Tuple, cast

from pypush.errors import SourceError
from pypush.sources.tree import Tree, open_or_fail

_MAX_LINK_HOPS = 40
_BLOCK = 512


class MemberReader(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``offset`` of the file at ``path``."""

    def __init__(self, path: str, offset: int, size: int):
        super().__init__()
        self._f = open(path, "rb")
        self._offset, self._size, self._pos = offset, size, 0
        self._f.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._pos
        if n is None or n < 0 or n > remaining:
            n = remaining
        if n <= 0:
            return b""
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + pos)
        self._f.seek(self._offset + min(self._pos, self._size))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def file_range(self) -> Tuple[int, int, int]:
        """(file descriptor, offset in the file, bytes left) of the rest of this member."""
        return self._f.fileno(), self._offset + self._pos, self._size - self._pos

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


class TarTree(Tree):
    """The members of the tar at ``path``, indexed once; ``label`` names it in messages (default: ``path``)."""

    def __init__(self, path: str, label: Optional[str] = None):
        self.label = label or path
        self._path = path
        self._files: Dict[str, Tuple[int, int]] = {}  # name -> (data offset, size)
        self._links: Dict[str, Tuple[str, bool]] = {}  # name -> (target, is_symlink)
        self._index()

    @property
    def names(self) -> List[str]:
        """Names of the regular files and links in the archive."""
        return sorted({*self._files, *self._links})

    def _index(self) -> None:
        try:
            file_size = os.path.getsize(self._path)
            with open(self._path, "rb") as f, tarfile.open(fileobj=f, mode="r:") as tar:
                for info in tar:
                    self._add(info, file_size)
                end = tar.offset
                f.seek(end)
                trailer = f.read(_BLOCK)
        except tarfile.ReadError as e:
            raise SourceError(f"{self.label}: truncated or corrupt tar: {e}") from None
        except OSError as e:
            raise SourceError(f"{self.label}: cannot read ({e.strerror or e})") from None
        if len(trailer) == _BLOCK and trailer.count(0) != _BLOCK:  # tarfile stops at a header it cannot parse
            raise SourceError(f"{self.label}: corrupt tar (invalid member header at byte {end})")
        if len(trailer) < _BLOCK:
            raise SourceError(f"{self.label}: truncated tar (no end-of-archive marker at byte {end})")

    def _add(self, info: tarfile.TarInfo, file_size: int) -> None:
        name = _clean(info.name, self.label)
        if info.isreg():
            if info.issparse():
                raise SourceError(f"{self.label}: sparse tar member {name} is not supported")
            if info.offset_data + info.size > file_size:
                raise SourceError(f"{self.label}: truncated tar (member {name} needs {info.size} bytes "
                                  f"at byte {info.offset_data}, the file has {file_size})")
            self._files[name] = (info.offset_data, info.size)
            self._links.pop(name, None)
        elif info.islnk() and "/".join(x for x in info.linkname.split("/") if x not in ("", ".")) == name:
            return  # the same file archived twice (tar stores the repeat as a hard link to itself)
        elif info.issym() or info.islnk():
            self._links[name] = (info.linkname, info.issym())
            self._files.pop(name, None)

    def _resolve(self, rel: str) -> str:
        """``rel`` with every symlink and hard link in it followed, inside the archive."""
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        hops, i = 0, 0
        while i < len(parts):
            prefix = "/".join(parts[: i + 1])
            link = self._links.get(prefix)
            if link is None:
                i += 1
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise SourceError(f"{self.name(rel)}: too many levels of links")
            target, is_symlink = link
            if target.startswith("/"):
                raise SourceError(f"{self.name(prefix)}: link points outside the archive (to {target})")
            base = posixpath.dirname(prefix) if is_symlink else ""
            joined = posixpath.normpath(posixpath.join(base, target))
            if joined == ".." or joined.startswith("../"):
                raise SourceError(f"{self.name(prefix)}: link points outside the archive (to {target})")
            parts = [p for p in joined.split("/") if p not in ("", ".")] + parts[i + 1:]
            i = 0
        return "/".join(parts)

    def _lookup(self, rel: str) -> Optional[Tuple[int, int]]:
        return self._files.get(self._resolve(rel))

    def size(self, rel: str) -> Optional[int]:
        entry = self._lookup(rel)
        return None if entry is None else entry[1]

    def opener(self, rel: str) -> Callable[[], IO[bytes]]:
        entry = self._lookup(rel)
        if entry is None:
            raise SourceError(f"{self.name(rel)}: member is missing")
        path, (offset, size), name = self._path, entry, self.name(rel)
        return lambda: open_or_fail(lambda: cast(IO[bytes], MemberReader(path, offset, size)), name)

    def name(self, rel: str) -> str:
        return f"{self.label}:{rel}"


def _clean(name: str, label: str) -> str:
    """A member name without './' or a trailing '/'; SourceError when it is absolute or climbs out."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise SourceError(f"{label}: tar member name escapes the archive: {name!r}")
    return "/".join(parts)


def is_tar(path: str) -> bool:
    """True when ``path`` starts with a tar header (checked by its checksum, as tarfile does)."""
    try:
        with open(path, "rb") as f:
            block = f.read(_BLOCK)
    except OSError:
        return False
    if len(block) < _BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True
