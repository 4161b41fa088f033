"""skopeo's (containers/image's) ``dir:`` format: a ``version`` file, the image's manifest or index as
``manifest.json`` (its exact bytes), the manifests an index lists as ``HEX.manifest.json`` and every other blob as
``HEX`` (digests of other algorithms as ``ALGO-HEX``). It holds one image; a REF can only name one of its
manifests by digest.

It is read as an OCI layout through a view that names each blob where the format keeps it, so manifests and
blobs get every check an OCI layout's get.
"""
from __future__ import annotations

from typing import IO, Callable, List, Optional, Tuple

from pypush.errors import SourceError
from pypush.image.model import Descriptor, Node, sha256_digest, walk
from pypush.image.parse import MAX_MANIFEST, is_digest, load_json
from pypush.sources.oci_layout import OciLayout
from pypush.sources.tree import Tree

VERSION_PREFIX = b"Directory Transport Version: "


def is_skopeo_dir(tree: Tree) -> bool:
    """Whether ``tree`` is a skopeo ``dir:`` copy (its ``version`` file says so)."""
    if tree.size("version") is None or tree.size("manifest.json") is None:
        return False
    return tree.read("version", 1 << 10, "version file").startswith(VERSION_PREFIX)


class _BlobView(Tree):
    """``blobs/ALGO/HEX`` of an OCI layout mapped to where a dir: copy keeps that blob."""

    def __init__(self, inner: Tree, top: str):
        self.inner, self.top, self.label = inner, top, inner.label

    def _where(self, rel: str) -> str:
        parts = rel.split("/")
        if len(parts) != 3 or parts[0] != "blobs":
            return rel
        digest = f"{parts[1]}:{parts[2]}"
        if digest == self.top:
            return "manifest.json"
        base = parts[2] if parts[1] == "sha256" else f"{parts[1]}-{parts[2]}"
        return f"{base}.manifest.json" if self.inner.size(f"{base}.manifest.json") is not None else base

    def size(self, rel: str) -> Optional[int]:
        return self.inner.size(self._where(rel))

    def opener(self, rel: str) -> Callable[[], IO[bytes]]:
        return self.inner.opener(self._where(rel))

    def name(self, rel: str) -> str:
        return self.inner.name(self._where(rel))


def read_skopeo_dir(tree: Tree, ref: Optional[str], nondistributable: bool = False) -> Tuple[Node, List[str]]:
    """The image of the dir: copy in ``tree`` (no tags: the format keeps none); ``ref`` may name a manifest
    of it by digest."""
    if ref is not None and not is_digest(ref):
        raise SourceError(f"{tree.label}: a skopeo dir: copy holds one image; name no REF, or a manifest of it by "
                          f"digest (got {ref!r})")
    where = tree.name("manifest.json")
    raw = tree.read("manifest.json", MAX_MANIFEST, "manifest")
    doc = load_json(raw, where)
    media_type = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else ""
    top = sha256_digest(raw)
    root = OciLayout(_BlobView(tree, top), nondistributable).node(Descriptor(media_type, top, len(raw)), where)
    chosen = next((n for n in walk(root) if n.descriptor.digest == ref), None) if ref else root
    if chosen is None:
        held = ", ".join(n.descriptor.digest for n in walk(root))
        raise SourceError(f"{tree.label}: no manifest {ref} (it holds {held})")
    return chosen, []
