"""Reproducible layer tarballs: a deterministic tar writer and the entries of a layer.

The bytes depend only on the entries (names, kinds, permission bits, contents, link targets) and the
settings (mtime, owner), never on the host, the Python version or the order the file system lists
things in:

- entries sorted by path component (a directory right before what it holds), every parent directory
  present (mode 0755 unless given), names relative (``app/main.py``, directories ``app/``);
- mtime from ``SOURCE_DATE_EPOCH`` (default 0), uid/gid 0 (or the ``chown`` asked for), no user or
  group names, permission bits kept, symlinks kept as links, hard links inside a layer as tar links;
- USTAR headers (long names split into the prefix field) whenever a name fits and is ASCII, else a
  PAX extended header before the entry (``path``/``linkpath``/``size`` records as needed).

The tar is written to a temporary file (never held whole in memory) while its sha256 — the layer's
diff_id — is computed.
"""
from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, Dict, List, Optional, Protocol, Tuple

from pypush.errors import SourceError, UsageError

BLOCK = 512
DIR_MODE = 0o755
FILE_MODE = 0o644
_READ = 1 << 20

# tar type flags
REG, HARDLINK, SYMLINK, CHR, BLK, DIRTYPE, FIFO, PAX = b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"x"


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` as an integer (0 when unset); UsageError when it is not one."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        epoch = int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds") from None
    if epoch < 0:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is negative")
    return epoch


def target_parts(path: str, what: str) -> Tuple[str, ...]:
    """The components of a path inside the image (``/usr/local/bin`` → ``("usr", "local", "bin")``).

    Leading ``/`` and ``.`` components are dropped; ``..`` (which could escape the root), backslashes and
    NUL are refused with a UsageError naming ``what``.
    """
    if "\x00" in path or "\\" in path:
        raise UsageError(f"{what}: target path {path!r} holds a NUL or a backslash")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UsageError(f"{what}: target path {path!r} escapes the image root ('..')")
    return parts


class Writable(Protocol):
    """Where a tar goes: anything with ``write``."""

    def write(self, data: bytes) -> int: ...


@dataclass
class Entry:
    """One member of a layer: ``kind`` is ``dir``, ``file``, ``symlink``, ``fifo``, ``chr`` or ``blk``."""

    kind: str
    mode: int
    source: Optional[str] = None  # a file on the host whose bytes to copy
    data: Optional[bytes] = None  # or the bytes themselves
    size: int = 0
    linkname: str = ""
    device: Tuple[int, int] = (0, 0)
    inode: Optional[Tuple[int, int]] = None  # (st_dev, st_ino) of a file with several links
    what: str = ""  # where it came from, for messages
    implied: bool = False  # a parent directory nobody named


@dataclass
class LayerTree:
    """The entries of one layer by path (component tuples); add sources, then ``write`` the tar."""

    entries: Dict[Tuple[str, ...], Entry] = field(default_factory=dict)

    def _parents(self, parts: Tuple[str, ...]) -> None:
        for i in range(1, len(parts)):
            prefix = parts[:i]
            have = self.entries.get(prefix)
            if have is None:
                self.entries[prefix] = Entry("dir", DIR_MODE, implied=True)
            elif have.kind != "dir":
                raise UsageError(f"{'/'.join(prefix)} is a {have.kind} in this layer ({have.what}), "
                                 f"but {'/'.join(parts)} needs it to be a directory")

    def put(self, parts: Tuple[str, ...], entry: Entry) -> None:
        """Place ``entry`` at ``parts`` (its parents implied as 0755 directories)."""
        if not parts:
            if entry.kind != "dir":
                raise UsageError(f"{entry.what}: cannot place a {entry.kind} at the image root")
            return  # the root itself is never an entry
        self._parents(parts)
        have = self.entries.get(parts)
        if have is not None and not (have.kind == "dir" and entry.kind == "dir"):
            if not have.implied:
                raise UsageError(f"/{'/'.join(parts)} is given twice in one layer ({have.what} and {entry.what})")
            if have.kind == "dir" and entry.kind != "dir":
                raise UsageError(f"/{'/'.join(parts)} is a directory in this layer, but {entry.what} is a "
                                 f"{entry.kind}")
        if have is not None and have.kind == "dir" and entry.kind == "dir" and entry.implied:
            return
        self.entries[parts] = entry

    def add_bytes(self, target: str, data: bytes, mode: int = FILE_MODE) -> None:
        """A file at ``target`` holding ``data``."""
        what = f"bytes for {target}"
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise UsageError(f"{what}: want bytes, got {type(data).__name__}")
        self.put(target_parts(target, what), Entry("file", mode & 0o7777, data=bytes(data), size=len(data),
                                                   what=what))

    def add_path(self, path: str, target: str) -> None:
        """The file, link or directory ``path`` placed at ``target`` (a directory's contents go under
        ``target``, which gets mode 0755: private build directories must not make the image unreadable)."""
        parts = target_parts(target, path)
        try:
            st = os.stat(path)  # the path named is followed; links below it are kept as links
        except FileNotFoundError:
            raise SourceError(f"{path}: no such file or directory") from None
        except OSError as e:
            raise SourceError(f"{path}: {e.strerror or e}") from None
        if stat.S_ISDIR(st.st_mode):
            self.put(parts, Entry("dir", DIR_MODE, what=path))
            self._walk(path, parts)
        else:
            self.put(parts, _entry(path, st))

    def _walk(self, top: str, parts: Tuple[str, ...]) -> None:
        try:
            items = sorted(os.scandir(top), key=lambda d: d.name)
        except OSError as e:
            raise SourceError(f"{top}: {e.strerror or e}") from None
        for item in items:
            name = item.name
            if "\\" in name and os.sep == "/":
                raise SourceError(f"{item.path}: a backslash in a file name is not portable into an image")
            try:
                st = item.stat(follow_symlinks=False)
            except OSError as e:
                raise SourceError(f"{item.path}: {e.strerror or e}") from None
            if stat.S_ISSOCK(st.st_mode):
                continue  # a socket cannot be archived (as tar does)
            child = parts + (name,)
            entry = _entry(item.path, st)
            self.put(child, entry)
            if entry.kind == "dir":
                self._walk(item.path, child)

    def write(self, out: Writable, mtime: int = 0, owner: Tuple[int, int] = (0, 0)) -> None:
        """Write the layer tar to ``out`` (entries sorted, end-of-archive blocks included)."""
        writer = TarWriter(out)
        seen_inodes: Dict[Tuple[int, int], str] = {}
        for parts in sorted(self.entries):
            entry = self.entries[parts]
            name = "/".join(parts)
            if entry.kind == "dir":
                writer.add(name + "/", DIRTYPE, entry.mode, mtime, owner)
            elif entry.kind == "symlink":
                writer.add(name, SYMLINK, entry.mode, mtime, owner, linkname=entry.linkname)
            elif entry.kind in ("fifo", "chr", "blk"):
                flag = {"fifo": FIFO, "chr": CHR, "blk": BLK}[entry.kind]
                writer.add(name, flag, entry.mode, mtime, owner, device=entry.device)
            elif entry.inode is not None and entry.inode in seen_inodes:
                writer.add(name, HARDLINK, entry.mode, mtime, owner, linkname=seen_inodes[entry.inode])
            else:
                if entry.inode is not None:
                    seen_inodes[entry.inode] = name
                if entry.data is not None:
                    writer.add(name, REG, entry.mode, mtime, owner, size=entry.size, data=entry.data)
                else:
                    assert entry.source is not None
                    writer.add_file(name, entry.source, entry.size, entry.mode, mtime, owner)
        writer.close()


def _entry(path: str, st: os.stat_result) -> Entry:
    """The entry for ``path`` from its lstat."""
    mode = stat.S_IMODE(st.st_mode)
    if os.name == "nt":  # no exec bits on Windows: as docker build does, everything is 0755
        mode = DIR_MODE
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", mode, what=path)
    if stat.S_ISLNK(st.st_mode):
        return Entry("symlink", 0o777, linkname=os.readlink(path).replace(os.sep, "/"), what=path)
    if stat.S_ISREG(st.st_mode):
        inode = (st.st_dev, st.st_ino) if st.st_nlink > 1 and st.st_ino else None
        return Entry("file", mode, source=path, size=st.st_size, inode=inode, what=path)
    if stat.S_ISFIFO(st.st_mode):
        return Entry("fifo", mode, what=path)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        kind = "chr" if stat.S_ISCHR(st.st_mode) else "blk"
        return Entry(kind, mode, device=(os.major(st.st_rdev), os.minor(st.st_rdev)), what=path)
    raise SourceError(f"{path}: not a file, directory or link")


class TarWriter:
    """Writes tar members with deterministic headers (see the module docstring) to ``out``."""

    def __init__(self, out: Writable):
        self.out = out

    def add(self, name: str, flag: bytes, mode: int, mtime: int, owner: Tuple[int, int], *, size: int = 0,
            linkname: str = "", device: Tuple[int, int] = (0, 0), data: Optional[bytes] = None) -> None:
        """One member; a regular file's ``data`` (``size`` bytes) follows, padded to a block."""
        self.out.write(header(name, flag, mode, mtime, owner, size, linkname, device))
        if data is not None:
            self.out.write(data)
            self._pad(len(data))

    def add_file(self, name: str, source: str, size: int, mode: int, mtime: int, owner: Tuple[int, int]) -> None:
        """A regular file member copied from ``source``, which must still be ``size`` bytes long."""
        self.out.write(header(name, REG, mode, mtime, owner, size))
        try:
            with open(source, "rb") as f:
                left = size
                while left:
                    chunk = f.read(min(_READ, left))
                    if not chunk:
                        break
                    self.out.write(chunk)
                    left -= len(chunk)
                if left or f.read(1):
                    raise SourceError(f"{source}: changed size while being archived")
        except OSError as e:
            raise SourceError(f"{source}: {e.strerror or e}") from None
        self._pad(size)

    def copy_member(self, name: str, info: tarfile.TarInfo, stream: Optional[IO[bytes]], linkname: str) -> None:
        """A member read from another tar, renamed (its other metadata kept)."""
        flag = info.type if info.type in (REG, HARDLINK, SYMLINK, CHR, BLK, DIRTYPE, FIFO) else REG
        if info.type == tarfile.AREGTYPE or info.type == tarfile.CONTTYPE:
            flag = REG
        size = info.size if flag == REG else 0
        self.out.write(header(name, flag, info.mode & 0o7777, int(info.mtime), (info.uid, info.gid), size,
                              linkname, (info.devmajor, info.devminor)))
        if size:
            assert stream is not None
            left = size
            while left:
                chunk = stream.read(min(_READ, left))
                if not chunk:
                    raise SourceError(f"{name}: tar member truncated")
                self.out.write(chunk)
                left -= len(chunk)
            self._pad(size)

    def _pad(self, n: int) -> None:
        if n % BLOCK:
            self.out.write(b"\0" * (BLOCK - n % BLOCK))

    def close(self) -> None:
        """The end-of-archive marker (two zero blocks)."""
        self.out.write(b"\0" * (2 * BLOCK))


def _octal(value: int, width: int) -> Optional[bytes]:
    """``value`` as a NUL-terminated zero-padded octal field, or None when it does not fit."""
    text = b"%0*o" % (width - 1, value)
    return text + b"\0" if len(text) == width - 1 else None


def _split_ustar(name: bytes) -> Optional[Tuple[bytes, bytes]]:
    """(prefix, name) fitting USTAR's 155 + 100 bytes, split at the first slash that works, or None."""
    if len(name) <= 100:
        return b"", name
    for i, ch in enumerate(name):
        if ch == 0x2F and i <= 155 and 0 < len(name) - i - 1 <= 100:
            return name[:i], name[i + 1:]
    return None


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n += 1
    return str(n).encode() + body


def header(name: str, flag: bytes, mode: int, mtime: int, owner: Tuple[int, int], size: int = 0,
           linkname: str = "", device: Tuple[int, int] = (0, 0)) -> bytes:
    """The header block(s) of one member: USTAR, preceded by a PAX header when something does not fit."""
    try:
        raw_name, raw_link = name.encode("utf-8"), linkname.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceError(f"{name!r}: file name is not valid UTF-8") from None
    pax: List[bytes] = []
    split = _split_ustar(raw_name) if raw_name.isascii() else None
    if split is None:
        pax.append(_pax_record("path", name))
        split = (b"", raw_name[:99] if raw_name.isascii() else b"@PaxPath")
    if len(raw_link) > 100 or not raw_link.isascii():
        pax.append(_pax_record("linkpath", linkname))
        raw_link = b"@PaxLink"
    fields: Dict[str, bytes] = {}
    for key, value, width in (("size", size, 12), ("uid", owner[0], 8), ("gid", owner[1], 8), ("mtime", mtime, 12)):
        packed = _octal(value, width)
        if packed is None:
            pax.append(_pax_record(key, str(value)))
            packed = _octal(0, width)
        assert packed is not None
        fields[key] = packed
    blocks = b""
    if pax:
        body = b"".join(sorted(pax))
        blocks = _ustar(b"././@PaxHeader", PAX, 0o644, fields["mtime"], b"0000000\0", b"0000000\0",
                        _octal(len(body), 12) or b"", b"", b"", (0, 0)) + body + b"\0" * (-len(body) % BLOCK)
    return blocks + _ustar(split[1], flag, mode, fields["mtime"], fields["uid"], fields["gid"], fields["size"],
                           raw_link, split[0], device)


def _ustar(name: bytes, flag: bytes, mode: int, mtime: bytes, uid: bytes, gid: bytes, size: bytes, link: bytes,
           prefix: bytes, device: Tuple[int, int]) -> bytes:
    block = b"".join([
        name.ljust(100, b"\0"), _octal(mode & 0o7777, 8) or b"", uid, gid, size, mtime, b" " * 8, flag,
        link.ljust(100, b"\0"), b"ustar\x0000", b"\0" * 32, b"\0" * 32,
        _octal(device[0], 8) or b"0000000\0", _octal(device[1], 8) or b"0000000\0", prefix.ljust(155, b"\0"),
        b"\0" * 12])
    assert len(block) == BLOCK
    checksum = b"%06o\0 " % sum(block)
    return block[:148] + checksum + block[156:]


class HashingWriter:
    """A write-only stream that hashes and counts what goes through to ``out``."""

    def __init__(self, out: Writable):
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()

