"""Each platform's SBOM as an OCI referrer: an artifact manifest (``artifactType`` the SBOM's media type,
the empty config, one layer holding the document) whose ``subject`` is that platform's image manifest."""
from __future__ import annotations

import io
import json
from typing import Any, List, Sequence

from pypush.image.model import OCI_MANIFEST, Blob, Descriptor, ImageManifest, sha256_digest

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
_EMPTY = b"{}"
BASE_DIGEST = "org.opencontainers.image.base.digest"


def _blob(data: bytes, media_type: str, name: str) -> Blob:
    return Blob(Descriptor(media_type, sha256_digest(data), len(data)), lambda: io.BytesIO(data), name=name)


def sbom_referrers(image: Any, platforms: Sequence[Any], project: Any, base: str, created: str,
                   tool: str) -> List[ImageManifest]:
    """One SBOM referrer per platform manifest of ``image`` (a BuiltImage)."""
    from pypush.pybuild.sbom import MEDIA_TYPE, spdx

    by_base = {item.base_digest: item for item in platforms}
    out = []
    for descriptor, doc in image.manifests():
        item = by_base.get((doc.get("annotations") or {}).get(BASE_DIGEST, ""))
        if item is None:
            continue
        document = spdx(image_name=project.name, platform=item.target.platform, created=created, tool=tool,
                        base_name=base, base_digest=item.base_digest, distributions=item.dists)
        layer = _blob(document, MEDIA_TYPE, f"SBOM of {item.target.platform}")
        config = _blob(_EMPTY, EMPTY_TYPE, "empty config")
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": MEDIA_TYPE,
                    "config": {**config.descriptor.to_json(), "data": "e30="},
                    "layers": [layer.descriptor.to_json()],
                    "subject": {"mediaType": descriptor.media_type, "digest": descriptor.digest,
                                "size": descriptor.size},
                    "annotations": {"org.opencontainers.image.created": created}}
        raw = json.dumps(manifest, separators=(",", ":")).encode()
        out.append(ImageManifest(Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw), artifact_type=MEDIA_TYPE),
                                 raw, config, [layer]))
    return out
