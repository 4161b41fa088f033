"""Choosing platforms of a multi-platform index (``--platform OS/ARCH[/VARIANT]``)."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from pypush.errors import UsageError
from pypush.image.model import (DOCKER_CONFIG, OCI_CONFIG, REFERENCE_DIGEST, Descriptor, ImageIndex,
                                ImageManifest, Node, check_expansion, sha256_digest)

_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}  # what an index means when it names no variant


class NoSuchPlatform(UsageError):
    """The image offers none of the platforms asked for (or several that match one)."""


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` as users write it."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, platform: Optional[Mapping[str, Any]]) -> bool:
        """Whether a descriptor's ``platform`` is this one (a missing variant means the usual one)."""
        if not platform or platform.get("os") != self.os or platform.get("architecture") != self.architecture:
            return False
        if not self.variant:
            return True
        return (platform.get("variant") or _DEFAULT_VARIANT.get(self.architecture, "")) == self.variant


def parse_platform(text: str) -> Platform:
    """``linux/arm64/v8`` → Platform; UsageError naming ``text`` when it is not OS/ARCH[/VARIANT]."""
    parts = text.strip().split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/arm64")
    return Platform(*parts)


def describe(platform: Optional[Mapping[str, Any]]) -> str:
    """``os/arch[/variant]`` of a descriptor's platform, ``?`` when it has none."""
    if not platform:
        return "?"
    return "/".join(str(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k))


def choose(children: Sequence[Descriptor], platforms: Sequence[Platform], where: str) -> List[int]:
    """Positions of the children the ``platforms`` pick, in index order, with the attestation
    manifests that describe them (buildx's ``unknown/unknown`` entries naming a chosen digest).

    Every platform must pick exactly one child (UsageError naming the choices otherwise)."""
    chosen: List[int] = []
    for want in platforms:
        hits = [i for i, c in enumerate(children) if want.matches(c.platform)]
        if len(hits) != 1:
            raise _no_single_match(want, len(hits), [c.platform for c in children], where)
        chosen.append(hits[0])
    digests = {children[i].digest for i in chosen}
    chosen += [i for i, c in enumerate(children) if (c.annotations or {}).get(REFERENCE_DIGEST) in digests]
    return sorted(set(chosen))


def _no_single_match(want: Platform, hits: int, offered: Sequence[Optional[Mapping[str, Any]]],
                     where: str) -> "NoSuchPlatform":
    """The error for a platform that picks ``hits`` (not one) of the images whose platforms are ``offered``."""
    names = ", ".join(dict.fromkeys(describe(p) for p in offered if describe(p) != "unknown/unknown"))
    what = "no image" if not hits else f"{hits} images"
    return NoSuchPlatform(f"{where}: {what} for platform {want} (it offers {names or 'no platforms'})")


def narrow(desc: Descriptor, raw: bytes, children: Sequence[Descriptor], platforms: Sequence[Platform],
           where: str) -> Tuple[Optional[int], Descriptor, bytes, List[int]]:
    """What ``platforms`` keep of the index ``desc``/``raw`` listing ``children``:
    ``(position of the one child, when one platform is asked for, else None; the index's descriptor and
    bytes listing only the chosen children; their positions)``. Unchanged indexes keep their bytes."""
    keep = choose(children, platforms, where)
    if len(platforms) == 1:
        return next(i for i in keep if platforms[0].matches(children[i].platform)), desc, raw, keep
    if len(keep) == len(children):
        return None, desc, raw, keep
    new_desc, new = _rewrite(desc, raw, keep, {})
    return None, new_desc, new, keep


def _rewrite(desc: Descriptor, raw: bytes, keep: Sequence[int],
             changed: Mapping[int, Descriptor]) -> Tuple[Descriptor, bytes]:
    """The index ``desc``/``raw`` listing only its children at ``keep``, those in ``changed`` (position →
    new descriptor) pointing at their new bytes; the indentation of ``raw`` is kept."""
    doc = json.loads(raw)
    entries = doc["manifests"]
    for i, d in changed.items():
        entries[i] = {**entries[i], "digest": d.digest, "size": d.size}
    doc["manifests"] = [entries[i] for i in keep]
    indent = 3 if raw.startswith(b"{\n   ") else (2 if raw.startswith(b"{\n") else None)
    new = json.dumps(doc, indent=indent, separators=(",", ": ") if indent else (",", ":")).encode()
    return replace(desc, digest=sha256_digest(new), size=len(new), data=None), new


def select_platforms(root: Node, platforms: Sequence[Platform], where: str) -> Node:
    """``root`` narrowed to ``platforms`` (see ``narrow``); a single image must be of one of them."""
    if not platforms:
        return root
    if not isinstance(root, ImageIndex):
        check_single(root, platforms, where)
        return root
    if any(isinstance(c, ImageIndex) for c in root.children):
        check_expansion(root, where)
        return _select_nested(root, platforms, where)
    one, desc, raw, keep = narrow(root.descriptor, root.raw, [c.descriptor for c in root.children], platforms, where)
    if one is not None:
        return root.children[one]
    return ImageIndex(descriptor=desc, raw=raw, children=[root.children[i] for i in keep])


_Path = Tuple[int, ...]


def _leaves(node: ImageIndex, inherited: Optional[Mapping[str, Any]], prefix: _Path,
            out: List[Tuple[_Path, ImageManifest, Optional[Mapping[str, Any]]]]) -> None:
    """The manifests below ``node`` with their positions and platforms (an index's own platform, when its
    entry names one, stands for children that name none)."""
    for i, child in enumerate(node.children):
        platform = child.descriptor.platform or inherited
        if isinstance(child, ImageIndex):
            _leaves(child, platform, prefix + (i,), out)
        else:
            out.append((prefix + (i,), child, platform))


def _select_nested(root: ImageIndex, platforms: Sequence[Platform], where: str) -> Node:
    """``select_platforms`` for an index whose children include indexes: the platforms are looked for in
    every manifest below it; one platform yields its manifest, several an index tree holding only the
    paths to them (and the attestations naming them), rewritten indexes getting new digests."""
    leaves: List[Tuple[_Path, ImageManifest, Optional[Mapping[str, Any]]]] = []
    _leaves(root, root.descriptor.platform, (), leaves)
    chosen: Dict[str, _Path] = {}
    for want in platforms:
        hits: Dict[str, _Path] = {}
        for path, m, p in leaves:
            if want.matches(p):
                hits.setdefault(m.descriptor.digest, path)  # the same manifest listed twice is one image
        if len(hits) != 1:
            raise _no_single_match(want, len(hits), [p for _, _, p in leaves], where)
        chosen.update(hits)
    if len(platforms) == 1:
        return next(m for path, m, _ in leaves if path == next(iter(chosen.values())))
    kept = set(chosen.values()) | {path for path, m, _ in leaves
                                   if (m.descriptor.annotations or {}).get(REFERENCE_DIGEST) in chosen}
    return _prune(root, kept, ())


def _prune(node: ImageIndex, kept: Set[_Path], prefix: _Path) -> ImageIndex:
    """``node`` keeping only the children on the paths ``kept``; unchanged indexes keep their bytes."""
    keep: List[int] = []
    children: List[Node] = []
    changed: Dict[int, Descriptor] = {}
    for i, child in enumerate(node.children):
        path = prefix + (i,)
        if isinstance(child, ImageIndex):
            if not any(k[:len(path)] == path for k in kept):
                continue
            new = _prune(child, kept, path)
            if new.descriptor.digest != child.descriptor.digest:
                changed[i] = new.descriptor
            child = new
        elif path not in kept:
            continue
        keep.append(i)
        children.append(child)
    if len(keep) == len(node.children) and not changed:
        return node
    desc, raw = _rewrite(node.descriptor, node.raw, keep, changed)
    return ImageIndex(descriptor=desc, raw=raw, children=children)


def check_single(image: ImageManifest, platforms: Sequence[Platform], where: str) -> None:
    """UsageError unless the image's config names one of ``platforms`` (artifacts, whose config is no image
    config, pass)."""
    config = image.config
    if config.descriptor.media_type not in (OCI_CONFIG, DOCKER_CONFIG) or config.descriptor.size > 1 << 24:
        return
    with config.open() as f:
        doc = json.loads(f.read())
    if isinstance(doc, dict) and not any(p.matches(doc) for p in platforms):
        raise NoSuchPlatform(f"{where}: a single image for platform {describe(doc)}, not "
                         f"{', '.join(str(p) for p in platforms)}")
