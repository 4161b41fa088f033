"""What a new layer is made of (``Layer``) and the layer once made (``BuiltLayer``: a tar file on disk,
its digest and diff_id).

A layer is either a tree — directories, files and in-memory bytes placed at target paths inside the
image — written reproducibly by :mod:`pypush.assemble.layer_tar`, or an existing tarball (taken as it is,
or re-rooted under a directory). Every path is checked when the layer is made, before anything is
uploaded.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Tuple, Union

from pypush.assemble.layer_tar import FILE_MODE, HashingWriter, LayerTree, target_parts
from pypush.assemble.tarball_layer import inspect_tarball, is_tarball_name, rewrite_tarball
from pypush.errors import SourceError, UsageError
from pypush.image.model import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, Blob, Descriptor

PathLike = Union[str, "os.PathLike[str]"]
FileSource = Union[PathLike, bytes]
_MEDIA_TYPES = {"": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


@dataclass
class Layer:
    """A recipe for one layer. Build it with the class methods, or chain ``add_path``/``add_bytes``:

    >>> Layer.directory("build/app", "/app")                       # the directory's contents under /app
    >>> Layer.files({"/usr/local/bin/tool": "dist/tool", "/etc/tool.conf": b"level = 3\\n"})
    >>> Layer.tarball("rootfs.tar.gz")                             # an existing tarball, as it is
    """

    paths: List[Tuple[str, str]] = field(default_factory=list)  # (host path, target in the image)
    data: List[Tuple[str, bytes, int]] = field(default_factory=list)  # (target, bytes, mode)
    tarball: Optional[Tuple[str, Optional[str]]] = None  # (path, target directory or None: as it is)

    @classmethod
    def directory(cls, path: PathLike, target: str = "/") -> "Layer":
        """The contents of directory ``path`` under ``target``."""
        return cls().add_path(path, target)

    @classmethod
    def files(cls, mapping: Mapping[str, FileSource]) -> "Layer":
        """Each target path holding a host file or directory (a path) or bytes."""
        layer = cls()
        for target, source in mapping.items():
            if isinstance(source, (bytes, bytearray, memoryview)):
                layer.add_bytes(target, bytes(source))
            else:
                layer.add_path(source, target)
        return layer

    @classmethod
    def from_tarball(cls, path: PathLike, target: Optional[str] = None) -> "Layer":
        """An existing tarball (plain, gzip or zstd): its bytes as they are, or its members under ``target``."""
        return cls(tarball=(os.fspath(path), target if target not in (None, "", "/") else None))

    @classmethod
    def from_path(cls, path: PathLike, target_dir: str = "/") -> "Layer":
        """What ``--layer PATH[:DEST_DIR]`` means: a directory's contents under ``target_dir``, a tarball
        (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.zst``) as a layer (its members under ``target_dir`` when one is
        given), any other file as ``target_dir/NAME``."""
        path = os.fspath(path)
        if not os.path.lexists(path):
            raise SourceError(f"{path}: no such file or directory")
        if os.path.isdir(path):
            return cls.directory(path, target_dir)
        if is_tarball_name(path):
            return cls.from_tarball(path, target_dir)
        return cls().add_path(path, posixpath.join(target_dir or "/", os.path.basename(path)))

    @classmethod
    def parse(cls, spec: str) -> "Layer":
        """``PATH[:DEST_DIR]`` as the command line writes it (a PATH that exists as written wins)."""
        if os.path.lexists(spec) or ":" not in spec:
            return cls.from_path(spec)
        path, _, target = spec.rpartition(":")
        if not path:
            raise UsageError(f"--layer {spec!r}: no path before ':'")
        return cls.from_path(path, target or "/")

    @classmethod
    def coerce(cls, value: Union["Layer", PathLike, Mapping[str, FileSource]]) -> "Layer":
        """A Layer from what ``pypush.build(layers=[...])`` accepts: a Layer, a path (as ``from_path``), or a
        mapping of target paths to host paths or bytes (as ``files``)."""
        if isinstance(value, Layer):
            return value
        if isinstance(value, Mapping):
            return cls.files(value)
        if isinstance(value, (str, os.PathLike)):
            return cls.from_path(value)
        raise UsageError(f"a layer is a path, a mapping of target paths, or pypush.Layer, not {type(value).__name__}")

    def add_path(self, path: PathLike, target: str) -> "Layer":
        """Place a host file, link or directory (its contents) at ``target``."""
        path = os.fspath(path)
        target_parts(target, path)
        self.paths.append((path, target))
        return self

    def add_bytes(self, target: str, data: bytes, mode: int = FILE_MODE) -> "Layer":
        """A file at ``target`` holding ``data`` with permission bits ``mode``."""
        target_parts(target, f"bytes for {target}")
        self.data.append((target, bytes(data), mode))
        return self

    def description(self) -> str:
        """What the layer holds, by target paths only (no host paths), for its history entry."""
        if self.tarball is not None:
            return f"tarball {os.path.basename(self.tarball[0])}" + (f" at {self.tarball[1]}" if self.tarball[1] else "")
        targets = ["/" + "/".join(target_parts(t, t)) for t, *_ in self.data] + [
            "/" + "/".join(target_parts(t, t)) for _, t in self.paths]
        text = ", ".join(dict.fromkeys(targets))
        return text if len(text) <= 200 else text[:197] + "..."

    def check(self) -> None:
        """Refuse missing paths (SourceError) before any work."""
        for path in [p for p, _ in self.paths] + ([self.tarball[0]] if self.tarball else []):
            if not os.path.lexists(path):
                raise SourceError(f"{path}: no such file or directory")
        if self.tarball is None and not self.paths and not self.data:
            raise UsageError("an empty layer: give it files, a directory or a tarball")

    def build(self, workdir: str, mtime: int = 0, owner: Tuple[int, int] = (0, 0)) -> "BuiltLayer":
        """Write the layer into ``workdir``; returns where it is and its digests."""
        self.check()
        created_by = f"pypush: {self.description()}"
        if self.tarball is not None and self.tarball[1] is None:
            kind, digest, size, diff_id = inspect_tarball(self.tarball[0])
            return BuiltLayer(self.tarball[0], _MEDIA_TYPES[kind], digest, size, diff_id, created_by)
        tree = LayerTree()
        if self.tarball is None:
            for target, data, mode in self.data:
                tree.add_bytes(target, data, mode)
            for path, target in self.paths:
                tree.add_path(path, target)
        fd, tmp = tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=workdir)
        with os.fdopen(fd, "wb") as f:
            out = HashingWriter(f)
            if self.tarball is not None:
                rewrite_tarball(self.tarball[0], self.tarball[1] or "/", out, mtime)
            else:
                tree.write(out, mtime, owner)
        return BuiltLayer(tmp, OCI_LAYER, out.digest, out.size, out.digest, created_by)


@dataclass(frozen=True)
class BuiltLayer:
    """A made layer: the file holding its bytes, their media type, digest and size, and its diff_id."""

    path: str
    media_type: str
    digest: str
    size: int
    diff_id: str
    created_by: str

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)

    def blob(self) -> Blob:
        """The layer as a blob to push (opened afresh at each read)."""
        path = self.path
        return Blob(descriptor=self.descriptor, open=lambda: open(path, "rb"), name=f"new layer ({self.created_by[8:]})")
