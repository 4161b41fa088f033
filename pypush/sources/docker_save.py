"""`docker save` tarballs: the legacy layout and the Docker 25+ layout (an OCI layout plus manifest.json).

manifest.json lists images as {Config, RepoTags, Layers}. An image is chosen by RepoTag
(``name:tag``, ``docker.io/library/`` implied; a bare tag when only one image has it), by position
(``@N``) or as the only one.

When the archive also holds an OCI layout (Docker 25+) whose index.json has a complete, valid image
with the chosen config and exactly the item's layers, that image is used with its exact manifest
bytes (for a containerd-store save holding one platform of a multi-platform index: that
platform's manifest). Otherwise (legacy layout, or the faulty OCI parts some Docker 25.0
releases wrote) a Docker schema 2 manifest is generated (an OCI manifest with OCI media types when
a layer is zstd-compressed: Docker schema 2 has no zstd type), as ``json.dumps(doc, indent=3)`` with
members in the order schemaVersion, mediaType, config, layers and mediaType, size, digest inside
descriptors (the format `docker push` uses). Plain layers get the plain media type and their
diff_id as digest; gzip or zstd layers get the compressed media type and the sha256 of the
member (its ``blobs/sha256/HEX`` name, else computed by streaming it once).
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import replace
from typing import Any, Dict, List, Optional, Set, Tuple

from pypush.errors import SourceError
from pypush.image.model import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, INDEX_TYPES, OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST, Blob, Descriptor, ImageManifest, Node, carries_layer, sha256_digest, walk
from pypush.sources.tree import Tree
from pypush.sources.compressed_archive import BZIP2, GZIP, XZ, ZSTD, sniff
from pypush.sources.oci_layout import MAX_CONFIG, MAX_DEPTH, OciLayout, join_choices, normalize_name
from pypush.image.parse import MissingError, check_digest, is_tag, load_json, parse_descriptor, parse_index, tag_of

MAX_MANIFEST_JSON = 64 * 1024 * 1024
_NAMED_BLOB = re.compile(r"^(?:.*/)?blobs/sha256/([a-f0-9]{64})$")
# configs named by their digest: <hex>.json (docker), blobs/sha256/<hex> (Docker 25+), sha256:<hex> (ggcr)
_NAMED_CONFIG = re.compile(r"^(?:.*/)?(?:blobs/sha256/|sha256:)?([a-f0-9]{64})(?:\.json)?$")
_OCI_TYPES = {DOCKER_LAYER: OCI_LAYER, DOCKER_LAYER_GZIP: OCI_LAYER_GZIP}


class _Entry:
    """One validated manifest.json item."""

    def __init__(self, item: Any, where: str):
        if not isinstance(item, dict):
            raise SourceError(f"{where}: not a JSON object")
        self.where = where
        self.config = _member(item, "Config")
        if not isinstance(self.config, str) or not self.config:
            raise SourceError(f"{where}.Config: missing or not a string")
        self.layers = _member(item, "Layers")
        if not isinstance(self.layers, list) or not all(isinstance(x, str) and x for x in self.layers):
            raise SourceError(f"{where}.Layers: missing or not an array of strings")
        tags = _member(item, "RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise SourceError(f"{where}.RepoTags: not an array of strings")
        self.repo_tags: List[str] = tags
        sources = _member(item, "LayerSources") or {}  # diff_id -> descriptor of a foreign (Windows base) layer
        if not isinstance(sources, dict):
            raise SourceError(f"{where}.LayerSources: not a JSON object")
        self.layer_sources: Dict[str, Dict[str, Any]] = {}
        for key, desc in sources.items():
            parse_descriptor(desc, f"{where}.LayerSources[{key}]")
            self.layer_sources[check_digest(key, f"{where}.LayerSources")] = desc
        for i, path in enumerate([self.config, *self.layers]):
            parts = path.split("/")
            if path.startswith("/") or ".." in parts:
                field = "Config" if i == 0 else f"Layers[{i - 1}]"
                raise SourceError(f"{where}.{field}: path escapes the archive: {path!r}")
        self.layer_paths = [posixpath.normpath(x) for x in self.layers]

    def matches(self, ref: str) -> bool:
        return any(t == ref or normalize_name(t) == normalize_name(ref) for t in self.repo_tags)


def _member(item: Dict[str, Any], key: str) -> Any:
    """``item[key]``, the key matched regardless of case as docker load (Go's encoding/json) does: Jib writes
    ``config``, ``repoTags`` and ``layers``."""
    if key in item:
        return item[key]
    return next((v for k, v in item.items() if k.lower() == key.lower()), None)


def read_docker_save(tree: Tree, ref: Optional[str], nondistributable: bool = False) -> Tuple[Node, List[str]]:
    """The image ``ref`` names in the docker-save tree and the tags its RepoTags suggest. ``nondistributable``: the
    layers LayerSources names foreign are pushed from the archive too (see carries_layer)."""
    where = tree.name("manifest.json")
    items = load_json(tree.read("manifest.json", MAX_MANIFEST_JSON, "manifest.json"), where, object)
    if isinstance(items, dict) and "schemaVersion" in items:
        raise SourceError(f"{where}: a single image manifest, not a docker save (a skopeo dir: copy without its "
                          f"version file? name it dir:{tree.label})")
    if not isinstance(items, list):
        raise SourceError(f"{where}: JSON top level is not an array")
    entries = [_Entry(item, f"{where}[{i}]") for i, item in enumerate(items)]
    has_oci = tree.size("index.json") is not None and tree.size("oci-layout") is not None
    choices = join_choices([t for i, e in enumerate(entries) for t in (e.repo_tags or [_untagged(e, i)])])
    if not entries:
        raise SourceError(f"{where}: lists no images")
    if ref is None:
        if len(entries) > 1:
            raise SourceError(f"{tree.label} holds {len(entries)} images; name one as PATH:NAME:TAG or PATH:@N "
                              f"(choices: {choices})")
        entry, tags = entries[0], entries[0].repo_tags
    elif ref.startswith("@") and ref[1:].isdigit():
        if int(ref[1:]) >= len(entries):
            raise SourceError(f"{tree.label}: no image {ref}; manifest.json lists {len(entries)}")
        entry = entries[int(ref[1:])]
        tags = entry.repo_tags
    else:
        matching = ([e for e in entries if e.matches(ref)]
                    or [e for e in entries if is_tag(ref) and ref in (tag_of(t) for t in e.repo_tags)])
        if not matching and ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref:  # a name alone: docker's :latest
            matching = [e for e in entries if e.matches(ref + ":latest")]
            ref += ":latest" if matching else ""
        if not matching:
            if has_oci:  # a tag or digest of the OCI index.json (Docker 25+)
                return OciLayout(tree, nondistributable).select(ref)
            raise SourceError(f"{tree.label}: no image named {ref!r} (choices: {choices})")
        if len(matching) > 1:
            raise SourceError(f"{tree.label}: {ref!r} names {len(matching)} images (choices: {choices})")
        entry, tags = matching[0], [ref]
    config_raw, config_digest = _read_config(tree, entry)
    suggested = [t for t in dict.fromkeys(tag_of(x) for x in tags) if t]
    if has_oci:
        node = _oci_image(OciLayout(tree, nondistributable), entry, config_digest)
        if node is not None:
            return node, suggested
    return _generate(tree, entry, config_raw, config_digest, nondistributable), suggested


def _untagged(entry: _Entry, position: int) -> str:
    """How an image without RepoTags (saved by ID) is chosen: ``@N``, with its image ID when the config's name shows it."""
    named = _NAMED_CONFIG.match(entry.config)
    return f"@{position} (image ID {named.group(1)[:12]})" if named else f"@{position}"


def _read_config(tree: Tree, entry: _Entry) -> Tuple[bytes, str]:
    raw = tree.read(entry.config, MAX_CONFIG, "image config")
    digest = sha256_digest(raw)
    named = _NAMED_CONFIG.match(entry.config)
    if named and named.group(1) != digest.split(":")[1]:
        raise SourceError(f"{tree.name(entry.config)}: content has digest {digest}, "
                          f"but its name says sha256:{named.group(1)}")
    return raw, digest


def _oci_image(layout: OciLayout, entry: _Entry, config_digest: str) -> Optional[Node]:
    """The image of index.json (Docker 25+) that holds exactly this manifest.json item, if any.

    That is the first index.json entry that resolves completely (every manifest and blob present
    and valid) and contains a manifest with the item's config and, in order, the item's layers;
    when an index is only partly present (a containerd-store save keeps the host's platform of a
    multi-platform image), the matching child manifest alone. Anything else means the OCI part is
    absent or wrong (Docker 25.0.0 wrote manifests without layers, 25.0 release candidates wrong
    layer sizes, saves by digest ``"manifests": null``): then manifest.json, the format's
    authority, is used instead.
    """
    tree = layout.tree

    def fits(node: Node) -> bool:
        return (isinstance(node, ImageManifest) and node.config.descriptor.digest == config_digest
                and [layout.blob_path(b.descriptor.digest) for b in node.layers] == entry.layer_paths)

    searched: Set[str] = set()  # each manifest once, however many indexes list it

    def search(desc: Descriptor, where: str, depth: int) -> Optional[Node]:
        if desc.digest in searched:
            return None
        searched.add(desc.digest)
        try:
            node = layout.node(desc, where)
        except SourceError:
            node = None
        if node is not None:
            return node if any(fits(n) for n in walk(node)) else None
        if depth >= MAX_DEPTH or desc.media_type not in INDEX_TYPES:
            return None
        try:
            _, _, doc = layout.load(desc, where)
            children = parse_index(doc, where)
        except SourceError:
            return None
        for i, child in enumerate(children):
            found = search(child, f"{where}.manifests[{i}]", depth + 1)
            if found is not None:
                return found
        return None

    try:
        entries = layout.entries()
    except SourceError:
        return None
    for i, desc in enumerate(entries):
        found = search(desc, f"{tree.name('index.json')}.manifests[{i}]", 0)
        if found is not None:
            return found
    return None


def _generate(tree: Tree, entry: _Entry, config_raw: bytes, config_digest: str,
              nondistributable: bool = False) -> ImageManifest:
    """A Docker schema 2 manifest for a manifest.json item."""
    cfg_name = tree.name(entry.config)
    config = load_json(config_raw, cfg_name)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise SourceError(f"{cfg_name}: missing rootfs.diff_ids")
    for i, d in enumerate(diff_ids):
        check_digest(d, f"{cfg_name}: rootfs.diff_ids[{i}]")
    if len(diff_ids) != len(entry.layers):
        raise SourceError(f"{entry.where}: {len(entry.layers)} Layers, "
                          f"but {cfg_name} has {len(diff_ids)} rootfs.diff_ids")
    hashed: Dict[str, str] = {}
    layers: List[Blob] = []
    foreign: Dict[int, Dict[str, Any]] = {}  # position -> descriptor JSON of a layer left to its urls
    for i, (rel, diff_id) in enumerate(zip(entry.layers, diff_ids)):
        source = entry.layer_sources.get(diff_id)
        if source is not None and not carries_layer(source, True, f"{entry.where}.Layers[{i}]", nondistributable):
            foreign[i] = {k: source[k] for k in ("mediaType", "size", "digest", "urls")}
        else:
            layers.append(_layer(tree, rel, diff_id, f"{entry.where}.Layers[{i}]", hashed))
    manifest_type, config_type = DOCKER_MANIFEST, DOCKER_CONFIG
    if any(b.descriptor.media_type == OCI_LAYER_ZSTD for b in layers):  # no Docker type for zstd: all OCI
        manifest_type, config_type = OCI_MANIFEST, OCI_CONFIG
        layers = [replace(b, descriptor=replace(b.descriptor, media_type=_OCI_TYPES.get(b.descriptor.media_type,
                                                                                        b.descriptor.media_type)))
                  for b in layers]
    config_blob = Blob(Descriptor(config_type, config_digest, len(config_raw)), tree.opener(entry.config),
                       name=cfg_name)
    doc: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": len(config_raw), "digest": config_digest},
        "layers": [{"mediaType": b.descriptor.media_type, "size": b.descriptor.size, "digest": b.descriptor.digest}
                   for b in layers],
    }
    for i in sorted(foreign):  # in place, as docker push writes them
        doc["layers"].insert(i, foreign[i])
    raw = json.dumps(doc, indent=3).encode()
    return ImageManifest(Descriptor(manifest_type, sha256_digest(raw), len(raw)), raw, config_blob, layers)


def _layer(tree: Tree, rel: str, diff_id: str, where: str, hashed: Dict[str, str]) -> Blob:
    size = tree.size(rel)
    if size is None:
        raise MissingError(f"{where}: layer {tree.name(rel)} is missing")
    opener = tree.opener(rel)
    with opener() as f:
        magic = f.read(6)
    kind = sniff(magic)
    if kind in (XZ, BZIP2):
        raise SourceError(f"{tree.name(rel)}: {kind}-compressed layer is not supported")
    if kind in (GZIP, ZSTD):
        media_type = DOCKER_LAYER_GZIP if kind == GZIP else OCI_LAYER_ZSTD
        named = _NAMED_BLOB.match(rel)
        if named:
            digest = "sha256:" + named.group(1)
        else:
            if rel not in hashed:
                hashed[rel] = _hash(opener)
            digest = hashed[rel]
        return Blob(Descriptor(media_type, digest, size), opener, name=tree.name(rel))
    return Blob(Descriptor(DOCKER_LAYER, diff_id, size), opener, name=tree.name(rel))


def _hash(opener: Any) -> str:
    h = hashlib.sha256()
    with opener() as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()

