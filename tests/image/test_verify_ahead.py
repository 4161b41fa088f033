"""VerifyAhead: blobs hashed before their upload starts, handed over whole or in part."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from pypush.image.digest import VerifyingReader
from pypush.errors import DigestMismatchError
from pypush.image.model import Blob, Descriptor
from pypush.sources.tarfs import MemberReader
from pypush.image import verify_ahead
from pypush.image.verify_ahead import PIECE, VerifyAhead

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(data: bytes, opener: Callable, digest: str = "", size: int = -1) -> Blob:
    digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
    return Blob(Descriptor(LAYER, digest, len(data) if size < 0 else size), opener, name="test-blob")


def _file_blob(tmp: Path, data: bytes, **kw) -> Blob:
    path = tmp / f"blob-{len(data)}-{hashlib.sha256(data).hexdigest()[:8]}"
    path.write_bytes(data)
    return _blob(data, lambda: open(path, "rb"), **kw)


def _finish(ahead: VerifyAhead, blob: Blob):
    """Wait until the thread is done with ``blob`` (or gave up), then claim it."""
    deadline = time.monotonic() + 30
    while id(blob) not in ahead._results and time.monotonic() < deadline:
        time.sleep(0.005)
    return ahead.claim(blob)


def _reupload(blob: Blob, hashed) -> str:
    """What an upload does with the hand-over: read every byte, hash the rest, verify at EOF."""
    with VerifyingReader(blob.open(), blob.descriptor.digest, blob.descriptor.size, blob.name, hashed) as r:
        while r.read(1 << 16):
            pass
        return r.digest


@pytest.mark.parametrize("size", [1, 4095, 4096, PIECE - 1, PIECE + 12345, 2 * PIECE + 7])
def test_whole_blob_verified_ahead_is_handed_over(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    blob = _file_blob(tmp_path, data)
    ahead = VerifyAhead([blob]).start()
    hashed = _finish(ahead, blob)
    assert hashed is not None and hashed[0] == size
    assert _reupload(blob, hashed) == blob.descriptor.digest


def test_claim_mid_blob_hands_over_a_prefix_the_upload_completes(tmp_path: Path) -> None:
    data = os.urandom(8 * PIECE)
    blob = _file_blob(tmp_path, data)
    ahead = VerifyAhead([blob]).start()
    deadline = time.monotonic() + 10
    while ahead._current != id(blob) and id(blob) not in ahead._results and time.monotonic() < deadline:
        time.sleep(0.0005)
    hashed = ahead.claim(blob)  # usually mid-way: whatever was hashed is a prefix
    assert hashed is None or 0 <= hashed[0] <= len(data)
    assert _reupload(blob, hashed) == blob.descriptor.digest
    assert _reupload(blob, hashed) == blob.descriptor.digest  # a retry resumes from the same prefix


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "content has digest"),
    (lambda d: d[:-10], "bytes, but its descriptor declares"),
    (lambda d: d + b"extra", "more bytes than"),
])
def test_broken_content_fails_at_claim(tmp_path: Path, mutate, message: str) -> None:
    good = os.urandom(PIECE + 999)
    blob = _file_blob(tmp_path, mutate(good), digest="sha256:" + hashlib.sha256(good).hexdigest(), size=len(good))
    ahead = VerifyAhead([blob]).start()
    with pytest.raises(DigestMismatchError, match=message):
        _finish(ahead, blob)


def test_tar_member_is_read_in_place(tmp_path: Path) -> None:
    data = os.urandom(3 * PIECE // 2)
    tar = tmp_path / "image.tar"
    with tarfile.open(tar, "w") as tf:
        for name, content in (("pad", b"x" * 777), ("layer", data)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    with tarfile.open(tar) as tf:
        member = tf.getmember("layer")
    blob = _blob(data, lambda: MemberReader(str(tar), member.offset_data, member.size))
    assert _finish(VerifyAhead([blob]).start(), blob)[0] == len(data)


def test_streams_without_a_file_are_read_through_a_buffer() -> None:
    data = os.urandom(PIECE + 5)
    blob = _blob(data, lambda: io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    hashed = _finish(VerifyAhead([blob]).start(), blob)
    assert hashed is not None and _reupload(blob, hashed) == blob.descriptor.digest


def test_blobs_left_out_or_stopped_are_not_hashed(tmp_path: Path) -> None:
    a, b = _file_blob(tmp_path, os.urandom(1000)), _file_blob(tmp_path, os.urandom(2000))
    ahead = VerifyAhead([a, b])
    ahead.keep_only([a])
    ahead.start()
    assert _finish(ahead, a)[0] == 1000
    assert ahead.claim(b) is None
    stopped = VerifyAhead([_file_blob(tmp_path, os.urandom(3000))])
    stopped.stop()
    stopped.start()
    assert stopped.claim(stopped._queue[0]) is None


def test_a_stalled_read_does_not_hold_the_upload(monkeypatch) -> None:
    """A claim waits for the hand-over only so long; the upload then hashes the blob itself."""
    import threading

    from pypush.image import verify_ahead

    monkeypatch.setattr(verify_ahead, "HANDOVER_WAIT", 0.2)
    data, release, reading = os.urandom(1000), threading.Event(), threading.Event()

    class Stalled(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[override]
            reading.set()
            release.wait(10)
            returned.set()
            return 0

    returned = threading.Event()
    blob = _blob(data, lambda: Stalled())
    ahead = VerifyAhead([blob]).start()
    assert reading.wait(10)
    assert ahead.claim(blob) is None
    assert not returned.is_set()  # the claim gave up on the hand-over while the read was still stalled
    release.set()
    assert _reupload(_blob(data, lambda: io.BytesIO(data)), None) == blob.descriptor.digest


@pytest.mark.parametrize("mappable", [True, False], ids=["mapping", "reads"])
@pytest.mark.parametrize("good", [True, False], ids=["intact", "corrupt"])
def test_both_paths_hash_the_same_and_catch_the_same(tmp_path: Path, monkeypatch, mappable: bool, good: bool) -> None:
    """A file is hashed through a read-only mapping; where mapping fails (32-bit address space, FUSE) the
    same bytes go through the read buffer. Both hand over the same prefix, both catch a wrong blob."""
    data = os.urandom(2 * PIECE + 99)
    on_disk = data if good else data[:-1] + bytes([data[-1] ^ 1])
    path = tmp_path / "blob"
    path.write_bytes(on_disk)
    blob = _blob(data, lambda: open(path, "rb"))
    paths = []
    real_hash = VerifyAhead._hash

    def spy(self, blob, stream, buffer):
        paths.append("reads" if buffer is not None else type(stream).__name__)
        return real_hash(self, blob, stream, buffer)

    monkeypatch.setattr(VerifyAhead, "_hash", spy)
    if not mappable:
        def unmappable(*args, **kwargs):
            raise OverflowError("cannot fit 'int' into an index-sized integer")
        monkeypatch.setattr(verify_ahead.mmap, "mmap", unmappable)
    ahead = VerifyAhead([blob]).start()
    if good:
        result = _finish(ahead, blob)
        assert result is not None and result[0] == len(data)
        assert _reupload(blob, result) == blob.descriptor.digest
    else:
        with pytest.raises(DigestMismatchError, match="content has digest"):
            _finish(ahead, blob)
    assert paths == (["_Mapped"] if mappable else ["reads"])


def test_a_compressed_layer_has_its_input_hashed_ahead_and_resumed(tmp_path: Path) -> None:
    """A layer compressed on upload: VerifyAhead hashes its plain source; the compressor's reader resumes
    that hash (same output), and a wrong source still fails at the claim."""
    from dataclasses import replace

    from pypush.transform.convert import transform_layer

    data = os.urandom(PIECE) + b"layer " * PIECE
    plain = _file_blob(tmp_path, data)
    plain = replace(plain, descriptor=replace(plain.descriptor, media_type="application/vnd.oci.image.layer.v1.tar"))
    blob = transform_layer(plain, "gzip")
    assert blob.source is plain
    with blob.open() as r:
        want = r.read()
    hashed = _finish(VerifyAhead([blob]).start(), blob)
    assert hashed is not None and hashed[0] == len(data)
    resumed = blob.with_hashed(hashed)
    assert resumed.source is not None and resumed.source.hashed is hashed and plain.hashed is None  # a new value
    with resumed.open() as r:
        assert r.read() == want
    wrong_prefix = blob.with_hashed((len(data), hashlib.sha256(b"not the layer")))  # used, not hashed again
    with pytest.raises(DigestMismatchError), wrong_prefix.open() as r:
        r.read()
    wrong = replace(plain, descriptor=replace(plain.descriptor, digest="sha256:" + "0" * 64), hashed=None)
    bad = transform_layer(wrong, "gzip")
    with pytest.raises(DigestMismatchError):
        _finish(VerifyAhead([bad]).start(), bad)
