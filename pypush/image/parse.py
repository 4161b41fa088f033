"""Parsing and validation of the JSON documents image sources hold (manifests, indexes, descriptors).

Every function raises SourceError with a one-line message naming ``where`` (a file, blob or field).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from pypush.errors import SourceError
from pypush.image.digest import digest_of
from pypush.name.patterns import BLOB_DIGEST, TAG
from pypush.image.model import INDEX_TYPES, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST, Descriptor

MAX_MANIFEST = 4 * 1024 * 1024  # ECR's and the distribution registry's limit on manifest bytes


class MissingError(SourceError):
    """A blob or manifest the source refers to is not in it."""


# RFC 6838 type/subtype, plus the +suffix and .dots media types use; parameters are not allowed.
_MEDIA_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


def is_digest(value: Any) -> bool:
    """True for ``sha256:`` + 64 (or ``sha512:`` + 128) lowercase hex digits."""
    return isinstance(value, str) and BLOB_DIGEST.fullmatch(value) is not None


def is_tag(value: str) -> bool:
    """True when ``value`` is a valid OCI tag."""
    return TAG.fullmatch(value) is not None


def check_digest(value: Any, where: str) -> str:
    """``value`` if it is a well-formed digest, else SourceError."""
    if not is_digest(value):
        raise SourceError(f"{where}: invalid digest {_short(value)} (want sha256: and 64, or sha512: and 128, lowercase hex digits)")
    return value


def check_media_type(value: Any, where: str) -> str:
    """``value`` if it is a well-formed media type, else SourceError."""
    if value is None:
        raise SourceError(f"{where}: missing")
    if not isinstance(value, str) or not _MEDIA_TYPE_RE.match(value):
        raise SourceError(f"{where}: malformed media type {_short(value)}")
    return value


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r}")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(raw: bytes, where: str, kind: type = dict) -> Any:
    """Parse ``raw`` as strict UTF-8 JSON whose top level is a ``kind`` (dict or list).

    Duplicate keys (which different parsers resolve differently) and NaN/Infinity are refused.
    """
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise SourceError(f"{where}: not UTF-8 text") from None
    except ValueError as e:
        raise SourceError(f"{where}: invalid JSON: {e}") from None
    except RecursionError:
        raise SourceError(f"{where}: invalid JSON (nested too deeply)") from None
    if not isinstance(doc, kind):
        want = "an object" if kind is dict else "an array"
        raise SourceError(f"{where}: JSON top level is not {want}")
    return doc


def parse_descriptor(obj: Any, where: str) -> Descriptor:
    """Validate one JSON descriptor (mediaType, digest, size, annotations, platform, artifactType)."""
    if not isinstance(obj, dict):
        raise SourceError(f"{where}: descriptor is not a JSON object")
    check_media_type(obj.get("mediaType"), f"{where}.mediaType")
    check_digest(obj.get("digest"), f"{where}.digest")
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise SourceError(f"{where}.size: {_short(size)} is not a non-negative integer")
    check_annotations(obj, where)
    urls = obj.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise SourceError(f"{where}.urls: not an array of strings")
    platform = obj.get("platform")
    if platform is not None and not (isinstance(platform, dict) and isinstance(platform.get("architecture"), str)
                                     and isinstance(platform.get("os"), str)):
        raise SourceError(f"{where}.platform: needs string architecture and os")
    for key, kind in (("variant", str), ("os.version", str), ("os.features", list), ("features", list)):
        value = (platform or {}).get(key)
        if value is not None and not (isinstance(value, kind) and (kind is str or all(
                isinstance(v, str) for v in value))):
            raise SourceError(f"{where}.platform.{key}: not {'a string' if kind is str else 'an array of strings'}")
    artifact_type = obj.get("artifactType")
    if artifact_type is not None:
        check_media_type(artifact_type, f"{where}.artifactType")
    data = obj.get("data")
    if data is not None:
        check_embedded_data(data, obj["digest"], size, f"{where}.data")
    return Descriptor.from_json(obj)


def check_annotations(obj: Mapping[str, Any], where: str) -> None:
    """Raise unless ``obj["annotations"]`` is absent or a map of strings to strings."""
    annotations = obj.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())):
        raise SourceError(f"{where}.annotations: not a map of strings")


def check_embedded_data(data: Any, digest: str, size: int, where: str) -> bytes:
    """The bytes of an OCI 1.1 ``data`` member, checked against the descriptor's size and digest."""
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None:
        raise SourceError(f"{where}: not base64")
    if len(raw) != size or digest_of(raw, digest.partition(":")[0]) != digest:
        raise SourceError(f"{where}: embedded content does not match the descriptor's size and digest")
    return raw


def parse_descriptors(doc: Mapping[str, Any], key: str, where: str) -> List[Descriptor]:
    """The descriptors in array ``doc[key]`` (required)."""
    items = doc.get(key)
    if not isinstance(items, list):
        raise SourceError(f"{where}: missing or non-array {key!r}")
    return [parse_descriptor(item, f"{where}.{key}[{i}]") for i, item in enumerate(items)]


def check_manifest_bytes(raw: bytes, desc: Descriptor, where: str) -> None:
    """Raise unless ``raw`` has the size and digest ``desc`` declares (and fits the 4 MiB limit)."""
    if len(raw) != desc.size:
        raise SourceError(f"{where}: {len(raw)} bytes, but its descriptor declares size {desc.size}")
    actual = digest_of(raw, desc.digest.partition(":")[0])
    if actual != desc.digest:
        raise SourceError(f"{where}: content has digest {actual}, but its descriptor says {desc.digest}")


def manifest_kind(doc: Mapping[str, Any], desc: Descriptor, where: str) -> str:
    """The media type of a manifest document: its own ``mediaType``, else the referring descriptor's.

    Raises when the two disagree, when neither is a known manifest or index type, or when the
    document's members do not fit the type.
    """
    own = doc.get("mediaType")
    if own is not None:
        check_media_type(own, f"{where}.mediaType")
        if desc.media_type and own != desc.media_type and desc.media_type not in ("", "application/octet-stream"):
            raise SourceError(f"{where}: mediaType {own} differs from {desc.media_type} in the referring descriptor")
    media_type = own or desc.media_type
    if not media_type:  # neither says: guess from the members, as the OCI spec allows
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type.startswith("application/vnd.docker.distribution.manifest.v1+") or "fsLayers" in doc:
        raise SourceError(f"{where}: a Docker schema 1 manifest (deprecated) is not supported; convert the image "
                          f"first, e.g. skopeo copy --format v2s2 SOURCE oci:NEW_PATH:TAG")
    if media_type not in MANIFEST_TYPES and media_type not in INDEX_TYPES:
        raise SourceError(f"{where}: unknown manifest media type {_short(media_type)}")
    if doc.get("schemaVersion") != 2:
        raise SourceError(f"{where}: schemaVersion is {_short(doc.get('schemaVersion'))}, want 2")
    if media_type in MANIFEST_TYPES and "manifests" in doc and "config" not in doc:
        raise SourceError(f"{where}: an index (has 'manifests') labelled {media_type}")
    if media_type in INDEX_TYPES and "config" in doc:
        raise SourceError(f"{where}: a manifest (has 'config') labelled {media_type}")
    return media_type


def parse_manifest(doc: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """Validate an image/artifact manifest; returns {'config': Descriptor, 'layers': [Descriptor]}."""
    config = parse_descriptor(doc.get("config"), f"{where}.config") if "config" in doc else None
    if config is None:
        raise SourceError(f"{where}: missing 'config'")
    layers = parse_descriptors(doc, "layers", where)
    for key in ("subject",):
        if key in doc:
            parse_descriptor(doc[key], f"{where}.{key}")
    if "artifactType" in doc:
        check_media_type(doc["artifactType"], f"{where}.artifactType")
    check_annotations(doc, where)
    return {"config": config, "layers": layers}


def parse_index(doc: Mapping[str, Any], where: str) -> List[Descriptor]:
    """Validate an index / manifest list; returns its child descriptors."""
    children = parse_descriptors(doc, "manifests", where)
    check_annotations(doc, where)
    if "subject" in doc:
        parse_descriptor(doc["subject"], f"{where}.subject")
    if "artifactType" in doc:
        check_media_type(doc["artifactType"], f"{where}.artifactType")
    for i, child in enumerate(children):
        if child.media_type not in MANIFEST_TYPES and child.media_type not in INDEX_TYPES:
            raise SourceError(f"{where}.manifests[{i}]: unknown manifest media type {_short(child.media_type)}")
    return children


def tag_of(name: str) -> Optional[str]:
    """The tag of ``name`` (``repo:tag``, ``host:port/repo:tag`` or a bare tag), if it has a valid one."""
    tail = name.rsplit("/", 1)[-1]
    if "@" in tail:
        return None
    tag = tail.rsplit(":", 1)[-1] if ":" in tail else (name if "/" not in name else None)
    if tag is None or not is_tag(tag):
        return None
    return tag


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
