"""Existing tarballs as layers: checked (no member escapes the root) and taken as they are, or
re-rooted under a target directory.

A tarball may be plain, gzip or zstd (as OCI layers are). Taken as it is, its bytes are the layer's:
one pass computes its digest and, through the decompressor, its diff_id, while every member name and
hard-link target is checked. Re-rooted, every member is written again under the target (names
prefixed, other metadata kept) by the deterministic writer of :mod:`pypush.assemble.layer_tar`.
"""
from __future__ import annotations

import hashlib
import tarfile
from typing import IO, Tuple

from pypush.assemble.layer_tar import DIR_MODE, DIRTYPE, HashingWriter, TarWriter, target_parts
from pypush.errors import SourceError
from pypush.transform.compress import GZIP, ZSTD, decompressing_reader

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd")
_MAGIC = {b"\x1f\x8b": GZIP, b"\x28\xb5\x2f\xfd": ZSTD}
_READ = 1 << 20


def is_tarball_name(path: str) -> bool:
    """Whether ``path`` is named like a layer tarball (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.zst``)."""
    return path.lower().endswith(TARBALL_SUFFIXES)


def compression_of(path: str) -> str:
    """``gzip``, ``zstd`` or ``""`` (plain) from the file's first bytes; SourceError for other kinds."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file or directory") from None
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror or e}") from None
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if head.startswith(b"BZh") or head.startswith(b"\xfd7zX"):
        raise SourceError(f"{path}: bzip2/xz tarballs cannot be layers (use a plain, gzip or zstd tar)")
    return ""


class _Hashing:
    """A reader that hashes what is read through it."""

    def __init__(self, stream: IO[bytes]):
        self.stream, self.hash, self.size = stream, hashlib.sha256(), 0
        self.name = getattr(stream, "name", "")  # what a decoding error names

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def close(self) -> None:
        self.stream.close()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _checked_name(path: str, name: str) -> str:
    """A member name, refused when it escapes the root."""
    what = f"{path}: member {name!r}"
    parts = target_parts(name, what)
    return "/".join(parts)


def inspect_tarball(path: str) -> Tuple[str, str, int, str]:
    """``(compression, digest, size, diff_id)`` of a tarball taken as it is; every member checked."""
    kind = compression_of(path)
    raw = _Hashing(open(path, "rb"))
    try:
        plain = _Hashing(decompressing_reader(raw, kind) if kind else raw)  # type: ignore[arg-type]
        _check_members(path, plain)
        while plain.read(_READ):  # the rest: end-of-archive blocks and padding
            pass
        while raw.read(_READ):  # bytes after the compressed stream, if any, are part of the blob
            pass
    finally:
        raw.close()
    return kind, raw.digest, raw.size, plain.digest


def _check_members(path: str, stream: "_Hashing") -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                _checked_name(path, member.name)
                if member.islnk():
                    _checked_name(path, member.linkname)
    except tarfile.TarError as e:
        raise SourceError(f"{path}: not a valid tar archive ({e})") from None


def rewrite_tarball(path: str, target: str, out: HashingWriter, mtime: int = 0) -> None:
    """Every member of the tarball at ``path`` written to ``out`` under directory ``target`` (whose
    directories get mode 0755 and ``mtime``; members keep their own metadata)."""
    prefix = target_parts(target, path)
    kind = compression_of(path)
    writer = TarWriter(out)
    for i in range(1, len(prefix) + 1):
        writer.add("/".join(prefix[:i]) + "/", DIRTYPE, DIR_MODE, mtime, (0, 0))
    with open(path, "rb") as f:
        stream = decompressing_reader(f, kind) if kind else f
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    parts = prefix + tuple(_checked_name(path, member.name).split("/"))
                    if parts == prefix:
                        continue  # the archive's own root entry ("./")
                    name = "/".join(p for p in parts if p) + ("/" if member.isdir() else "")
                    link = member.linkname
                    if member.islnk():
                        link = "/".join(prefix + (_checked_name(path, link),))
                    data = tar.extractfile(member) if member.isreg() else None
                    writer.copy_member(name, member, data, link)
        except tarfile.TarError as e:
            raise SourceError(f"{path}: not a valid tar archive ({e})") from None
    writer.close()
