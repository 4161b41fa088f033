"""``scratch``: the empty base (no layers, an empty config) for each platform asked for, as Docker's
``FROM scratch``; several platforms make an index."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import List, Sequence

from pypush.errors import UsageError
from pypush.image.model import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Blob, Descriptor, ImageIndex, ImageManifest, Node
from pypush.image.model import sha256_digest
from pypush.image.platforms import Platform


@dataclass
class ScratchSource:
    """What ``open_source`` returns, for the empty base."""

    root: Node
    name: str = "scratch"

    def close(self) -> None:
        """Nothing to release."""


def _raw(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _manifest(platform: Platform) -> ImageManifest:
    plat = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        plat["variant"] = platform.variant
    config_raw = _raw({**plat, "config": {}, "rootfs": {"type": "layers", "diff_ids": []}})
    config_desc = Descriptor(OCI_CONFIG, sha256_digest(config_raw), len(config_raw))
    raw = _raw({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc.to_json(), "layers": []})
    config = Blob(config_desc, lambda: io.BytesIO(config_raw), name="scratch config")
    return ImageManifest(Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw), platform=plat), raw, config, [])


def scratch_source(platforms: Sequence[Platform]) -> ScratchSource:
    """The empty base for ``platforms`` (at least one: scratch has no platform of its own)."""
    if not platforms:
        raise UsageError("a scratch base needs --platform (it has no platform of its own), e.g. linux/amd64")
    children: List[ImageManifest] = [_manifest(p) for p in platforms]
    if len(children) == 1:
        return ScratchSource(children[0])
    raw = _raw({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [c.descriptor.to_json() for c in children]})
    return ScratchSource(ImageIndex(Descriptor(OCI_INDEX, sha256_digest(raw), len(raw)), raw, list(children)))
