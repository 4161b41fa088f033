"""Where an image runs, read from what the store holds: an image's config blob (os, architecture,
variant), an index's child descriptors (their ``platform``, else the child's own config)."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from pypush.image.model import DOCKER_CONFIG, INDEX_TYPES, OCI_CONFIG
from pypush.name.patterns import DIGEST
from pypush.server.store.store import Store

MAX_CONFIG = 4 << 20
"""Config blobs larger than this are not read (no platform shown)."""
CACHE_ENTRIES = 4096


def platform_name(obj: Any) -> Optional[str]:
    """``os/architecture[/variant]`` of a config or descriptor platform; None when unknown."""
    if not isinstance(obj, dict):
        return None
    os_, arch = obj.get("os"), obj.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str) or not os_ or not arch or (os_, arch) == ("unknown", "unknown"):
        return None
    variant = obj.get("variant")
    return f"{os_}/{arch}/{variant}" if isinstance(variant, str) and variant else f"{os_}/{arch}"


def _doc(manifest: bytes) -> Dict[str, Any]:
    try:
        doc = json.loads(manifest)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class PlatformReader:
    """Platforms of stored manifests; config results are cached by digest (content never changes)."""

    def __init__(self, store: Store):
        self.store = store
        self._configs: "OrderedDict[str, Optional[str]]" = OrderedDict()
        self._lock = threading.Lock()

    def of(self, repo: str, digest: str, media_type: str, manifest: bytes) -> Tuple[Tuple[str, ...], bool]:
        """(platforms, is_index) of one stored manifest."""
        doc = _doc(manifest)
        if media_type not in INDEX_TYPES:
            found = self._image(doc)
            return ((found,) if found else ()), False
        out: List[str] = []
        for child in doc.get("manifests") or []:
            if not isinstance(child, dict):
                continue
            if isinstance(child.get("platform"), dict):
                found = platform_name(child["platform"])
            else:
                found = self._child(repo, child.get("digest"))
            if found and found not in out:
                out.append(found)
        return tuple(out), True

    def _child(self, repo: str, digest: Any) -> Optional[str]:
        if not isinstance(digest, str):
            return None
        with self.store.read() as db:
            row = db.execute("SELECT media_type, manifest FROM images WHERE repo=? AND digest=?",
                             (repo, digest)).fetchone()
        if row is None or row[0] in INDEX_TYPES:
            return None
        return self._image(_doc(row[1]))

    def _image(self, doc: Dict[str, Any]) -> Optional[str]:
        config = doc.get("config")
        if not isinstance(config, dict) or config.get("mediaType") not in (OCI_CONFIG, DOCKER_CONFIG, None):
            return None  # an artifact: its config says nothing about platforms
        digest = config.get("digest")
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            return None
        with self._lock:
            if digest in self._configs:
                self._configs.move_to_end(digest)
                return self._configs[digest]
        found = self._read_config(digest)
        with self._lock:
            self._configs[digest] = found
            while len(self._configs) > CACHE_ENTRIES:
                self._configs.popitem(last=False)
        return found

    def _read_config(self, digest: str) -> Optional[str]:
        try:
            with open(self.store.blob_path(digest), "rb") as f:
                raw = f.read(MAX_CONFIG + 1)
        except OSError:
            return None
        if len(raw) > MAX_CONFIG:
            return None
        return platform_name(_doc(raw))
