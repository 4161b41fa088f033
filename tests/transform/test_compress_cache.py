"""The layer digest cache: locations, validation of what it reads, concurrent writers."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pypush.transform.layer_cache import CacheEntry, CacheKey, LayerCache

KEY = CacheKey("sha256:" + "a" * 64, "gzip", 1, "pgz1/zlib-1.2.13/b1048576")
DIGEST = "sha256:" + "b" * 64


def test_default_location_follows_env(monkeypatch, tmp_path):
    for var in ("PYPUSH_CACHE_DIR", "PYPUSH_NO_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert LayerCache.default().directory == tmp_path / "home" / ".cache" / "pypush"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert LayerCache.default().directory == tmp_path / "xdg" / "pypush"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says relative paths are invalid
    assert LayerCache.default().directory == tmp_path / "home" / ".cache" / "pypush"
    monkeypatch.setenv("PYPUSH_CACHE_DIR", str(tmp_path / "mine"))
    assert LayerCache.default().directory == tmp_path / "mine"
    monkeypatch.setenv("PYPUSH_NO_CACHE", "0")
    assert LayerCache.default() is not None
    monkeypatch.setenv("PYPUSH_NO_CACHE", "1")
    assert LayerCache.default() is None


def test_put_then_get_and_overwrite(tmp_path):
    cache = LayerCache(tmp_path)
    assert cache.get(KEY) is None
    cache.put(KEY, DIGEST, 123)
    assert cache.get(KEY) == CacheEntry(DIGEST, 123)
    assert LayerCache(tmp_path).get(CacheKey(KEY.source_digest, "gzip", 6, KEY.compressor)) is None
    assert LayerCache(tmp_path).get(CacheKey(KEY.source_digest, "gzip", 1, "pgz1/zlib-9.9/b1")) is None
    cache.put(KEY, "sha256:" + "c" * 64, 7)  # a corrected digest replaces the stale one
    assert cache.get(KEY) == CacheEntry("sha256:" + "c" * 64, 7)
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_puts_of_malformed_values_are_dropped(tmp_path):
    cache = LayerCache(tmp_path)
    for digest, size in (("", 10), ("sha256:xyz", 10), (DIGEST, 0), (DIGEST, -1)):
        cache.put(KEY, digest, size)
        assert cache.get(KEY) is None


def entry_path(cache: LayerCache) -> Path:
    cache.put(KEY, DIGEST, 123)
    (path,) = [p for p in cache.directory.rglob("*.json")]
    return path


@pytest.mark.parametrize("content", [
    b"", b"\x00\xff garbage", b'{"format": 1, "key": ', b"[]", b"null",
    json.dumps({"format": 2, "key": KEY.as_json(), "digest": DIGEST, "size": 1}).encode(),
    json.dumps({"format": 1, "key": dict(KEY.as_json(), level=9), "digest": DIGEST, "size": 1}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": "sha256:" + "B" * 64, "size": 1}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": "md5:" + "b" * 32, "size": 1}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": DIGEST, "size": "1"}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": DIGEST, "size": True}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": DIGEST, "size": 0}).encode(),
    json.dumps({"format": 1, "key": KEY.as_json(), "digest": DIGEST}).encode(),
], ids=lambda c: c[:40].decode("latin-1"))
def test_corrupt_or_foreign_entries_are_ignored_then_repaired(tmp_path, content):
    cache = LayerCache(tmp_path)
    path = entry_path(cache)
    path.write_bytes(content)
    assert cache.get(KEY) is None
    cache.put(KEY, DIGEST, 5)
    assert cache.get(KEY) == CacheEntry(DIGEST, 5)


def test_unreadable_entry_and_unwritable_directory_never_raise(tmp_path):
    cache = LayerCache(tmp_path)
    path = entry_path(cache)
    path.unlink()
    path.mkdir()  # reading a directory fails with an OSError
    assert cache.get(KEY) is None
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    LayerCache(blocked).put(KEY, DIGEST, 1)  # mkdir fails: logged, not raised
    assert LayerCache(blocked).get(KEY) is None


def _hammer(directory: str, worker: int, rounds: int, queue) -> None:
    cache = LayerCache(directory)
    bad = 0
    for i in range(rounds):
        cache.put(KEY, "sha256:" + f"{worker:x}" * 64, 1000 + worker)
        got = cache.get(KEY)
        if got is None or got.size - 1000 not in range(8) or got.digest != "sha256:" + f"{got.size - 1000:x}" * 64:
            bad += 1
    queue.put(bad)


def test_concurrent_writers_and_readers_always_see_a_whole_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), w, 150, queue)) for w in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [0] * 6
    assert LayerCache(tmp_path).get(KEY) is not None
    assert not [p for p in tmp_path.rglob(".tmp-*")]
