"""Image sources: open an image on disk (OCI layout, OCI archive, docker save) as manifests and blob openers.

Spec forms (PATH may contain ':'; the longest prefix that exists on disk is the path):

- ``PATH[:REF]``                 format detected: a directory with index.json/oci-layout is an OCI
                                 layout (with only manifest.json: an unpacked docker save); a tar
                                 with manifest.json is a docker save, one with index.json an OCI archive
- ``oci:PATH[:REF]``, ``oci-archive:PATH[:REF]``   read as an OCI layout (directory or tar)
- ``docker-archive:PATH[:REF]``  read as a docker save (directory or tar)
- ``dir:PATH[:DIGEST]``          a skopeo ``dir:`` copy (detected too: its ``version`` file)
- ``docker://[HOST/]REPO[:TAG|@DIGEST]``   an image in a registry (pypush.sources.remote)

A tar compressed whole (gzip, zstd, xz, bzip2: told by its magic bytes) is decompressed once into a
private temporary file (compressed_archive.py), removed when the source closes.

REF is a tag, a full image name, a digest ``sha256:…`` or a position ``@N``; without it the
source must hold exactly one image.
"""
from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Union

from pypush.errors import SourceError, UsageError
from pypush.image.model import check_expansion
from pypush.sources.base import Source
from pypush.sources.compressed_archive import sniff, spool, unpack
from pypush.sources.docker_save import read_docker_save
from pypush.sources.skopeo_dir import is_skopeo_dir, read_skopeo_dir
from pypush.sources.tree import DirTree, Tree
from pypush.sources.oci_layout import OciLayout
from pypush.sources.tarfs import TarTree, is_tar

if TYPE_CHECKING:
    from pypush.image.platforms import Platform

SCHEMES = ("oci", "oci-archive", "docker-archive", "dir")


def parse_spec(spec: str) -> Tuple[Optional[str], str, Optional[str]]:
    """``(scheme or None, path, ref or None)`` of a source spec; the path must exist."""
    prefix, sep, rest = spec.partition(":")
    scheme: Optional[str] = prefix if sep and prefix in SCHEMES else None
    body = rest if scheme else spec
    if not body:
        raise SourceError(f"{spec}: no path given")
    body = os.path.expanduser(body)
    if os.path.lexists(body):
        return scheme, body, None
    for i in range(len(body) - 1, 0, -1):
        if body[i] == ":" and os.path.lexists(body[:i]):
            return scheme, body[:i], body[i + 1:] or None
    remote = None if scheme else registry_hint(spec)
    if remote:
        raise UsageError(f"{spec}: no such file or directory; did you mean {remote}?")
    raise SourceError(f"{body}: no such file or directory")


def registry_hint(spec: str) -> Optional[str]:
    """``docker://SPEC`` when ``spec`` (not on disk) reads as an image in a registry: ``HOST[:PORT]/REPO…``
    whose first part is a host name (a dot, a port or ``localhost``); else None."""
    first, slash, _ = spec.partition("/")
    if not slash or first in (".", "..", "~") or not ("." in first or ":" in first or first == "localhost"):
        return None
    from pypush.name.reference import parse_remote

    try:
        parse_remote(spec)
    except UsageError:
        return None
    return f"docker://{spec}"


def open_source(spec: Union[str, "os.PathLike[str]"], *, platforms: Sequence["Platform"] = (),
                nondistributable: bool = False, **remote: Any) -> Source:
    """Open the image ``spec`` names; every manifest is read, verified and resolved, every blob checked present.

    ``docker://…`` names an image in a registry (pypush.sources.remote; ``remote`` are its connection
    options: insecure, username, password, profile, pool_size). ``platforms`` narrow a multi-platform
    image to those platforms (one platform: that platform's manifest itself). ``nondistributable``: layers with
    urls come too when the source has their blobs (crane's --allow-nondistributable-artifacts)."""
    spec = os.fspath(spec)
    if spec.startswith("docker://"):
        from pypush.sources.remote import open_remote

        source: Source = open_remote(spec, platforms=platforms, nondistributable=nondistributable, **remote)
    else:
        source = _open_file(spec, nondistributable)
    try:
        check_expansion(source.root, spec)
        if platforms and not spec.startswith("docker://"):
            from pypush.image.platforms import select_platforms

            source.root = select_platforms(source.root, platforms, spec)
    except BaseException:
        source.close()
        raise
    return source


def _open_file(spec: str, nondistributable: bool) -> Source:
    scheme, path, ref = parse_spec(spec)
    release: List[Callable[[], None]] = []

    def release_all() -> None:
        for undo in release:
            undo()

    try:
        tree, detected = _open_tree(path, scheme, release)
        if detected == "docker-archive":
            root, tags = read_docker_save(tree, ref, nondistributable)
        elif detected == "dir":
            root, tags = read_skopeo_dir(tree, ref, nondistributable)
        else:
            layout = OciLayout(tree, nondistributable)
            layout.check()
            root, tags = layout.select(ref)
    except BaseException:
        release_all()
        raise
    return Source(root=root, name=spec, tags=tags, format=detected, release=release_all if release else None)


def _open_tree(path: str, scheme: Optional[str], release: List[Callable[[], None]]) -> Tuple[Tree, str]:
    """The tree at ``path`` and its format: the scheme's, else detected from what it holds. A compressed
    archive is decompressed first; what removes the copy is appended to ``release``."""
    tree: Tree
    if os.path.isdir(path):
        tree = DirTree(path)
        oci_format = "oci"
    elif os.path.isfile(path) or _is_pipe(path):
        plain = path
        if _is_pipe(path):  # `docker save app | pypush push /dev/stdin …`: read once into a private copy
            spooled = spool(path)
            release.append(spooled.remove)
            plain = spooled.path
        kind = _check_archive(plain, path)
        if kind:
            unpacked = unpack(plain, kind, path)
            release.append(unpacked.remove)
            if not is_tar(unpacked.path):
                raise SourceError(f"not an image: {path} ({kind}-compressed, but what it holds is not a tar archive)")
            tree = TarTree(unpacked.path, label=path)
        else:
            tree = TarTree(plain, label=path)
        oci_format = "oci-archive"
    else:
        raise SourceError(f"not an image: {path} (neither a directory nor a regular file)")
    if scheme in ("docker-archive", "dir"):
        return tree, scheme
    if scheme in ("oci", "oci-archive"):
        return tree, oci_format
    has = {name: tree.size(name) is not None for name in ("manifest.json", "index.json", "oci-layout")}
    if has["manifest.json"]:
        return tree, "dir" if is_skopeo_dir(tree) else "docker-archive"
    if has["index.json"] or has["oci-layout"]:
        return tree, oci_format
    what = "directory" if oci_format == "oci" else "tar"
    if tree.size("repositories") is not None:
        raise SourceError(f"not an image: {path} (a docker save of Docker before 1.10: a repositories file but no "
                          f"manifest.json; docker load it and save it again with a newer Docker)")
    raise SourceError(f"not an image: {path} ({what} holds neither index.json, oci-layout nor manifest.json"
                      f"{_nested_hint(tree, path, what)})")


def _nested_hint(tree: Tree, path: str, what: str) -> str:
    """A hint when the image sits one directory down (``tar -cf x.tar layout/`` instead of ``-C layout .``)."""
    names = list(tree.names) if isinstance(tree, TarTree) else sorted(os.listdir(path))
    tops = {n.strip("/").split("/", 1)[0] for n in names if n.strip("/")}
    if len(tops) != 1:
        return ""
    top = tops.pop()
    if not any(tree.size(f"{top}/{name}") is not None for name in ("index.json", "manifest.json")):
        return ""
    if what == "tar":
        return f"; the image is under {top}/: make the archive from inside it, e.g. tar -C {top} -cf FILE ."
    return f"; the image is in {os.path.join(path, top)}: name that directory"


def _check_archive(path: str, label: str) -> Optional[str]:
    """None for an uncompressed tar, the compression of a compressed file (which may hold one), else SourceError
    naming ``label`` (the path the user gave)."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise SourceError(f"not an image: {label} ({e.strerror or e})") from None
    if not head:
        raise SourceError(f"not an image: {label} (empty file)")
    if is_tar(path):
        return None
    kind = sniff(head)
    if kind is None:
        raise SourceError(f"not an image: {label} (not a tar archive)")
    return kind


def _is_pipe(path: str) -> bool:
    """Whether ``path`` is a pipe (``/dev/stdin`` of ``docker save app | pypush …``, a named pipe, ``<(…)``)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


__all__ = ["Source", "open_source", "parse_spec", "SCHEMES"]
