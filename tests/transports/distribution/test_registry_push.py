"""The v2 transport against Debian's docker-registry: uploads, mounts, manifests, pulled back by skopeo.

Images are built in memory (Blob objects over bytes) by registry_builders.py, which the other registry
test modules share.
"""
from __future__ import annotations

import io

import pytest
import requests

from imagegen import random_bytes
from pullcheck import pull_and_check
from registry_builders import MiB, blob_of, gz_layer, make_image, make_index, transport_for, fetch_blob, uploads_in_progress, requests_logged, Progress

from pypush.engine.transfer import push
from pypush.errors import DigestMismatchError, RegistryError, TransientError
from pypush.image.model import OCI_LAYER_GZIP, OCI_MANIFEST, Blob, Descriptor, sha256_digest
from pypush.net.retry import Backoff
from pypush.transports.distribution.destination import RegistryTransport


# ----- blobs --------------------------------------------------------------------------------------------

def test_monolithic_upload_then_skipped(registry):
    data = random_bytes(6 * MiB + 123, 1)
    blob = blob_of(data)
    with transport_for(registry, "mono/a") as t:
        t.prepare()
        assert t.missing([blob.descriptor.digest, blob.descriptor.digest]) == {blob.descriptor.digest}
        progress = Progress()
        assert t.upload(blob, progress) == blob.descriptor
        assert progress.total == len(data) and max(progress.calls) <= MiB
        assert t.stats["patches"] == 0 and t.stats["uploaded"] == 1
        assert t.missing([blob.descriptor.digest]) == set()
    assert fetch_blob(registry, "mono/a", blob.descriptor.digest) == data


def test_chunked_upload(registry):
    data = random_bytes(5 * MiB + 7, 2)
    blob = blob_of(data)
    with transport_for(registry, "chunked/a", chunk_size=MiB) as t:
        progress = Progress()
        assert t.upload(blob, progress) == blob.descriptor
        assert t.stats["patches"] == 6
        assert progress.total == len(data)
    assert fetch_blob(registry, "chunked/a", blob.descriptor.digest) == data


@pytest.mark.parametrize("chunk_size", [MiB, 64 * MiB])
def test_unknown_digest_streams_and_computes_it(registry, chunk_size):
    data = random_bytes(3 * MiB + 5, 3 + chunk_size)
    blob = Blob(Descriptor(OCI_LAYER_GZIP, "", 0), lambda: io.BytesIO(data), name="compressed stream")
    with transport_for(registry, "unknown/a", chunk_size=chunk_size) as t:
        progress = Progress()
        stored = t.upload(blob, progress)
        assert (stored.digest, stored.size, stored.media_type) == (sha256_digest(data), len(data), OCI_LAYER_GZIP)
        assert progress.total == len(data)
        assert t.missing([stored.digest]) == set()
    assert fetch_blob(registry, "unknown/a", stored.digest) == data


def test_empty_blob(registry):
    blob = blob_of(b"")
    with transport_for(registry, "empty/a") as t:
        assert t.upload(blob, Progress()) == blob.descriptor
        assert t.missing([blob.descriptor.digest]) == set()


@pytest.mark.parametrize("chunk_size", [MiB, 64 * MiB])
@pytest.mark.parametrize("fault", ["content", "too long", "too short"])
def test_digest_mismatch_aborts_without_committing(registry, chunk_size, fault):
    data = random_bytes(3 * MiB, 4)
    claimed = {"content": data[:-1] + b"x", "too long": data[:-1], "too short": data + b"y"}[fault]
    blob = blob_of(data, digest=sha256_digest(claimed), size=len(claimed), name="bad-layer.tar.gz")
    repo = f"bad/{fault.replace(' ', '-')}-{chunk_size}"
    with transport_for(registry, repo, chunk_size=chunk_size) as t:
        with pytest.raises(DigestMismatchError, match="bad-layer.tar.gz"):
            t.upload(blob, Progress())
        assert t.missing([sha256_digest(claimed), sha256_digest(data)]) == {sha256_digest(claimed),
                                                                            sha256_digest(data)}
    # Nothing committed; the session's DELETE was sent (docker-registry refuses it when the request
    # was cut off mid-body, as its _state offset no longer matches: then the bytes stay uncommitted).
    assert requests_logged(registry, "PUT", f"/v2/{repo}/blobs/uploads/") == 0 or chunk_size > MiB
    assert requests_logged(registry, "DELETE", f"/v2/{repo}/blobs/uploads/") == 1


def test_mount_between_repositories(registry):
    data = random_bytes(2 * MiB, 5)
    blob = blob_of(data)
    with transport_for(registry, "mount/src") as src:
        src.upload(blob, Progress())
    with transport_for(registry, "mount/dst", mount_from=["mount/elsewhere", "mount/src"]) as dst:
        progress = Progress()
        assert dst.upload(blob, progress) == blob.descriptor
        assert dst.stats["mounted"] == 1 and dst.stats["uploaded"] == 0 and progress.total == 0
        assert dst.missing([blob.descriptor.digest]) == set()
        # a blob the source repository lacks is uploaded through the session the mount attempt opened
        other = blob_of(random_bytes(MiB, 6))
        assert dst.upload(other, Progress()) == other.descriptor
        assert dst.stats["uploaded"] == 1
    assert uploads_in_progress(registry, "mount/dst") == []
    assert fetch_blob(registry, "mount/dst", blob.descriptor.digest) == data


# ----- manifests ------------------------------------------------------------------------------------------

def test_multi_arch_index_pulled_back_by_skopeo(registry, skopeo, tmp_path):
    shared = gz_layer(3 * MiB, 10)
    amd = make_image([shared, gz_layer(2 * MiB, 11)], "amd64")
    arm = make_image([shared, gz_layer(MiB, 12), gz_layer(4 * MiB, 13)], "arm64")
    index = make_index([amd, arm])
    with transport_for(registry, "multi/app") as t:
        t.prepare()
        result = push(index, t, ["v1", "latest"], repository="multi/app", jobs=4)
        assert result.digest == index.descriptor.digest and result.blobs_pushed == 6
        assert t.stats["uploaded"] == 6
    for tag in ("v1", "latest"):
        assert skopeo.inspect_raw(f"{registry.host}/multi/app:{tag}") == index.raw
    assert skopeo.inspect_raw(f"{registry.host}/multi/app@{arm.descriptor.digest}") == arm.raw
    checked = pull_and_check(skopeo, f"{registry.host}/multi/app:v1", tmp_path / "pulled", index.descriptor.digest)
    assert sorted(checked["configs"]) == sorted([amd.config.descriptor.digest, arm.config.descriptor.digest])

    with transport_for(registry, "multi/app") as again:  # re-push: nothing to upload
        result = push(index, again, ["v1"], repository="multi/app")
        assert result.blobs_pushed == 0 and again.stats["uploaded"] == 0


def test_manifest_by_digest_only(registry, skopeo):
    image = make_image([gz_layer(MiB, 20)])
    with transport_for(registry, "bydigest/a") as t:
        for blob in image.blobs:
            t.upload(blob, Progress())
        t.put_manifest(image.raw, OCI_MANIFEST, image.descriptor.digest, [])
    assert skopeo.inspect_raw(f"{registry.host}/bydigest/a@{image.descriptor.digest}") == image.raw
    tags = requests.get(f"http://{registry.host}/v2/bydigest/a/tags/list", timeout=10).json()
    assert not tags.get("tags")


def test_manifest_refusal_names_status_and_code(registry):
    image = make_image([gz_layer(MiB, 21)])
    with transport_for(registry, "refused/a") as t:
        with pytest.raises(RegistryError) as info:  # its blobs were never uploaded
            t.put_manifest(image.raw, OCI_MANIFEST, image.descriptor.digest, ["1"])
    assert info.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert "HTTP 400" in str(info.value) and registry.host in str(info.value)


# ----- schemes and reachability ------------------------------------------------------------------------

def test_loopback_falls_back_to_http_without_insecure(registry):
    with RegistryTransport(registry.host, "scheme/a", lookup_credentials=False) as t:
        t.prepare()
        assert t.client.url("/v2/") == f"http://{registry.host}/v2/"


def test_refused_registry_fails_at_once_without_retries():
    """Nothing listens: no retry (waiting does not heal it; skopeo and crane fail at once too)."""
    from conftest import free_port

    host = f"127.0.0.1:{free_port()}"
    with RegistryTransport(host, "x/y", insecure=True, backoff=Backoff(attempts=3, base=0.01),
                           lookup_credentials=False) as t:
        with pytest.raises(TransientError, match="connection refused, not retried: nothing listens there"):
            t.prepare()
        assert t.stats["retries"] == 0
