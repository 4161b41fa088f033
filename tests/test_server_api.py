"""The local endpoint's AWS API through stock boto3 clients over a socket: every ECR Public operation,
the private ECR push operations, and each documented error (helpers: endpoint_client.py)."""
from __future__ import annotations

import base64
import hashlib
import json
import time

import boto3
import pytest
from botocore.config import Config

from conftest import server_fixture
from endpoint_client import MiB, DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX, client, sha, error_of, code_of, push_blob, manifest, index, push_image

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]  # every test starts the endpoint; CI's edge runs too


@server_fixture
def pub(endpoint):
    return client(endpoint)


@server_fixture
def priv(endpoint):
    return client(endpoint, "ecr", region_name="eu-west-1")


# -- layers -----------------------------------------------------------------------------------
def test_multipart_upload_checks_and_complete(pub):
    pub.create_repository(repositoryName="team/app")
    data = bytes(range(256)) * (12 * MiB // 256) + b"tail"
    up = pub.initiate_layer_upload(repositoryName="team/app")
    assert up["partSize"] == 10 * MiB
    assert len(up["uploadId"]) == 36 and up["uploadId"].count("-") == 4
    p1 = pub.upload_layer_part(repositoryName="team/app", uploadId=up["uploadId"], partFirstByte=0,
                               partLastByte=10 * MiB - 1, layerPartBlob=data[: 10 * MiB])
    assert p1["lastByteReceived"] == 10 * MiB - 1 and p1["registryId"] == "123456789012"
    # A repeated part (a retry restarting from its first byte) is refused with where to resume.
    err = error_of(pub.upload_layer_part, repositoryName="team/app", uploadId=up["uploadId"], partFirstByte=0,
                   partLastByte=10 * MiB - 1, layerPartBlob=data[: 10 * MiB])
    assert err["Error"]["Code"] == "InvalidLayerPartException"
    assert err["lastValidByteReceived"] == 10 * MiB - 1
    assert err["uploadId"] == up["uploadId"] and err["repositoryName"] == "team/app"
    # Declared range longer than the blob.
    err = error_of(pub.upload_layer_part, repositoryName="team/app", uploadId=up["uploadId"],
                   partFirstByte=10 * MiB, partLastByte=len(data), layerPartBlob=data[10 * MiB :])
    assert (err["Error"]["Code"], err["lastValidByteReceived"]) == ("InvalidLayerPartException", 10 * MiB - 1)
    pub.upload_layer_part(repositoryName="team/app", uploadId=up["uploadId"], partFirstByte=10 * MiB,
                          partLastByte=len(data) - 1, layerPartBlob=data[10 * MiB :])
    assert code_of(pub.complete_layer_upload, repositoryName="team/app", uploadId=up["uploadId"],
                   layerDigests=["sha256:" + "0" * 64]) == "InvalidLayerException"
    # The failed completion discarded the upload.
    assert code_of(pub.complete_layer_upload, repositoryName="team/app", uploadId=up["uploadId"],
                   layerDigests=[sha(data)]) == "UploadNotFoundException"
    digest = push_blob(pub, "team/app", data)
    avail = pub.batch_check_layer_availability(repositoryName="team/app",
                                               layerDigests=[digest, "sha256:" + "1" * 64, "nonsense"])
    assert avail["layers"] == [{"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": len(data)}]
    assert {(f["layerDigest"], f["failureCode"]) for f in avail["failures"]} == {
        ("sha256:" + "1" * 64, "MissingLayerDigest"), ("nonsense", "InvalidLayerDigest")}
    assert code_of(push_blob, c=pub, repo="team/app", data=data) == "LayerAlreadyExistsException"


def test_first_part_must_start_at_zero_and_uploads_belong_to_their_repository(pub):
    for name in ("one", "two"):
        pub.create_repository(repositoryName=name)
    up = pub.initiate_layer_upload(repositoryName="one")["uploadId"]
    err = error_of(pub.upload_layer_part, repositoryName="one", uploadId=up, partFirstByte=1, partLastByte=3,
                   layerPartBlob=b"abc")
    assert (err["Error"]["Code"], err["lastValidByteReceived"]) == ("InvalidLayerPartException", -1)
    assert code_of(pub.upload_layer_part, repositoryName="two", uploadId=up, partFirstByte=0, partLastByte=2,
                   layerPartBlob=b"abc") == "UploadNotFoundException"
    assert code_of(pub.upload_layer_part, repositoryName="one", uploadId="0" * 8 + "-0000-0000-0000-" + "0" * 12,
                   partFirstByte=0, partLastByte=2, layerPartBlob=b"abc") == "UploadNotFoundException"
    assert code_of(pub.initiate_layer_upload, repositoryName="nope") == "RepositoryNotFoundException"


def test_complete_empty_and_too_small_parts(pub):
    pub.create_repository(repositoryName="rr")
    up = pub.initiate_layer_upload(repositoryName="rr")["uploadId"]
    assert code_of(pub.complete_layer_upload, repositoryName="rr", uploadId=up,
                   layerDigests=[sha(b"")]) == "EmptyUploadException"
    data = b"x" * (2 * MiB)
    for first in (0, MiB):
        pub.upload_layer_part(repositoryName="rr", uploadId=up, partFirstByte=first, partLastByte=first + MiB - 1,
                              layerPartBlob=data[first : first + MiB])
    assert code_of(pub.complete_layer_upload, repositoryName="rr", uploadId=up,
                   layerDigests=[sha(data)]) == "LayerPartTooSmallException"


def test_part_size_and_part_count_limits(pub):
    pub.create_repository(repositoryName="rr")
    up = pub.initiate_layer_upload(repositoryName="rr")["uploadId"]
    too_big = b"\0" * (20 * MiB + 1)
    err = error_of(pub.upload_layer_part, repositoryName="rr", uploadId=up, partFirstByte=0,
                   partLastByte=len(too_big) - 1, layerPartBlob=too_big)
    assert err["Error"]["Code"] == "InvalidParameterException" and "layerPartBlob" in err["Error"]["Message"]
    for i in range(1000):
        pub.upload_layer_part(repositoryName="rr", uploadId=up, partFirstByte=i, partLastByte=i, layerPartBlob=b"a")
    assert code_of(pub.upload_layer_part, repositoryName="rr", uploadId=up, partFirstByte=1000, partLastByte=1000,
                   layerPartBlob=b"a") == "LimitExceededException"


def test_alias_and_registry_id(pub):
    reg = pub.describe_registries()["registries"]
    assert [r["registryId"] for r in reg] == ["123456789012"]
    assert reg[0]["aliases"][0]["name"] == "local" and reg[0]["aliases"][0]["primaryRegistryAlias"]
    repo = pub.create_repository(repositoryName="ns/web")["repository"]
    assert repo["repositoryUri"] == "public.ecr.aws/local/ns/web"
    assert repo["repositoryArn"] == "arn:aws:ecr-public::123456789012:repository/ns/web"
    for rid in ("local", "123456789012"):
        digest = push_blob(pub, "ns/web", rid.encode(), registryId=rid)
        assert pub.batch_check_layer_availability(registryId=rid, repositoryName="ns/web",
                                                  layerDigests=[digest])["layers"]
    assert code_of(pub.initiate_layer_upload, registryId="other", repositoryName="ns/web") == \
        "RegistryNotFoundException"
    assert code_of(pub.describe_images, registryId="999999999999", repositoryName="ns/web") == \
        "RepositoryNotFoundException"
    # Describe* take a 12-digit registryId only: the alias breaks the model's pattern.
    assert code_of(pub.describe_images, registryId="local", repositoryName="ns/web") == "InvalidParameterException"


# -- images -----------------------------------------------------------------------------------
@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_put_image_digest_tags_and_errors(pub, media_type):
    pub.create_repository(repositoryName="img")
    layer, config = b"layer-bytes", b'{"os":"linux"}'
    text = manifest(config, [layer], media_type)
    assert code_of(pub.put_image, repositoryName="img", imageManifest=text, imageTag="v1") == "LayersNotFoundException"
    push_blob(pub, "img", config)
    assert code_of(pub.put_image, repositoryName="img", imageManifest=text, imageTag="v1") == "LayersNotFoundException"
    push_blob(pub, "img", layer)
    assert code_of(pub.put_image, repositoryName="img", imageManifest=text, imageTag="v1",
                   imageDigest="sha256:" + "a" * 64) == "ImageDigestDoesNotMatchException"
    image = pub.put_image(repositoryName="img", imageManifest=text, imageTag="v1", imageDigest=sha(text.encode()))["image"]
    assert image["imageId"] == {"imageDigest": sha(text.encode()), "imageTag": "v1"}
    assert image["imageManifestMediaType"] == media_type and image["imageManifest"] == text
    assert code_of(pub.put_image, repositoryName="img", imageManifest=text, imageTag="v1") == "ImageAlreadyExistsException"
    pub.put_image(repositoryName="img", imageManifest=text, imageTag="latest")
    # The tag moves to a new manifest of the same blobs.
    text2 = text + "\n"
    pub.put_image(repositoryName="img", imageManifest=text2, imageTag="latest")
    tags = {d["imageTag"]: d["imageDetail"]["imageDigest"] for d in pub.describe_image_tags(repositoryName="img")["imageTagDetails"]}
    assert tags == {"v1": sha(text.encode()), "latest": sha(text2.encode())}
    details = {d["imageDigest"]: d for d in pub.describe_images(repositoryName="img")["imageDetails"]}
    assert details[sha(text.encode())]["imageTags"] == ["v1"]
    assert details[sha(text.encode())]["imageSizeInBytes"] == len(layer) + len(config)
    assert details[sha(text2.encode())]["imageManifestMediaType"] == media_type
    assert details[sha(text2.encode())]["artifactMediaType"] == json.loads(text)["config"]["mediaType"]


def test_put_image_media_type_and_size_rules(pub):
    pub.create_repository(repositoryName="img")
    config = b"{}"
    push_blob(pub, "img", config)
    bare = json.loads(manifest(config, []))
    del bare["mediaType"]
    bare_text = json.dumps(bare)
    assert code_of(pub.put_image, repositoryName="img", imageManifest=bare_text) == "InvalidParameterException"
    done = pub.put_image(repositoryName="img", imageManifest=bare_text, imageManifestMediaType=OCI_MANIFEST)
    assert done["image"]["imageManifestMediaType"] == OCI_MANIFEST
    assert code_of(pub.put_image, repositoryName="img", imageManifest="not json", imageTag="x") == \
        "InvalidParameterException"
    assert code_of(pub.put_image, repositoryName="img", imageManifest=manifest(config, []),
                   imageManifestMediaType=DOCKER_MANIFEST) == "InvalidParameterException"
    huge = manifest(config, [], annotations={"pad": "x" * (4 * MiB)})
    err = error_of(pub.put_image, repositoryName="img", imageManifest=huge, imageTag="big")
    assert err["Error"]["Code"] == "InvalidParameterException" and "imageManifest" in err["Error"]["Message"]
    # An OCI artifact: artifactType and the empty config.
    art = manifest(config, [], artifactType="application/vnd.example.thing")
    pub.put_image(repositoryName="img", imageManifest=art, imageTag="art")
    detail = pub.describe_images(repositoryName="img", imageIds=[{"imageTag": "art"}])["imageDetails"][0]
    assert detail["artifactMediaType"] == "application/vnd.example.thing"


@pytest.mark.parametrize("list_type,child_type", [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)])
def test_index_requires_children(pub, list_type, child_type):
    pub.create_repository(repositoryName="multi")
    children = [push_image(pub, "multi", [f"layer-{i}".encode()], tag=None, media_type=child_type, seed=str(i))
                for i in range(2)]
    missing = children + [manifest(b"{}", [b"never"], child_type)]
    assert code_of(pub.put_image, repositoryName="multi", imageManifest=index(missing, list_type, child_type),
                   imageTag="all") == "ReferencedImagesNotFoundException"
    text = index(children, list_type, child_type)
    pub.put_image(repositoryName="multi", imageManifest=text, imageTag="all")
    tagged = pub.describe_images(repositoryName="multi", imageIds=[{"imageTag": "all"}])["imageDetails"][0]
    assert tagged["imageDigest"] == sha(text.encode()) and tagged["imageManifestMediaType"] == list_type
    # A child referenced by an index cannot be deleted; the index can.
    gone = pub.batch_delete_image(repositoryName="multi", imageIds=[{"imageDigest": sha(children[0].encode())}])
    assert gone["failures"][0]["failureCode"] == "ImageReferencedByManifestList"
    gone = pub.batch_delete_image(repositoryName="multi", imageIds=[{"imageTag": "all"}])
    assert gone["imageIds"] == [{"imageDigest": sha(text.encode()), "imageTag": "all"}]


def test_batch_delete_image(pub):
    pub.create_repository(repositoryName="del")
    text = push_image(pub, "del", [b"l1"], tag="a")
    pub.put_image(repositoryName="del", imageManifest=text, imageTag="b")
    digest = sha(text.encode())
    out = pub.batch_delete_image(repositoryName="del", imageIds=[
        {"imageTag": "a"}, {"imageTag": "zzz"}, {"imageDigest": digest, "imageTag": "a"}, {},
        {"imageDigest": "sha256:bad"}])
    assert out["imageIds"] == [{"imageDigest": digest, "imageTag": "a"}]
    assert [f["failureCode"] for f in out["failures"]] == [
        "ImageNotFound", "ImageNotFound", "MissingDigestAndTag", "InvalidImageDigest"]
    assert pub.describe_images(repositoryName="del")["imageDetails"][0]["imageTags"] == ["b"]
    out = pub.batch_delete_image(repositoryName="del", imageIds=[{"imageTag": "b"}])
    assert out["imageIds"] == [{"imageDigest": digest, "imageTag": "b"}]
    assert pub.describe_images(repositoryName="del")["imageDetails"] == []
    push_image(pub, "del", [b"l1"], tag="c", seed="2")
    text3 = push_image(pub, "del", [b"l1"], tag="d", seed="3")
    out = pub.batch_delete_image(repositoryName="del", imageIds=[{"imageDigest": sha(text3.encode()), "imageTag": "c"}])
    assert out["failures"][0]["failureCode"] == "ImageTagDoesNotMatchDigest"
    assert code_of(pub.describe_images, repositoryName="del", imageIds=[{"imageTag": "nope"}]) == "ImageNotFoundException"


def test_pagination_over_several_pages(pub):
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        pub.create_repository(repositoryName=name)
    for i in range(5):
        push_image(pub, "p00", [b"shared"], tag=f"t{i}", seed=str(i))
    first = pub.describe_repositories(maxResults=3)
    assert len(first["repositories"]) == 3 and first["nextToken"]
    pages = list(pub.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [r["repositoryName"] for p in pages for r in p["repositories"]] == names
    tags = [d["imageTag"] for p in pub.get_paginator("describe_image_tags").paginate(
        repositoryName="p00", PaginationConfig={"PageSize": 2}) for d in p["imageTagDetails"]]
    assert tags == [f"t{i}" for i in range(5)]
    images = [d for p in pub.get_paginator("describe_images").paginate(
        repositoryName="p00", PaginationConfig={"PageSize": 2}) for d in p["imageDetails"]]
    assert len(images) == 5
    assert code_of(pub.describe_repositories, nextToken="garbage") == "InvalidParameterException"
    assert code_of(pub.describe_repositories, repositoryNames=["p01"], maxResults=2) == "InvalidParameterException"
    assert code_of(pub.describe_repositories, repositoryNames=["p01", "zz"]) == "RepositoryNotFoundException"
    assert code_of(pub.describe_repositories, maxResults=0) == "InvalidParameterException"
    assert code_of(pub.describe_repositories, maxResults=1001) == "InvalidParameterException"
    regs = pub.describe_registries(maxResults=1)
    assert len(regs["registries"]) == 1 and "nextToken" not in regs


# -- repositories and the rest ----------------------------------------------------------------
def test_repository_lifecycle(pub):
    created = pub.create_repository(repositoryName="life", catalogData={"description": "d", "architectures": ["x86-64"]},
                                    tags=[{"Key": "team", "Value": "a"}])
    assert created["catalogData"]["description"] == "d"
    assert code_of(pub.create_repository, repositoryName="life") == "RepositoryAlreadyExistsException"
    push_image(pub, "life", [b"x"])
    assert code_of(pub.delete_repository, repositoryName="life") == "RepositoryNotEmptyException"
    assert pub.delete_repository(repositoryName="life", force=True)["repository"]["repositoryName"] == "life"
    assert code_of(pub.describe_images, repositoryName="life") == "RepositoryNotFoundException"
    assert code_of(pub.delete_repository, repositoryName="life") == "RepositoryNotFoundException"
    pub.create_repository(repositoryName="life")  # a new, empty repository of the same name
    assert pub.describe_images(repositoryName="life")["imageDetails"] == []
    assert pub.delete_repository(repositoryName="life")["repository"]["repositoryName"] == "life"


def test_model_driven_validation_names_the_member(pub):
    cases = [
        (pub.create_repository, {"repositoryName": "Upper/Case"}, "repositoryName"),  # pattern
        (pub.create_repository, {"repositoryName": "a"}, "repositoryName"),  # min length
        (pub.create_repository, {"repositoryName": "a" * 206}, "repositoryName"),  # max length
        (pub.create_repository, {}, "repositoryName"),  # required
        (pub.create_repository, {"repositoryName": "ok", "tags": [{"Key": "k" * 129, "Value": "v"}]}, "tags[0].Key"),
        (pub.describe_image_tags, {"repositoryName": "ok", "maxResults": 5000}, "maxResults"),  # range
        (pub.put_image, {"repositoryName": "ok", "imageManifest": "{}", "imageTag": "t" * 301}, "imageTag"),
        (pub.set_repository_policy, {"repositoryName": "ok", "policyText": "p" * 10241}, "policyText"),
        (pub.describe_repositories, {"registryId": "12345"}, "registryId"),  # pattern
    ]
    for call, kwargs, member in cases:
        err = error_of(call, **kwargs)["Error"]
        assert err["Code"] == "InvalidParameterException", (kwargs, err)
        assert f"'{member}'" in err["Message"], (member, err["Message"])


def test_private_ecr_validation_uses_its_own_model(priv):
    err = error_of(priv.describe_images, repositoryName="x1", filter={"tagStatus": "SOMETIMES"})["Error"]
    assert err["Code"] == "InvalidParameterException" and "filter.tagStatus" in err["Message"]
    # Private repository names may be 256 characters long (the public model's: 205).
    long_name = "a" * 250
    priv.create_repository(repositoryName=long_name)
    assert code_of(client_like(priv).create_repository, repositoryName=long_name) == "InvalidParameterException"


def client_like(priv):
    """The ECR Public client of the endpoint ``priv`` talks to."""
    return boto3.client("ecr-public", endpoint_url=priv.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))


def test_policies(pub):
    pub.create_repository(repositoryName="pol")
    assert code_of(pub.get_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"
    assert code_of(pub.delete_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"
    assert code_of(pub.set_repository_policy, repositoryName="pol", policyText="{nope") == "InvalidParameterException"
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    assert pub.set_repository_policy(repositoryName="pol", policyText=policy)["policyText"] == policy
    assert pub.get_repository_policy(repositoryName="pol")["policyText"] == policy
    assert pub.delete_repository_policy(repositoryName="pol")["policyText"] == policy
    assert code_of(pub.get_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"
    assert code_of(pub.set_repository_policy, repositoryName="none", policyText=policy) == "RepositoryNotFoundException"


def test_catalog_data(pub):
    pub.create_repository(repositoryName="cat")
    assert pub.get_repository_catalog_data(repositoryName="cat")["catalogData"] == {
        "marketplaceCertified": False, "badges": [], "artifactTypes": []}
    logo = b"\x89PNG fake"
    out = pub.put_repository_catalog_data(repositoryName="cat", catalogData={
        "description": "desc", "operatingSystems": ["Linux"], "aboutText": "# about", "logoImageBlob": logo})
    got = pub.get_repository_catalog_data(repositoryName="cat")["catalogData"]
    assert got == out["catalogData"]
    assert got["description"] == "desc" and got["operatingSystems"] == ["Linux"]
    assert base64.b64decode(got["logoUrl"].split(",", 1)[1]) == logo
    assert code_of(pub.put_repository_catalog_data, repositoryName="cat",
                   catalogData={"description": "x" * 1025}) == "InvalidParameterException"
    assert code_of(pub.get_repository_catalog_data, repositoryName="nope") == "RepositoryNotFoundException"
    assert pub.get_registry_catalog_data()["registryCatalogData"] == {"displayName": ""}
    assert pub.put_registry_catalog_data(displayName="My Org")["registryCatalogData"] == {"displayName": "My Org"}
    assert pub.get_registry_catalog_data()["registryCatalogData"] == {"displayName": "My Org"}


def test_resource_tags(pub):
    arn = pub.create_repository(repositoryName="tagged", tags=[{"Key": "a", "Value": "1"}])["repository"]["repositoryArn"]
    pub.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    assert pub.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    pub.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert pub.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    assert code_of(pub.tag_resource, resourceArn=arn, tags=[{"Key": "aws:x", "Value": "1"}]) == \
        "InvalidTagParameterException"
    assert code_of(pub.tag_resource, resourceArn=arn, tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)]) == \
        "TooManyTagsException"
    assert code_of(pub.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket") == "InvalidParameterException"
    assert code_of(pub.list_tags_for_resource, resourceArn=arn.replace("tagged", "other")) == \
        "RepositoryNotFoundException"


def test_authorization_token(pub, priv, endpoint):
    data = pub.get_authorization_token()["authorizationData"]
    user, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and token
    assert data["expiresAt"].timestamp() > time.time() + 11 * 3600
    pdata = priv.get_authorization_token()["authorizationData"]
    assert len(pdata) == 1 and pdata[0]["proxyEndpoint"] == endpoint.url
    assert base64.b64decode(pdata[0]["authorizationToken"]).startswith(b"AWS:")


def test_private_ecr_shares_the_store(pub, priv):
    repo = priv.create_repository(repositoryName="shared/app", imageTagMutability="IMMUTABLE")["repository"]
    assert repo["repositoryUri"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shared/app"
    assert repo["repositoryArn"] == "arn:aws:ecr:eu-west-1:123456789012:repository/shared/app"
    text = push_image(priv, "shared/app", [b"private layer"], tag="v1", media_type=DOCKER_MANIFEST)
    digest = sha(text.encode())
    # ECR Public sees what private ECR pushed.
    assert pub.describe_images(repositoryName="shared/app")["imageDetails"][0]["imageDigest"] == digest
    got = priv.batch_get_image(repositoryName="shared/app", imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
    assert got["images"][0]["imageManifest"] == text and got["images"][0]["imageId"]["imageDigest"] == digest
    assert got["failures"][0]["failureCode"] == "ImageNotFound"
    # Immutable tags cannot move.
    other = push_image(priv, "shared/app", [b"private layer"], tag=None, media_type=DOCKER_MANIFEST, seed="x")
    assert code_of(priv.put_image, repositoryName="shared/app", imageManifest=other, imageTag="v1") == \
        "ImageTagAlreadyExistsException"
    ids = priv.list_images(repositoryName="shared/app")["imageIds"]
    assert {"imageDigest": digest, "imageTag": "v1"} in ids and {"imageDigest": sha(other.encode())} in ids
    assert priv.list_images(repositoryName="shared/app", filter={"tagStatus": "UNTAGGED"})["imageIds"] == \
        [{"imageDigest": sha(other.encode())}]
    pages = list(priv.get_paginator("list_images").paginate(repositoryName="shared/app",
                                                            PaginationConfig={"PageSize": 1}))
    assert len(pages) == 2
    assert priv.describe_repositories(repositoryNames=["shared/app"])["repositories"][0]["imageTagMutability"] == "IMMUTABLE"
    assert priv.describe_images(repositoryName="shared/app", filter={"tagStatus": "TAGGED"})["imageDetails"][0][
        "imageTags"] == ["v1"]
    deleted = priv.batch_delete_image(repositoryName="shared/app", imageIds=[{"imageDigest": sha(other.encode())}])
    assert deleted["imageIds"] == [{"imageDigest": sha(other.encode())}]
    assert code_of(priv.delete_repository, repositoryName="shared/app") == "RepositoryNotEmptyException"
    priv.delete_repository(repositoryName="shared/app", force=True)
    assert code_of(priv.initiate_layer_upload, repositoryName="shared/app") == "RepositoryNotFoundException"
    assert code_of(priv.initiate_layer_upload, repositoryName="x1", registryId="210987654321") == \
        "RepositoryNotFoundException"


def test_every_public_operation_is_served(endpoint):
    from pypush import apimodels
    from pypush.server.aws.table import OPERATIONS
    from pypush.server.aws.protocol import service_model

    public = set(service_model("ecr-public").operation_names)
    assert public == set(apimodels.load("ecr-public")["operations"])  # the pinned model, not botocore's
    assert {op for (svc, op) in OPERATIONS if svc == "ecr-public"} == public
    private = {op for (svc, op) in OPERATIONS if svc == "ecr"}
    assert {"BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload",
            "PutImage", "BatchGetImage", "CreateRepository", "DescribeRepositories", "DescribeImages",
            "ListImages", "BatchDeleteImage", "DeleteRepository", "GetAuthorizationToken"} <= private
    # An operation of the private model this endpoint does not implement.
    assert code_of(client(endpoint, "ecr").describe_registry) == "UnsupportedCommandException"


def test_deleting_a_repository_frees_blobs_no_other_repository_has(pub, endpoint):
    for name in ("gc1", "gc2"):
        pub.create_repository(repositoryName=name)
    shared, own = push_blob(pub, "gc1", b"shared"), push_blob(pub, "gc1", b"own")
    push_blob(pub, "gc2", b"shared")
    blobs = endpoint.data_dir / "blobs" / "sha256"
    pub.delete_repository(repositoryName="gc1")
    assert (blobs / shared.split(":")[1]).exists() and not (blobs / own.split(":")[1]).exists()
    assert pub.batch_check_layer_availability(repositoryName="gc2", layerDigests=[shared])["layers"]


def test_configured_part_size(tmp_path):
    from pypush.server import LocalEndpoint

    with LocalEndpoint(data_dir=tmp_path / "d", part_size=MiB, alias="my-org", registry_id="000011112222") as ep:
        c = client(ep)
        assert c.create_repository(repositoryName="small")["repository"]["repositoryUri"] == \
            "public.ecr.aws/my-org/small"
        assert c.initiate_layer_upload(repositoryName="small")["partSize"] == MiB
        data = bytes(3 * MiB + 5)
        assert push_blob(c, "small", data, registryId="my-org") == sha(data)  # 1 MiB parts are not too small
        assert c.describe_registries()["registries"][0]["registryId"] == "000011112222"


def test_parallel_multipart_uploads(pub):
    from concurrent.futures import ThreadPoolExecutor

    pub.create_repository(repositoryName="parallel")
    blobs = [hashlib.shake_256(str(i).encode()).digest(10 * MiB + 1000 * i) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        digests = list(pool.map(lambda b: push_blob(pub, "parallel", b), blobs))
    assert digests == [sha(b) for b in blobs]
    layers = pub.batch_check_layer_availability(repositoryName="parallel", layerDigests=digests)["layers"]
    assert sorted(l["layerSize"] for l in layers) == sorted(len(b) for b in blobs)
