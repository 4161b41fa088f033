"""Images of premium repositories through stock boto3: repositoryType on the push and image operations, the
FREE/PREMIUM separation, DeletionNotAllowed after DRAFT, SetImageStatus (deprecation, re-activation, the
manifest-list rules) and deletion when the endpoint's clock passes scheduledDeletionAt; subjectManifestDigest."""
from __future__ import annotations

import json

import pytest

from conftest import server_fixture
from endpoint_client import OCI_MANIFEST, client, code_of, error_of, index, manifest, push_blob, sha
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

DAY = 24 * 3600
P = {"repositoryType": "PREMIUM"}


class Clock:
    """The endpoint's time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@server_fixture
def clocked(tmp_path):
    clock = Clock()
    with LocalEndpoint(data_dir=tmp_path / "data", clock=clock) as ep:
        yield ep, client(ep), clock


def push(c, repo: str, seed: str, tag=None, extra=P, **doc):
    """A one-layer image pushed with ``extra`` (repositoryType) on every call; its manifest text."""
    layer = f"layer {seed}".encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    for blob in (config, layer):
        if not c.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha(blob)], **extra)["layers"]:
            push_blob(c, repo, blob, **extra)
    text = manifest(config, [layer], **doc)
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}), **extra)
    return text


def test_push_calls_carry_repository_type_and_keep_the_twins_apart(clocked):
    ep, c, _ = clocked
    c.create_repository(repositoryName="app")
    c.create_premium_repository(repositoryName="app", marketplaceProducts=["prod"])
    layer = b"premium layer bytes"
    up = c.initiate_layer_upload(repositoryName="app", **P)
    part = c.upload_layer_part(repositoryName="app", uploadId=up["uploadId"], partFirstByte=0,
                               partLastByte=len(layer) - 1, layerPartBlob=layer, **P)
    assert part["repositoryType"] == "PREMIUM" and part["repositoryName"] == "app"
    # The upload belongs to the premium repository: the FREE twin does not know it.
    assert code_of(c.complete_layer_upload, repositoryName="app", uploadId=up["uploadId"],
                   layerDigests=[sha(layer)]) == "UploadNotFoundException"
    done = c.complete_layer_upload(repositoryName="app", uploadId=up["uploadId"], layerDigests=[sha(layer)], **P)
    assert done["repositoryType"] == "PREMIUM" and done["layerDigest"] == sha(layer)
    assert c.batch_check_layer_availability(repositoryName="app", layerDigests=[sha(layer)], **P)["layers"]
    assert c.batch_check_layer_availability(repositoryName="app", layerDigests=[sha(layer)])["failures"][0][
        "failureCode"] == "MissingLayerDigest"
    text = push(c, "app", "one", tag="v1")
    digest = sha(text.encode())
    got = c.describe_images(repositoryName="app", **P)["imageDetails"]
    assert [(d["imageDigest"], d["repositoryType"], d["imageStatus"], d["imageTags"]) for d in got] == \
        [(digest, "PREMIUM", "ACTIVE", ["v1"])]
    assert "scheduledDeletionAt" not in got[0]
    assert c.describe_images(repositoryName="app")["imageDetails"] == []
    assert c.describe_images(repositoryName="app", repositoryType="FREE")["imageDetails"] == []
    tags = c.describe_image_tags(repositoryName="app", **P)["imageTagDetails"]
    assert [(t["imageTag"], t["imageDetail"]["imageStatus"]) for t in tags] == [("v1", "ACTIVE")]
    free_text = push(c, "app", "free", tag="v1", extra={})
    out = c.put_image(repositoryName="app", imageManifest=free_text, imageTag="v2")["image"]
    assert out["repositoryType"] == "FREE"
    free = c.describe_images(repositoryName="app")["imageDetails"]
    assert {d["imageDigest"] for d in free} == {sha(free_text.encode())} and free[0]["repositoryType"] == "FREE"
    assert "imageStatus" not in free[0]
    # A premium-only name through a FREE call, and a FREE-only one through a PREMIUM call: RNF.
    c.create_premium_repository(repositoryName="only-premium", marketplaceProducts=["prod"])
    c.create_repository(repositoryName="only-free")
    for repo, extra in (("only-premium", {}), ("only-free", P)):
        for call, args in ((c.initiate_layer_upload, {}), (c.describe_images, {}), (c.describe_image_tags, {}),
                           (c.batch_check_layer_availability, {"layerDigests": [sha(layer)]}),
                           (c.put_image, {"imageManifest": text}),
                           (c.batch_delete_image, {"imageIds": [{"imageTag": "v1"}]}),
                           (c.upload_layer_part, {"uploadId": up["uploadId"], "partFirstByte": 0,
                                                  "partLastByte": 0, "layerPartBlob": b"x"}),
                           (c.complete_layer_upload, {"uploadId": up["uploadId"], "layerDigests": [sha(layer)]})):
            assert code_of(call, repositoryName=repo, **extra, **args) == "RepositoryNotFoundException", call
    assert code_of(c.describe_images, repositoryName="app", repositoryType="BASIC") == "InvalidParameterException"
    # The FREE twin's image and tags are its own; the premium image is untouched by FREE deletes.
    c.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v1"}, {"imageTag": "v2"}])
    assert len(c.describe_images(repositoryName="app", **P)["imageDetails"]) == 1


def test_batch_delete_only_in_draft(clocked):
    ep, c, _ = clocked
    c.create_premium_repository(repositoryName="del", marketplaceProducts=["prod"])
    push(c, "del", "a", tag="a")
    push(c, "del", "b", tag="b")
    assert c.batch_delete_image(repositoryName="del", imageIds=[{"imageTag": "a"}], **P)["imageIds"]
    assert code_of(c.delete_premium_repository, repositoryName="del") == "RepositoryNotEmptyException"
    c.set_repository_state(repositoryName="del", repositoryType="PREMIUM", state="AVAILABLE")
    err = error_of(c.batch_delete_image, repositoryName="del", imageIds=[{"imageTag": "b"}], **P)
    assert err["Error"]["Code"] == "DeletionNotAllowedException" and "SetImageStatus" in err["Error"]["Message"]
    assert [d["imageTags"] for d in c.describe_images(repositoryName="del", **P)["imageDetails"]] == [["b"]]


def test_deprecation_reactivation_and_deletion_by_the_clock(clocked):
    ep, c, clock = clocked
    c.create_premium_repository(repositoryName="dep", marketplaceProducts=["prod"])
    text = push(c, "dep", "a", tag="v1")
    digest = sha(text.encode())
    ident = {"imageTag": "v1"}
    err = error_of(c.set_image_status, repositoryName="dep", repositoryType="PREMIUM", imageId=ident,
                   status="DEPRECATED", deprecationPeriodDays=90)
    assert err["Error"]["Code"] == "ValidationException" and "DRAFT" in err["Error"]["Message"]
    c.set_repository_state(repositoryName="dep", repositoryType="PREMIUM", state="AVAILABLE")

    def status(**kw):
        return c.set_image_status(repositoryName="dep", repositoryType="PREMIUM", imageId=ident, **kw)

    for bad in ({"status": "DEPRECATED"}, {"status": "DEPRECATED", "deprecationPeriodDays": 89},
                {"status": "DEPRECATED", "deprecationPeriodDays": 366}, {"status": "ACTIVE", "deprecationPeriodDays": 90},
                {"status": "GONE"}):
        assert code_of(status, **bad) == "InvalidParameterException", bad
    assert code_of(c.set_image_status, repositoryName="dep", repositoryType="FREE", imageId=ident,
                   status="ACTIVE") == "InvalidParameterException"
    assert code_of(c.set_image_status, repositoryName="dep", repositoryType="PREMIUM", imageId={"imageTag": "nope"},
                   status="ACTIVE") == "ImageNotFoundException"
    assert code_of(c.set_image_status, repositoryName="nope", repositoryType="PREMIUM", imageId=ident,
                   status="ACTIVE") == "RepositoryNotFoundException"
    out = status(status="DEPRECATED", deprecationPeriodDays=90)
    assert out["imageId"]["imageDigest"] == digest and out["status"] == "DEPRECATED"
    assert out["scheduledDeletionAt"].timestamp() == clock.now + 90 * DAY
    assert code_of(status, status="DEPRECATED", deprecationPeriodDays=100) == "ValidationException"
    detail = c.describe_images(repositoryName="dep", **P)["imageDetails"][0]
    assert detail["imageStatus"] == "DEPRECATED" and detail["scheduledDeletionAt"] == out["scheduledDeletionAt"]
    tag = c.describe_image_tags(repositoryName="dep", **P)["imageTagDetails"][0]["imageDetail"]
    assert tag["imageStatus"] == "DEPRECATED" and tag["scheduledDeletionAt"] == out["scheduledDeletionAt"]
    # Re-activated before the date: the deletion is cancelled.
    clock.now += 89 * DAY
    back = status(status="ACTIVE")
    assert back["status"] == "ACTIVE" and "scheduledDeletionAt" not in back
    assert status(status="ACTIVE")["status"] == "ACTIVE"
    clock.now += 2 * DAY
    assert c.describe_images(repositoryName="dep", **P)["imageDetails"][0]["imageStatus"] == "ACTIVE"
    # Deprecated again; once the date passes the image is gone and its status can no longer change.
    again = status(status="DEPRECATED", deprecationPeriodDays=365)
    clock.now = again["scheduledDeletionAt"].timestamp() - 1
    assert len(c.describe_images(repositoryName="dep", **P)["imageDetails"]) == 1
    clock.now += 1
    assert c.describe_images(repositoryName="dep", **P)["imageDetails"] == []
    assert c.describe_image_tags(repositoryName="dep", **P)["imageTagDetails"] == []
    assert code_of(status, status="ACTIVE") == "ImageNotFoundException"
    assert c.delete_premium_repository(repositoryName="dep")["premiumRepository"]["repositoryName"] == "dep"


def test_manifest_list_ordering_rules(clocked):
    ep, c, clock = clocked
    c.create_premium_repository(repositoryName="multi", marketplaceProducts=["prod"])
    children = [push(c, "multi", f"child{i}") for i in range(2)]
    lst = index(children)
    c.put_image(repositoryName="multi", imageManifest=lst, imageTag="latest", **P)
    c.set_repository_state(repositoryName="multi", repositoryType="PREMIUM", state="AVAILABLE")
    child, parent = {"imageDigest": sha(children[0].encode())}, {"imageTag": "latest"}

    def status(ident, **kw):
        return c.set_image_status(repositoryName="multi", repositoryType="PREMIUM", imageId=ident, **kw)

    err = error_of(status, ident=child, status="DEPRECATED", deprecationPeriodDays=200)
    assert err["Error"]["Code"] == "ValidationException" and "manifest list" in err["Error"]["Message"]
    status(parent, status="DEPRECATED", deprecationPeriodDays=200)
    # The child must go after the list.
    assert code_of(status, ident=child, status="DEPRECATED", deprecationPeriodDays=200) == "ValidationException"
    assert code_of(status, ident=child, status="DEPRECATED", deprecationPeriodDays=150) == "ValidationException"
    status(child, status="DEPRECATED", deprecationPeriodDays=201)
    # The list cannot come back while it references a deprecated image; the child can.
    assert code_of(status, ident=parent, status="ACTIVE") == "ValidationException"
    status(child, status="ACTIVE")
    status(parent, status="ACTIVE")
    status(parent, status="DEPRECATED", deprecationPeriodDays=90)
    status(child, status="DEPRECATED", deprecationPeriodDays=91)
    # A list pushed later that references the deprecated child must still go first.
    c.put_image(repositoryName="multi", imageManifest=index(children[:1]), imageTag="solo", **P)
    solo = {"imageTag": "solo"}
    assert code_of(status, ident=solo, status="DEPRECATED", deprecationPeriodDays=91) == "ValidationException"
    status(solo, status="DEPRECATED", deprecationPeriodDays=90)
    clock.now += 90 * DAY
    left = c.describe_images(repositoryName="multi", **P)["imageDetails"]
    assert {d["imageDigest"] for d in left} == {sha(m.encode()) for m in children}
    clock.now += DAY
    assert {d["imageDigest"] for d in c.describe_images(repositoryName="multi", **P)["imageDetails"]} == \
        {sha(children[1].encode())}


def test_subject_manifest_digest(clocked):
    ep, c, _ = clocked
    for kind, extra in (("FREE", {}), ("PREMIUM", P)):
        if kind == "FREE":
            c.create_repository(repositoryName="sbom")
        else:
            c.create_premium_repository(repositoryName="sbom", marketplaceProducts=["prod"])
        target = push(c, "sbom", "target", tag="v1", extra=extra)
        subject = {"mediaType": OCI_MANIFEST, "digest": sha(target.encode()), "size": len(target)}
        sbom = push(c, "sbom", "sbom", extra=extra, artifactType="application/spdx+json", subject=subject)
        details = {d["imageDigest"]: d for d in c.describe_images(repositoryName="sbom", **extra)["imageDetails"]}
        assert details[sha(sbom.encode())]["subjectManifestDigest"] == sha(target.encode())
        assert "subjectManifestDigest" not in details[sha(target.encode())]
        out = c.put_image(repositoryName="sbom", imageManifest=sbom, imageTag="sbom", **extra)["image"]
        assert out["subjectManifestDigest"] == sha(target.encode()) and out["repositoryType"] == kind
