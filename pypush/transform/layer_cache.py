"""A local cache of what compressing a layer gave: (input digest, algorithm, level, compressor) →
(output digest, size), so a re-push can ask the registry first and skip compression and upload.

One small JSON file per key, written to a temporary file and renamed into place, so concurrent
runs never see half an entry and the last writer wins. Entries are checked on every read: a file
that is not valid JSON, names a different key or holds a malformed digest or size is ignored (and
overwritten by the next store). A wrong-but-well-formed entry cannot do harm either: the engine
verifies predicted digests while uploading and overwrites the entry with what it stored. Cache
failures (read-only disk, permissions) never fail a push; the cache just stays cold.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from pypush.cache_dir import cache_root, read_json, write_json
from pypush.name.patterns import DIGEST

log = logging.getLogger(__name__)

_FORMAT = 1


@dataclass(frozen=True)
class CacheKey:
    """What a compressed layer's bytes depend on. ``source_digest`` is the digest of the input
    (for compression, the layer's diff_id); ``compressor`` is :func:`pypush.transform.compress.compressor_id`."""

    source_digest: str
    algorithm: str
    level: int
    compressor: str

    def as_json(self) -> dict:
        return {"source": self.source_digest, "algorithm": self.algorithm, "level": self.level,
                "compressor": self.compressor}

    def filename(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest() + ".json"


@dataclass(frozen=True)
class CacheEntry:
    """The digest and size the compression of a key produced."""

    digest: str
    size: int


class LayerCache:
    """The cache in ``directory`` (created on first store)."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)

    @classmethod
    def default(cls) -> Optional["LayerCache"]:
        """The cache under the user's cache directory (pypush.cache_dir.cache_root); ``None`` when
        ``PYPUSH_NO_CACHE`` is set."""
        root = cache_root()
        return None if root is None else cls(root)

    def _path(self, key: CacheKey) -> Path:
        name = key.filename()
        return self.directory / "layers-v1" / name[:2] / name

    def get(self, key: CacheKey) -> Optional[CacheEntry]:
        """The entry for ``key``, or ``None`` when absent, unreadable or invalid."""
        path = self._path(key)
        try:
            doc = read_json(path, 4096)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.debug("ignoring unreadable cache entry %s: %s", path, e)
            return None
        entry = _validate(doc, key)
        if entry is None:
            log.debug("ignoring invalid cache entry %s", path)
        return entry

    def put(self, key: CacheKey, digest: str, size: int) -> None:
        """Record (atomically; last writer wins) that ``key`` compresses to ``digest``/``size``."""
        if not DIGEST.fullmatch(digest or "") or not isinstance(size, int) or size <= 0:
            return
        path = self._path(key)
        doc = {"format": _FORMAT, "key": key.as_json(), "digest": digest, "size": size}
        try:
            write_json(path, doc)
        except OSError as e:
            log.debug("cannot write cache entry %s: %s", path, e)


def _validate(doc: object, key: CacheKey) -> Optional[CacheEntry]:
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("key") != key.as_json():
        return None
    digest, size = doc.get("digest"), doc.get("size")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return None
    return CacheEntry(digest, size)
