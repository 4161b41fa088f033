"""The OCI image layout (oci-layout, index.json, blobs/ALGO/HEX) in a directory or an archive.

Choosing the image: by tag (``org.opencontainers.image.ref.name``; also the full name in that
annotation or in ``io.containerd.image.name``; a bare tag also matches the tag of such a full name
when no entry is named exactly that), by digest (an index.json entry or any manifest
below one), by position (``@N``), or the only image when no reference is given. A layout whose
index.json lists only unnamed per-platform manifests is one multi-platform image: index.json itself.
"""
from __future__ import annotations

import io
from dataclasses import replace
from typing import Any, Dict, List, Optional, Set, Tuple

from pypush.errors import SourceError
from pypush.image.model import DOCKER_CONFIG, INDEX_TYPES, OCI_CONFIG, OCI_INDEX, Blob, Descriptor, ImageIndex, ImageManifest, Node, carries_layer, is_foreign, sha256_digest
from pypush.sources.tree import Tree
from pypush.image.parse import MAX_MANIFEST, MissingError, check_annotations, check_embedded_data, parse_descriptor, check_manifest_bytes, is_digest, is_tag, load_json, manifest_kind, parse_descriptors, parse_index, parse_manifest, tag_of

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
MAX_INDEX_JSON = 64 * 1024 * 1024
MAX_DEPTH = 8  # indexes nested deeper than this are refused
MAX_CONFIG = 16 * 1024 * 1024  # image configs are read (and checked) when the image is opened


class OciLayout:
    """Reads manifests and blobs of an OCI layout held by ``tree``; manifests are verified as read."""

    def __init__(self, tree: Tree, nondistributable: bool = False):
        """``nondistributable``: layers with urls whose blobs the layout holds are read too (see carries_layer)."""
        self.tree = tree
        self.nondistributable = nondistributable
        self.broken: List[SourceError] = []  # index.json entries a lenient read passed over
        self._nodes: Dict[str, Node] = {}

    def check(self) -> None:
        """Raise unless the tree holds a valid ``oci-layout`` file."""
        doc = load_json(self.tree.read("oci-layout", 1 << 16, "oci-layout file"), self.tree.name("oci-layout"))
        version = doc.get("imageLayoutVersion")
        if not isinstance(version, str) or not version.startswith("1."):
            raise SourceError(f"{self.tree.name('oci-layout')}: unsupported imageLayoutVersion {version!r}")

    def entries(self, lenient: bool = False) -> List[Descriptor]:
        """The descriptors index.json lists. ``lenient``: an entry that is not a valid descriptor stands as a
        placeholder that matches no name or digest (its error kept in ``broken``), so a valid image beside it can
        still be chosen by name or digest, as skopeo does."""
        where = self.tree.name("index.json")
        doc = load_json(self.tree.read("index.json", MAX_INDEX_JSON, "index.json"), where)
        if doc.get("schemaVersion") != 2:
            raise SourceError(f"{where}: schemaVersion is {doc.get('schemaVersion')!r}, want 2")
        if doc.get("mediaType") not in (None, OCI_INDEX):
            raise SourceError(f"{where}: mediaType is {doc['mediaType']!r}, want {OCI_INDEX}")
        check_annotations(doc, where)
        if not lenient or not isinstance(doc.get("manifests"), list):
            return parse_descriptors(doc, "manifests", where)
        out: List[Descriptor] = []
        self.broken = []
        for i, item in enumerate(doc["manifests"]):
            try:
                out.append(parse_descriptor(item, f"{where}.manifests[{i}]"))
            except SourceError as exc:
                self.broken.append(exc)
                out.append(Descriptor("", "", 0))
        return out

    @staticmethod
    def blob_path(digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        return f"blobs/{algo}/{hexd}"

    def blob(self, desc: Descriptor, where: str) -> Blob:
        """The blob ``desc`` names; SourceError when it is missing or its size differs."""
        rel = self.blob_path(desc.digest)
        size = self.tree.size(rel)
        if size is None and desc.data is not None:  # OCI 1.1: the descriptor carries the content
            raw = check_embedded_data(desc.data, desc.digest, desc.size, where)
            return Blob(descriptor=desc, open=lambda: io.BytesIO(raw), name=f"{where}.data")
        if size is None:
            raise MissingError(f"{where}: blob {desc.digest} is missing ({self.tree.name(rel)})")
        if size != desc.size:
            raise SourceError(f"{self.tree.name(rel)}: {size} bytes, but {where} declares size {desc.size}")
        return Blob(descriptor=desc, open=self.tree.opener(rel), name=self.tree.name(rel))

    def load(self, desc: Descriptor, where: str) -> Tuple[Descriptor, bytes, Dict[str, Any]]:
        """Read and verify the manifest or index ``desc`` names: (its descriptor, exact bytes, parsed JSON).

        The descriptor's media type is the document's own, else the referring descriptor's.
        """
        rel = self.blob_path(desc.digest)
        name = self.tree.name(rel)
        if desc.size > MAX_MANIFEST:
            raise SourceError(f"{where}: manifest {desc.digest} of {desc.size} bytes exceeds the 4 MiB limit")
        if self.tree.size(rel) is not None:
            raw = self.tree.read(rel, MAX_MANIFEST, "manifest")
        elif desc.data is not None:  # OCI 1.1: the descriptor carries the manifest
            raw, name = check_embedded_data(desc.data, desc.digest, desc.size, f"{where}.data"), f"{where}.data"
        else:
            raise MissingError(f"{where}: manifest {desc.digest} is missing ({name})")
        check_manifest_bytes(raw, desc, name)
        doc = load_json(raw, name)
        return replace(desc, media_type=manifest_kind(doc, desc, name)), raw, doc

    def node(self, desc: Descriptor, where: str, depth: int = 0) -> Node:
        """The manifest or index ``desc`` names, its children resolved recursively."""
        cached = self._nodes.get(desc.digest)
        if cached is not None:
            return cached
        if depth > MAX_DEPTH:
            raise SourceError(f"{where}: indexes nested more than {MAX_DEPTH} deep")
        descriptor, raw, doc = self.load(desc, where)
        name = self.tree.name(self.blob_path(desc.digest))
        node: Node
        if descriptor.media_type in INDEX_TYPES:
            children = [self.node(child, f"{name}.manifests[{i}]", depth + 1)
                        for i, child in enumerate(parse_index(doc, name))]
            node = ImageIndex(descriptor=descriptor, raw=raw, children=children)
        else:
            parsed = parse_manifest(doc, name)
            layers = [self.blob(d, f"{name}.layers[{i}]") for i, d in enumerate(parsed["layers"])
                      if not is_foreign(doc["layers"][i])  # only a foreign layer's blob is looked up here
                      or carries_layer(doc["layers"][i], self.tree.size(self.blob_path(d.digest)) is not None,
                                       f"{name}.layers[{i}]", self.nondistributable)]
            config = self.blob(parsed["config"], f"{name}.config")
            check_image_config(config, len(parsed["layers"]), name)
            node = ImageManifest(descriptor=descriptor, raw=raw, config=config, layers=layers)
        self._nodes[desc.digest] = node
        return node

    def select(self, ref: Optional[str]) -> Tuple[Node, List[str]]:
        """The image ``ref`` names (see the module docstring) and the tags the layout gives it."""
        entries = self.entries(lenient=ref is not None and not ref.startswith("@"))
        where = self.tree.name("index.json")
        chosen: List[Descriptor]
        if ref is None:
            if not entries:
                raise SourceError(f"{self.tree.label}: index.json lists no images")
            if len({e.digest for e in entries}) > 1 and _is_platform_set(entries):
                return self._index_json_as_index(entries), []
            if len({e.digest for e in entries}) > 1:
                raise SourceError(f"{self.tree.label} holds {len(entries)} images; name one as PATH:REF "
                                  f"(choices: {describe_choices(entries)})")
            chosen = entries
        elif ref.startswith("@") and ref[1:].isdigit():
            n = int(ref[1:])
            if n >= len(entries):
                raise SourceError(f"{self.tree.label}: no image @{n}; index.json lists {len(entries)}")
            chosen = [entries[n]]
        elif is_digest(ref):
            chosen = [e for e in entries if e.digest == ref]
            if not chosen and self.broken:
                raise self.broken[0]
            if not chosen:
                return self._find_below(entries, ref), []
        else:
            chosen = ([e for e in entries if names_match(e, ref)]
                      or [e for e in entries if is_tag(ref) and ref in tags_of([e])])
            if not chosen and self.broken:  # the image asked for may be the entry that is not valid
                raise self.broken[0]
            if not chosen:
                raise SourceError(f"{self.tree.label}: no image named {ref!r} (choices: {describe_choices(entries)})")
            if len({e.digest for e in chosen}) > 1:
                raise SourceError(f"{self.tree.label}: {ref!r} names {len(chosen)} different images")
        index = entries.index(chosen[0])
        try:
            node = self.node(chosen[0], f"{where}.manifests[{index}]")
        except MissingError as e:  # e.g. `ctr export --platform`: the index, one platform's manifest
            present = [d.digest for d, _ in self._present_below(chosen[0], f"{where}.manifests[{index}]")
                       if d.media_type not in INDEX_TYPES]
            if not present:
                raise
            raise MissingError(f"{e}; the index is incomplete (an export of one platform?): push a manifest it "
                               f"holds as PATH:DIGEST ({', '.join(present[:4])})") from None
        tags = [tag_of(ref)] if ref and not ref.startswith("@") and not is_digest(ref) else tags_of(
            [e for e in entries if e.digest == chosen[0].digest])
        return node, [t for t in dict.fromkeys(tags) if t]

    def _index_json_as_index(self, entries: List[Descriptor]) -> ImageIndex:
        """index.json itself as a multi-platform index: its exact bytes, its entries as children."""
        where = self.tree.name("index.json")
        raw = self.tree.read("index.json", MAX_MANIFEST, "index.json")
        children = [self.node(e, f"{where}.manifests[{i}]") for i, e in enumerate(entries)]
        return ImageIndex(Descriptor(OCI_INDEX, sha256_digest(raw), len(raw)), raw, children)

    def _present_below(self, desc: Descriptor, where: str, depth: int = 0,
                       seen: Optional[Set[str]] = None) -> List[Tuple[Descriptor, str]]:
        """(descriptor, where it is) below index ``desc``, at any depth, of the manifests in the layout; each
        index is looked into once (``seen``), however often it is listed."""
        seen = set() if seen is None else seen
        if desc.media_type not in INDEX_TYPES or depth > MAX_DEPTH or desc.digest in seen:
            return []
        seen.add(desc.digest)
        try:
            _, _, doc = self.load(desc, where)
        except MissingError:
            return []
        name = self.tree.name(self.blob_path(desc.digest))
        out: List[Tuple[Descriptor, str]] = []
        for i, child in enumerate(parse_index(doc, name)):
            if self.tree.size(self.blob_path(child.digest)) is not None:
                out += [(child, f"{name}.manifests[{i}]"), *self._present_below(child, f"{name}.manifests[{i}]",
                                                                                depth + 1, seen)]
        return out

    def _find_below(self, entries: List[Descriptor], digest: str) -> Node:
        """The manifest or index ``digest`` below an index index.json lists (which may be incomplete)."""
        seen: Set[str] = set()
        for i, entry in enumerate(entries):
            where = f"{self.tree.name('index.json')}.manifests[{i}]"
            for desc, below in self._present_below(entry, where, 0, seen):
                if desc.digest == digest:
                    return self.node(desc, below)
        raise SourceError(f"{self.tree.label}: no manifest {digest} (choices: {describe_choices(entries)})")


def check_image_config(config: Blob, layers: int, where: str) -> None:
    """Raise unless an image config (OCI or Docker type) has the bytes its descriptor names, is a JSON object
    and, when it lists rootfs.diff_ids, lists one per layer of the manifest at ``where`` (a mismatch makes
    containerd and docker refuse the image). Other config types (artifacts) are not read."""
    desc = config.descriptor
    if desc.media_type not in (OCI_CONFIG, DOCKER_CONFIG):
        return
    if desc.size > MAX_CONFIG:
        raise SourceError(f"{config.name}: image config of {desc.size} bytes exceeds the {MAX_CONFIG >> 20} MiB limit")
    try:
        with config.open() as f:
            raw = f.read(MAX_CONFIG + 1)
    except OSError as e:
        raise SourceError(f"{config.name}: cannot read ({e.strerror or e})") from None
    check_manifest_bytes(raw, desc, config.name)
    rootfs = load_json(raw, config.name).get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if isinstance(diff_ids, list) and len(diff_ids) != layers:
        raise SourceError(f"{config.name}: image config lists {len(diff_ids)} rootfs.diff_ids, "
                          f"but manifest {where} has {layers} layers")


def _is_platform_set(entries: List[Descriptor]) -> bool:
    """index.json lists one unnamed image manifest per platform (as some tools write multi-arch
    layouts, with no index blob): then the layout as a whole is one multi-platform image."""
    return all(e.platform and e.media_type not in INDEX_TYPES and not (e.annotations or {}).get(REF_NAME)
               for e in entries)


def normalize_name(name: str) -> str:
    """A Docker image name without the implied registry and namespace (docker.io/library/)."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def names_match(entry: Descriptor, ref: str) -> bool:
    """True when the annotations of ``entry`` name it ``ref`` (a tag or a full image name; ``docker.io/library/``
    implied). Selecting falls back to the tag alone (``1`` for ``docker.io/library/app:1``) when nothing matches."""
    ann = entry.annotations or {}
    return any(name == ref or normalize_name(name) == normalize_name(ref)
               for name in (ann.get(REF_NAME), ann.get(CONTAINERD_NAME)) if name)



def tags_of(entries: List[Descriptor]) -> List[str]:
    """The tags the annotations of ``entries`` suggest."""
    out: List[str] = []
    for e in entries:
        ann = e.annotations or {}
        for key in (REF_NAME, CONTAINERD_NAME):
            tag = tag_of(ann[key]) if key in ann else None
            if tag:
                out.append(tag)
    return out


def describe_choices(entries: List[Descriptor]) -> str:
    """``tag1, tag2, sha256:…`` for the entries of an index.json, for error messages."""
    out = []
    for i, e in enumerate(entries):
        ann = e.annotations or {}
        out.append(ann.get(REF_NAME) or ann.get(CONTAINERD_NAME) or f"@{i} {e.digest}")
    return join_choices(list(dict.fromkeys(out)))


def join_choices(choices: List[str], limit: int = 400) -> str:
    """``a, b, c`` of whole choices up to about ``limit`` characters, then ``and N more``."""
    shown: List[str] = []
    for choice in choices:
        if shown and len(", ".join([*shown, choice])) > limit:
            return f"{', '.join(shown)} and {len(choices) - len(shown)} more"
        shown.append(choice)
    return ", ".join(shown)
