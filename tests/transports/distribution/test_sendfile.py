"""Zero-copy v2 uploads: file blobs and tar members go out by sendfile on plain http, every byte still
checked against its digest on another thread (a mismatch fails the upload, nothing is committed)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from conftest import LOG_LINES, run_pypush
from pullcheck import pull_and_check
from pypush.image.verify_ahead import BackgroundCheck
from pypush.errors import DigestMismatchError
from pypush.image.model import Blob, Descriptor
from pypush.transports.distribution.destination import RegistryTransport

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
needs_sendfile = pytest.mark.skipif(not hasattr(os, "sendfile"), reason="no os.sendfile on this platform")


def _file_blob(tmp: Path, data: bytes, digest: str = "") -> Blob:
    path = tmp / "blob"
    path.write_bytes(data)
    digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
    return Blob(Descriptor(LAYER, digest, len(data)), lambda: open(path, "rb"), name=str(path))


@needs_sendfile
@pytest.mark.parametrize("source", ["oci:fixtures/multiarch.oci:1", "oci-archive:fixtures/small.oci-archive.tar"])
def test_push_sends_files_and_tar_members_by_sendfile(docker_registry, skopeo, tmp_path, source):
    dest = f"{docker_registry.host}/zero:1"
    proc = run_pypush("push", source, dest, "-vv", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "(sendfile)" in proc.stderr
    pull_and_check(skopeo, dest, tmp_path / "pulled")
    off = run_pypush("push", source, f"{docker_registry.host}/plain:1", "-vv", env={"PYPUSH_SENDFILE": "0"})
    assert off.returncode == 0 and "(sendfile)" not in off.stderr


@needs_sendfile
def test_a_corrupt_file_fails_its_sendfile_upload_and_is_not_stored(docker_registry, tmp_path):
    good = os.urandom(3 << 20)
    blob = _file_blob(tmp_path, good[:-1] + bytes([good[-1] ^ 1]), "sha256:" + hashlib.sha256(good).hexdigest())
    sent = []
    with RegistryTransport(docker_registry.host, "bad", lookup_credentials=False) as transport:
        transport.prepare()
        with pytest.raises(DigestMismatchError):
            transport.upload(blob, sent.append)
        assert transport.stats["sendfile"] == 0
        assert transport.missing([blob.descriptor.digest]) == {blob.descriptor.digest}
        fine = _file_blob(tmp_path, good)
        assert transport.upload(fine, sent.append) == fine.descriptor
        assert transport.stats["sendfile"] == 1 and sum(sent) >= len(good)
        assert transport.missing([fine.descriptor.digest]) == set()


def test_background_check_resumes_a_prefix_and_finds_a_bad_tail(tmp_path):
    data = os.urandom(1 << 20)
    blob = _file_blob(tmp_path, data)
    h = hashlib.sha256(data[:1000])
    BackgroundCheck(Blob(blob.descriptor, blob.open, hashed=(1000, h))).result()
    wrong = hashlib.sha256(b"x" * 1000)  # a prefix state that does not match the bytes: the digest will not
    with pytest.raises(DigestMismatchError):
        BackgroundCheck(Blob(blob.descriptor, blob.open, hashed=(1000, wrong))).result()
