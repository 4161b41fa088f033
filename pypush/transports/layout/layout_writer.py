"""A destination that writes an OCI image layout: ``oci:DIR[:TAG]`` (a directory) or
``oci-archive:FILE[:TAG]`` (a tar of one).

Nothing half-made is ever left under the destination's name:

- a new directory is written under a temporary name beside it and renamed into place by ``commit``;
- an existing layout gains the new blobs (each written to a temporary name, then renamed to its
  digest) and a new ``index.json`` (replaced atomically), so it stays valid at every moment;
- an archive is assembled in a temporary directory, written as ``FILE.pypush-*.tmp`` and renamed over
  FILE (an existing archive is replaced, as skopeo does).

Without ``commit`` (a failed or interrupted copy), ``close`` removes what was written. Manifests keep
their exact bytes, Docker schema 2 ones included (an OCI layout may hold them); the last manifest put is
the image, listed in index.json once per tag (``org.opencontainers.image.ref.name``), replacing entries
of the same name.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from pypush.errors import PypushError, SourceError, UsageError
from pypush.image.digest import VerifyingReader
from pypush.image.model import Blob, Descriptor
from pypush.net.stats import TransferStats
from pypush.image.parse import is_tag
from pypush.transports.base import ProgressFn, Transport

SCHEMES = ("oci", "oci-archive")
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = b'{"imageLayoutVersion": "1.0.0"}'
READ_SIZE = 1 << 20


@dataclass(frozen=True)
class LayoutTarget:
    """A parsed layout destination: the path, whether it is an archive, and the tag (if named)."""

    path: str
    archive: bool
    tag: Optional[str] = None

    @property
    def name(self) -> str:
        """As the user would write it."""
        return f"{'oci-archive' if self.archive else 'oci'}:{self.path}" + (f":{self.tag}" if self.tag else "")


def is_layout_destination(spec: str) -> bool:
    """Whether ``spec`` names a layout destination (``oci:…`` or ``oci-archive:…``)."""
    return spec.partition(":")[0] in SCHEMES and ":" in spec


def parse_layout_destination(spec: str) -> LayoutTarget:
    """``oci:DIR[:TAG]`` / ``oci-archive:FILE[:TAG]``; the text after the last ':' is the tag when it is a
    valid tag and the rest is not a bare drive letter (``oci:C:\\images``)."""
    scheme, _, body = spec.partition(":")
    if scheme not in SCHEMES or not body:
        raise UsageError(f"invalid layout destination {spec!r}: expected oci:DIR[:TAG] or oci-archive:FILE[:TAG]")
    path, tag = body, None
    head, sep, tail = body.rpartition(":")
    if sep and head and is_tag(tail) and not (len(head) == 1 and head.isalpha()):
        path, tag = head, tail
    return LayoutTarget(os.path.expanduser(path), scheme == "oci-archive", tag)


class LayoutTransport(Transport):
    """Writes blobs and manifests into an OCI image layout (the Transport contract, plus ``commit``)."""

    def __init__(self, target: LayoutTarget, tags: Sequence[str] = ()):
        self.target = target
        self.repository = target.name
        self.tags = list(dict.fromkeys([*([target.tag] if target.tag else []), *tags]))
        self.stats = TransferStats()
        self._lock = threading.Lock()
        self._root: Optional[Tuple[str, str, int]] = None  # (media type, digest, size) of the last manifest put
        self._dir = ""  # where blobs go: the staging directory, or the existing layout
        self._staging: Optional[str] = None  # a temporary directory to rename into place (or to tar)
        self._written: List[str] = []  # blob files added to an existing layout (removed if not committed)
        self._committed = False
        self._referrers: List[Dict[str, Any]] = []
        self._root_raw = b""  # index.json entries of manifests with a subject

    # ----- the Transport contract ----------------------------------------------------------------

    def prepare(self, create_repository: bool = False) -> None:
        """Choose where to write: into an existing layout directory, else a temporary one beside the target."""
        with self._writing():
            self._prepare()

    def _prepare(self) -> None:
        path = self.target.path
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UsageError(f"{self.target.name}: directory {parent} does not exist")
        if self.target.archive:
            if os.path.isdir(path):
                raise UsageError(f"{self.target.name}: {path} is a directory (use oci:{path} for a layout directory)")
        elif os.path.isdir(path) and os.listdir(path):
            if not os.path.isfile(os.path.join(path, "oci-layout")):
                raise UsageError(f"{self.target.name}: {path} is a directory that is not an OCI layout (no oci-layout "
                                 f"file); name a new or empty directory")
            self._dir = path
            os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
            return
        elif os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{self.target.name}: {path} exists and is not a directory")
        base = os.path.basename(os.path.abspath(path)) or "layout"
        self._staging = tempfile.mkdtemp(prefix=f".{base}.pypush-", suffix=".tmp", dir=parent)
        os.chmod(self._staging, 0o777 & ~umask())  # mkdtemp's 0700 would become the layout's own mode
        self._dir = self._staging
        os.makedirs(os.path.join(self._dir, "blobs", "sha256"))

    def missing(self, digests: Sequence[str]) -> Set[str]:
        """The digests with no blob file in the layout yet."""
        return {d for d in digests if not os.path.isfile(self._blob_path(d))}

    def tag_digest(self, tag: str) -> Optional[str]:
        """The digest index.json names ``tag`` (None if none, or no layout yet)."""
        for entry in self._entries(self.target.path if not self.target.archive else ""):
            if (entry.get("annotations") or {}).get(REF_NAME) == tag:
                return entry.get("digest")
        return None

    def upload(self, blob: Blob, progress: ProgressFn) -> Descriptor:
        """Stream ``blob`` into a temporary file, verifying it, then rename it to its digest."""
        desc = blob.descriptor
        with self._writing():
            fd, tmp = _mkstemp(os.path.join(self._dir, "blobs", "sha256"))
        try:
            with os.fdopen(fd, "wb") as out, VerifyingReader(blob.open(), desc.digest, desc.size if desc.digest
                                                             else None, blob.name, blob.hashed) as reader:
                while True:
                    piece = reader.read(READ_SIZE)
                    if not piece:
                        break
                    with self._writing():
                        out.write(piece)
                    progress(len(piece))
            digest = desc.digest or reader.digest
            with self._writing():
                self._place(tmp, digest)
        except BaseException:
            _remove(tmp)
            raise
        self.stats.blob_uploaded(reader.count)
        return desc if desc.digest else Descriptor(desc.media_type, digest, reader.count)

    def put_manifest(self, raw: bytes, media_type: str, digest: str, tags: Sequence[str]) -> None:
        """Store the manifest as a blob; the last one put is the image index.json will name."""
        path = self._blob_path(digest)
        if not os.path.isfile(path):
            with self._writing():
                fd, tmp = _mkstemp(os.path.dirname(path))
                with os.fdopen(fd, "wb") as out:
                    out.write(raw)
                self._place(tmp, digest)
        self._root = (media_type, digest, len(raw))
        self._root_raw = raw

    def _platform(self) -> Optional[Dict[str, Any]]:
        """The root image's platform, read from its config (None for an index or an artifact)."""
        try:
            doc = json.loads(self._root_raw)
            config = doc.get("config") or {}
            if "manifests" in doc or not str(config.get("mediaType", "")).endswith(("config.v1+json",
                                                                                     "container.image.v1+json")):
                return None
            with open(self._blob_path(config["digest"]), "rb") as f:
                conf = json.loads(f.read(1 << 24))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        platform = {k: conf[k] for k in ("architecture", "os", "variant") if isinstance(conf.get(k), str) and conf[k]}
        return platform if "architecture" in platform and "os" in platform else None

    def put_referrer(self, raw: bytes, media_type: str, digest: str, artifact_type: str) -> None:
        """Store a manifest with a ``subject`` and list it in index.json (untagged, with its artifactType), as
        OCI image layouts keep referrers."""
        root, root_raw = self._root, self._root_raw
        self.put_manifest(raw, media_type, digest, [])
        self._root, self._root_raw = root, root_raw
        entry: Dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(raw)}
        if artifact_type:
            entry["artifactType"] = artifact_type
        self._referrers.append(entry)

    def commit(self) -> None:
        """Write index.json and oci-layout, then move the layout (or its archive) into place."""
        with self._writing():
            self._commit()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """An OSError of the file system written to (no such directory, permission, disk full) becomes one
        line naming the destination."""
        try:
            yield
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            raise PypushError(f"{self.target.name}: cannot write the layout: {e.strerror or e}{where}") from None

    def _commit(self) -> None:
        if self._root is None:
            raise UsageError(f"{self.target.name}: nothing to write")
        media_type, digest, size = self._root
        layout = self._staging or self._dir
        entries = [e for e in self._entries(self._dir if self._staging is None else "")
                   if not self._replaced(e, digest)]
        base: Dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
        platform = self._platform()
        if platform:
            base["platform"] = platform
        entries += [dict(base, annotations={REF_NAME: t}) for t in self.tags] or [base]
        have = {e.get("digest") for e in entries}
        entries += [e for e in self._referrers if e["digest"] not in have]
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": entries}, indent=2).encode()
        _write_atomically(os.path.join(layout, "oci-layout"), LAYOUT_FILE)
        _write_atomically(os.path.join(layout, "index.json"), index)
        if self.target.archive:
            assert self._staging is not None
            _tar_directory(self._staging, self.target.path)
        elif self._staging is not None:
            if os.path.isdir(self.target.path):
                os.rmdir(self.target.path)  # an empty directory (checked by prepare)
            os.replace(self._staging, self.target.path)
        if self._staging is not None and os.path.isdir(self._staging):
            shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None
        self._committed = True

    def close(self) -> None:
        """Remove what an uncommitted write left (the staging directory, blobs added to a layout)."""
        if self._committed:
            return
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        for path in self._written:
            _remove(path)
        self._written = []

    # ----- helpers --------------------------------------------------------------------------------

    def _replaced(self, entry: Dict[str, Any], digest: str) -> bool:
        """An entry the new image replaces: one with a tag the image takes, or the image itself untagged."""
        name = (entry.get("annotations") or {}).get(REF_NAME)
        return name in self.tags if name else entry.get("digest") == digest and not self.tags

    def _entries(self, directory: str) -> List[Dict[str, Any]]:
        if not directory:
            return []
        path = os.path.join(directory, "index.json")
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: unreadable index.json ({exc.__class__.__name__})") from None
        manifests = doc.get("manifests") if isinstance(doc, dict) else None
        return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []

    def _blob_path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        return os.path.join(self._dir, "blobs", algo, hexd)

    def _place(self, tmp: str, digest: str) -> None:
        path = self._blob_path(digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with self._lock:
            fresh = not os.path.exists(path)
            os.replace(tmp, path)
            if fresh and self._staging is None:
                self._written.append(path)


def umask() -> int:
    """The process's umask (read without changing it where Linux tells it; cached)."""
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status") as status:
                _UMASK = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError, IndexError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK


_UMASK: Optional[int] = None


def _mkstemp(directory: str, prefix: str = ".pypush-") -> Tuple[int, str]:
    """A temporary file in ``directory`` with the mode a new file gets (0666 less the umask), not mkstemp's 0600:
    renamed into place, it is the layout's file."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    os.chmod(tmp, 0o666 & ~umask())
    return fd, tmp


def _write_atomically(path: str, data: bytes) -> None:
    fd, tmp = _mkstemp(os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _tar_directory(directory: str, path: str) -> None:
    """Write ``directory`` as an uncompressed tar (sorted members, no owners, zero times) to ``path`` atomically."""
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = _mkstemp(parent, prefix=f".{os.path.basename(path)}.pypush-")
    try:
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in ("oci-layout", "index.json"):
                _add(tar, directory, name)
            tar.addfile(_dir_info("blobs"))
            for algo in sorted(os.listdir(os.path.join(directory, "blobs"))):
                tar.addfile(_dir_info(f"blobs/{algo}"))
                for hexd in sorted(os.listdir(os.path.join(directory, "blobs", algo))):
                    if not hexd.startswith("."):
                        _add(tar, directory, f"blobs/{algo}/{hexd}")
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def _add(tar: tarfile.TarFile, directory: str, name: str) -> None:
    full = os.path.join(directory, *name.split("/"))
    info = tarfile.TarInfo(name)
    info.size, info.mode = os.path.getsize(full), 0o644
    with open(full, "rb") as f:
        tar.addfile(info, f)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


__all__ = ["LayoutTarget", "LayoutTransport", "is_layout_destination", "parse_layout_destination"]
