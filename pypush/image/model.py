"""What an image is, independent of where it is stored: descriptors, blobs, manifests, indexes."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Set, Union

from pypush.errors import SourceError
from pypush.image.digest import HashPrefix, digest_of

log = logging.getLogger("pypush")

# Media types we reason about.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return digest_of(data)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest says about one blob or child manifest."""

    media_type: str
    digest: str
    size: int
    annotations: Optional[Mapping[str, str]] = None
    platform: Optional[Mapping[str, Any]] = None
    artifact_type: Optional[str] = None
    data: Optional[str] = None  # OCI 1.1: the content itself, base64, for small blobs

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], default_media_type: str = "") -> "Descriptor":
        """Build from a parsed JSON descriptor (no validation beyond types; readers validate)."""
        return cls(
            media_type=obj.get("mediaType") or default_media_type,
            digest=obj["digest"],
            size=obj["size"],
            annotations=obj.get("annotations"),
            platform=obj.get("platform"),
            artifact_type=obj.get("artifactType"),
            data=obj.get("data"),
        )

    def to_json(self) -> Dict[str, Any]:
        """The descriptor as JSON members, in the order the OCI spec lists them."""
        out: Dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


Opener = Callable[[], IO[bytes]]


@dataclass
class Blob:
    """A blob to push: its descriptor and a function that opens a fresh stream of its bytes.

    ``descriptor`` describes the bytes that ``open()`` yields. When a transform (compression) makes
    those bytes differ from what the source manifest names, ``descriptor.digest`` is ``""`` until the
    upload computes it (or a cache predicts it) and ``original`` is the descriptor the manifest names;
    the engine then rewrites the manifest with the uploaded descriptor.
    """

    descriptor: Descriptor
    open: Opener
    original: Optional[Descriptor] = None
    name: str = ""  # where it comes from, for error messages (file path or archive member)
    on_stored: Optional[Callable[[Descriptor], None]] = None  # told the stored descriptor (e.g. a cache)
    hashed: Optional[HashPrefix] = None  # how much of it is hashed already (pypush.image.verify_ahead)
    source: Optional["Blob"] = None  # a transformed blob's input (read and verified by ``open``; hashed ahead)


@dataclass
class ImageManifest:
    """One image (or artifact) manifest: its exact bytes, its config and its layers."""

    descriptor: Descriptor
    raw: bytes
    config: Blob
    layers: List[Blob]
    extra_blobs: List[Blob] = field(default_factory=list)  # e.g. a subject's blobs we also hold

    @property
    def blobs(self) -> List[Blob]:
        """Config first, then layers, in manifest order."""
        return [self.config, *self.layers, *self.extra_blobs]


@dataclass
class ImageIndex:
    """A multi-platform index (OCI index or Docker manifest list) and its children."""

    descriptor: Descriptor
    raw: bytes
    children: List["Node"]


Node = Union[ImageManifest, ImageIndex]


def walk(node: Node) -> List[Node]:
    """All nodes below and including ``node``, in push order: children before parents, and a referrer (a
    manifest with a ``subject``) after its subject when the subject is in the tree too (an SBOM or signature
    listed beside the image it describes), so the registry stores the subject first and a subject rewritten
    on the way (recompressed layers) is rewritten in its referrer too. A manifest that several indexes (or one
    index twice) list comes once, at its first place."""
    nodes: Dict[str, Node] = {}

    def collect(n: Node) -> None:
        if n.descriptor.digest not in nodes:
            nodes[n.descriptor.digest] = n
            for child in n.children if isinstance(n, ImageIndex) else ():
                collect(child)

    collect(node)
    out: List[Node] = []
    seen: Set[str] = set()

    def visit(n: Node) -> None:
        if n.descriptor.digest in seen:
            return
        seen.add(n.descriptor.digest)
        if isinstance(n, ImageIndex):
            for child in n.children:
                visit(child)
        subject = nodes.get(subject_digest(n.raw) or "")
        if subject is not None:
            visit(subject)  # seen already (an index above the referrer): no cycle
        out.append(n)

    visit(node)
    return out


def subject_digest(raw: bytes) -> Optional[str]:
    """The digest a manifest's ``subject`` names (None when it has none, or is not a JSON object)."""
    if b'"subject"' not in raw:
        return None
    try:
        subject = json.loads(raw).get("subject")
    except (ValueError, AttributeError):
        return None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


MAX_EXPANDED = 10000  # manifests in an index tree, counting repeats


def check_expansion(node: Node, where: str) -> Node:
    """``node``, unless its index tree, counting every repeat, holds more than MAX_EXPANDED manifests (indexes
    that list the same index many times, level after level, would make any walk over all paths endless)."""
    count = expanded_size(node)
    if count > MAX_EXPANDED:
        raise SourceError(f"{where}: index {node.descriptor.digest} lists {count} manifests counting repeats "
                          f"(the same index listed many times at each level?); more than {MAX_EXPANDED} is refused")
    return node


def expanded_size(node: Node, memo: Optional[Dict[str, int]] = None) -> int:
    """How many nodes ``node`` holds counting every repeat (an index listing one child 30 times counts it
    30 times): what a walk that does not skip repeats would visit. Computed once per distinct manifest."""
    memo = {} if memo is None else memo
    key = node.descriptor.digest
    if key not in memo:
        children = node.children if isinstance(node, ImageIndex) else []
        memo[key] = 1 + sum(expanded_size(c, memo) for c in children)
    return memo[key]


def is_foreign(layer: Mapping[str, Any]) -> bool:
    """A non-distributable layer (Docker foreign, OCI nondistributable, or one with ``urls``): clients fetch it
    from its URLs, so its blob may be absent (whether it is copied: ``carries_layer``); registries (ECR, Docker
    Hub, the distribution registry when its urls policy allows) accept manifests naming it."""
    media_type = layer.get("mediaType") or ""
    return bool(layer.get("urls")) or media_type == DOCKER_FOREIGN_LAYER or ".nondistributable." in media_type


def carries_layer(layer: Mapping[str, Any], present: bool, where: str, allow: bool = False) -> bool:
    """Whether the layer described by JSON ``layer`` (at ``where``) goes with its image. A layer with ``urls`` does
    not: clients fetch it from there (docker, skopeo and crane leave it behind too), unless ``allow`` (crane's
    --allow-nondistributable-artifacts) and the source has its blob (``present``); nor does a non-distributable
    layer whose blob the source lacks. Each layer left behind is logged."""
    if not is_foreign(layer) or (present and (allow or not layer.get("urls"))):
        return True
    why = "clients fetch it from its urls" if layer.get("urls") else "its blob is not in the source"
    log.warning("%s: non-distributable layer %s is not copied (%s)", where, layer.get("digest"), why)
    return False


REFERENCE_DIGEST = "vnd.docker.reference.digest"
"""The annotation by which buildx's attestation manifests name the image manifest they describe."""


def render_manifest(raw: bytes, replacements: Mapping[str, Descriptor]) -> bytes:
    """``raw`` with every descriptor whose digest is a key of ``replacements`` replaced.

    The replacement's media type, digest and size win; the old descriptor's other members
    (platform, annotations, ...) stay. References by digest follow too: a ``subject``, and the
    ``vnd.docker.reference.digest`` annotation of attestations. Unchanged manifests keep their
    exact bytes.
    """
    if not replacements:
        return raw
    doc = json.loads(raw)
    changed = False

    def fix(desc: Dict[str, Any]) -> None:
        nonlocal changed
        annotations = desc.get("annotations")
        if isinstance(annotations, dict) and isinstance(annotations.get(REFERENCE_DIGEST), str):
            target = replacements.get(annotations[REFERENCE_DIGEST])
            if target is not None and target.digest != annotations[REFERENCE_DIGEST]:
                annotations[REFERENCE_DIGEST], changed = target.digest, True
        new = replacements.get(desc.get("digest", ""))
        if new is None:
            return
        if (desc.get("mediaType"), desc["digest"], desc.get("size")) != (new.media_type, new.digest, new.size):
            changed = True
            desc["mediaType"], desc["digest"], desc["size"] = new.media_type, new.digest, new.size

    for key in ("config", "subject"):
        if isinstance(doc.get(key), dict):
            fix(doc[key])
    for key in ("layers", "manifests", "blobs"):
        for desc in doc.get(key) or []:
            if isinstance(desc, dict):
                fix(desc)
    if not changed:
        return raw
    return json.dumps(doc, indent=3 if raw.startswith(b"{\n   ") else None,
                      separators=(",", ": ") if raw.startswith(b"{\n") else (",", ":")).encode()
