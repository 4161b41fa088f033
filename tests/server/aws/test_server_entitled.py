"""The buyer's side of premium repositories and image scan findings on the local endpoint: the
DescribeEntitled* operations answered from a seeded entitlements stub, DescribeImageScanFindings from
seeded findings (or FINDINGS_UNAVAILABLE); serve's --entitlements and --scan-findings files; through stock
boto3 and the AWS CLI v1."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import WaiterError

from aws_cli import AwsCli
from conftest import run_pypush, server_fixture
from endpoint_client import client, code_of, index, manifest, push_blob, sha
from endpoint_process import start_server, url_of
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

BUYER, OTHER_BUYER, STRANGER = "111122223333", "444455556666", "777788889999"
ENTITLEMENTS = {BUYER: ["prod-a", "prod-b"], OTHER_BUYER: ["prod-c"]}
P = {"repositoryType": "PREMIUM"}
FINDINGS = [
    {"findingId": "f-1", "title": "CVE-2026-0001 in openssl", "severity": "HIGH", "status": "ACTIVE",
     "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2026-0001", "source": "NVD",
                                     "vulnerablePackages": [{"name": "openssl", "version": "3.0.1"}]}},
    {"findingId": "f-2", "title": "CVE-2026-0002 in zlib", "severity": "LOW", "fixAvailable": "YES"},
    {"findingId": "f-3", "title": "CVE-2026-0003 in zlib", "severity": "HIGH"},
]


def push(c, repo: str, seed: str, tag=None) -> str:
    """A one-layer image pushed to the premium repository ``repo``; its manifest text."""
    layer = f"layer {seed}".encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    for blob in (config, layer):
        if not c.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha(blob)], **P)["layers"]:
            push_blob(c, repo, blob, **P)
    text = manifest(config, [layer])
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}), **P)
    return text


def premium(c, name: str, products, state: str = "AVAILABLE") -> None:
    c.create_premium_repository(repositoryName=name, marketplaceProducts=list(products))
    for step in {"DRAFT": [], "AVAILABLE": ["AVAILABLE"], "HIDDEN": ["AVAILABLE", "HIDDEN"]}[state]:
        c.set_repository_state(repositoryName=name, repositoryType="PREMIUM", state=step)


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", alias="acme", entitlements=ENTITLEMENTS) as endpoint:
        yield endpoint


def test_entitled_repositories_one_entry_per_repository_and_product(ep):
    pub, buyer = client(ep), client(ep, access_key=BUYER)
    assert buyer.describe_entitled_repositories()["repositories"] == []
    pub.put_registry_catalog_data(displayName="Acme")
    premium(pub, "paid/both", ["prod-a", "prod-b", "prod-x"])
    premium(pub, "paid/hidden", ["prod-b"], state="HIDDEN")
    premium(pub, "paid/draft", ["prod-a"], state="DRAFT")
    premium(pub, "paid/others", ["prod-c"])
    pub.create_repository(repositoryName="paid/both")  # a FREE twin is never entitled
    repos = buyer.describe_entitled_repositories()["repositories"]
    assert [(r["repositoryName"], r["entitledViaProductId"], r["state"]) for r in repos] == [
        ("paid/both", "prod-a", "AVAILABLE"), ("paid/both", "prod-b", "AVAILABLE"), ("paid/hidden", "prod-b", "HIDDEN")]
    first = repos[0]
    described = pub.describe_premium_repositories(repositoryNames=["paid/both"])["repositories"][0]
    assert first["repositoryArn"] == "arn:aws:ecr-public:::entitled-repository/acme/paid/both"
    assert (first["registryAlias"], first["registryDisplayName"], first["repositoryUri"]) == (
        "acme", "Acme", described["repositoryUri"])
    assert [(r["repositoryName"], r["entitledViaProductId"])
            for r in client(ep, access_key=OTHER_BUYER).describe_entitled_repositories()["repositories"]] == [
        ("paid/others", "prod-c")]
    assert client(ep, access_key=STRANGER).describe_entitled_repositories()["repositories"] == []
    assert pub.describe_entitled_repositories()["repositories"] == []  # the publisher is no buyer
    # Paging; a token belongs to the account that received it.
    page = buyer.describe_entitled_repositories(maxResults=2)
    assert page["repositories"] == repos[:2]
    assert buyer.describe_entitled_repositories(nextToken=page["nextToken"])["repositories"] == repos[2:]
    assert code_of(client(ep, access_key=OTHER_BUYER).describe_entitled_repositories,
                   nextToken=page["nextToken"]) == "InvalidParameterException"
    for bad in (0, 1001):
        assert code_of(buyer.describe_entitled_repositories, maxResults=bad) == "InvalidParameterException"
    # Hiding keeps buyers; a product added after DRAFT entitles its buyers too.
    pub.set_repository_state(repositoryName="paid/both", repositoryType="PREMIUM", state="HIDDEN")
    pub.put_premium_repository_products(repositoryName="paid/others", marketplaceProducts=["prod-c", "prod-a"])
    assert [(r["repositoryName"], r["entitledViaProductId"], r["state"])
            for r in buyer.describe_entitled_repositories()["repositories"]] == [
        ("paid/both", "prod-a", "HIDDEN"), ("paid/both", "prod-b", "HIDDEN"), ("paid/hidden", "prod-b", "HIDDEN"),
        ("paid/others", "prod-a", "AVAILABLE")]


def test_entitled_images_and_tags(ep):
    pub, buyer = client(ep), client(ep, access_key=BUYER)
    premium(pub, "paid/app", ["prod-a"], state="DRAFT")
    one = push(pub, "paid/app", "one", tag="v1")
    two = push(pub, "paid/app", "two", tag="v2")
    untagged = push(pub, "paid/app", "three")
    key = {"registryAlias": "acme", "repositoryName": "paid/app"}
    for call in (buyer.describe_entitled_images, buyer.describe_entitled_image_tags):
        assert code_of(call, **key) == "EntitlementNotFoundException"  # DRAFT
    pub.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    images = buyer.describe_entitled_images(**key)
    assert (images["registryAlias"], images["repositoryName"]) == ("acme", "paid/app")
    assert [(d["imageDigest"], d.get("imageTags"), d["imageStatus"]) for d in images["imageDetails"]] == [
        (sha(one.encode()), ["v1"], "ACTIVE"), (sha(two.encode()), ["v2"], "ACTIVE"), (sha(untagged.encode()), None, "ACTIVE")]
    published = pub.describe_images(repositoryName="paid/app", **P)["imageDetails"]
    assert images["imageDetails"] == [{k: v for k, v in d.items() if k not in ("registryId", "repositoryType")}
                                      for d in published]
    picked = buyer.describe_entitled_images(**key, imageIds=[{"imageTag": "v2"}, {"imageDigest": sha(one.encode())}])
    assert [d["imageDigest"] for d in picked["imageDetails"]] == [sha(two.encode()), sha(one.encode())]
    assert code_of(buyer.describe_entitled_images, **key, imageIds=[{"imageTag": "nope"}]) == "ImageNotFoundException"
    assert code_of(buyer.describe_entitled_images, **key, imageIds=[{"imageTag": "v1"}],
                   maxResults=1) == "InvalidParameterException"
    page = buyer.describe_entitled_images(**key, maxResults=2)
    assert len(page["imageDetails"]) == 2
    assert buyer.describe_entitled_images(**key, nextToken=page["nextToken"])["imageDetails"] == images["imageDetails"][2:]
    tags = buyer.describe_entitled_image_tags(**key)
    assert (tags["registryAlias"], tags["repositoryName"]) == ("acme", "paid/app")
    assert [(t["imageTag"], t["imageDetail"]["imageDigest"], t["imageDetail"]["imageStatus"])
            for t in tags["imageTagDetails"]] == [("v1", sha(one.encode()), "ACTIVE"), ("v2", sha(two.encode()), "ACTIVE")]
    assert buyer.describe_entitled_image_tags(**key, maxResults=1)["imageTagDetails"] == tags["imageTagDetails"][:1]
    # A deprecated image shows its status and deletion date to buyers.
    done = pub.set_image_status(repositoryName="paid/app", repositoryType="PREMIUM", imageId={"imageTag": "v1"},
                                status="DEPRECATED", deprecationPeriodDays=90)
    tag = buyer.describe_entitled_image_tags(**key)["imageTagDetails"][0]["imageDetail"]
    assert (tag["imageStatus"], tag["scheduledDeletionAt"]) == ("DEPRECATED", done["scheduledDeletionAt"])
    # Nobody else: another buyer, the publisher, another alias, a missing or FREE-only repository.
    pub.create_repository(repositoryName="free/only")
    for c, k in ((client(ep, access_key=OTHER_BUYER), key), (pub, key), (buyer, {**key, "registryAlias": "other"}),
                 (buyer, {**key, "repositoryName": "paid/none"}), (buyer, {**key, "repositoryName": "free/only"})):
        for call in (c.describe_entitled_images, c.describe_entitled_image_tags):
            assert code_of(call, **k) == "EntitlementNotFoundException", (call, k)
    for bad in ({"registryAlias": "Acme"}, {"registryAlias": "a"}, {"repositoryName": "Paid/App"}):
        assert code_of(buyer.describe_entitled_images, **{**key, **bad}) == "InvalidParameterException", bad


def test_scan_findings(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data") as seeded_later:
        pub = client(seeded_later)
        premium(pub, "paid/app", ["prod-a"], state="DRAFT")
        text = push(pub, "paid/app", "one", tag="v1")
    digest = sha(text.encode())
    seeds = {digest: {"findings": FINDINGS, "imageScanCompletedAt": 1_800_000_000}}
    with LocalEndpoint(data_dir=tmp_path / "data", scan_findings=seeds) as ep:
        pub = client(ep)
        other = push(pub, "paid/app", "two", tag="v2")
        pub.put_image(repositoryName="paid/app", imageManifest=index([text, other]), imageTag="multi", **P)
        pub.create_repository(repositoryName="paid/app")
        out = pub.describe_image_scan_findings(repositoryName="paid/app", imageId={"imageTag": "v1"}, **P)
        assert out["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
        assert out["imageScanStatus"] == {"status": "COMPLETE"}
        scan = out["imageScanFindings"]
        assert [f["findingId"] for f in scan["findings"]] == ["f-1", "f-2", "f-3"]
        assert scan["findingSeverityCounts"] == {"HIGH": 2, "LOW": 1}
        assert scan["imageScanCompletedAt"].timestamp() == 1_800_000_000
        pages = pub.get_paginator("describe_image_scan_findings").paginate(
            repositoryName="paid/app", imageId={"imageDigest": digest}, PaginationConfig={"PageSize": 2}, **P)
        assert [[f["findingId"] for f in page["imageScanFindings"]["findings"]] for page in pages] == [
            ["f-1", "f-2"], ["f-3"]]
        unseeded = pub.describe_image_scan_findings(repositoryName="paid/app", imageId={"imageTag": "v2"}, **P)
        assert unseeded["imageScanStatus"]["status"] == "FINDINGS_UNAVAILABLE"
        assert "does not scan" in unseeded["imageScanStatus"]["description"] and "imageScanFindings" not in unseeded
        listed = pub.describe_image_scan_findings(repositoryName="paid/app", imageId={"imageTag": "multi"}, **P)
        assert listed["imageScanStatus"]["status"] == "UNSUPPORTED_IMAGE"
        # The ImageScanComplete waiter stops at once on an image the endpoint cannot scan.
        with pytest.raises(WaiterError, match="FINDINGS_UNAVAILABLE"):
            pub.get_waiter("image_scan_complete").wait(repositoryName="paid/app", imageId={"imageTag": "v2"},
                                                       WaiterConfig={"Delay": 1, "MaxAttempts": 2}, **P)
        pub.get_waiter("image_scan_complete").wait(repositoryName="paid/app", imageId={"imageTag": "v1"}, **P)
        ident = {"imageTag": "v1"}
        assert code_of(pub.describe_image_scan_findings, repositoryName="paid/app", imageId=ident) == "ValidationException"
        assert code_of(pub.describe_image_scan_findings, repositoryName="paid/app", imageId=ident,
                       repositoryType="FREE") == "ValidationException"
        assert code_of(pub.describe_image_scan_findings, repositoryName="paid/none", imageId=ident,
                       **P) == "RepositoryNotFoundException"
        assert code_of(pub.describe_image_scan_findings, repositoryName="paid/app", imageId={"imageTag": "v9"},
                       **P) == "ImageNotFoundException"
        for bad in ({"maxResults": 101}, {"maxResults": 0}, {"repositoryType": "GOLD"}, {"imageId": {}},
                    {"imageId": {"imageDigest": "sha256:xyz"}}):
            assert code_of(pub.describe_image_scan_findings, repositoryName="paid/app",
                           **{"imageId": ident, **P, **bad}) == "InvalidParameterException", bad


def test_entitled_and_scans_through_the_aws_cli_and_serve_flags(tmp_path):
    entitlements = tmp_path / "entitlements.json"
    entitlements.write_text(json.dumps(ENTITLEMENTS))
    findings = tmp_path / "findings.json"
    with LocalEndpoint(data_dir=tmp_path / "data", alias="acme") as ep:
        pub = client(ep)
        premium(pub, "paid/app", ["prod-a"])
        digest = sha(push(pub, "paid/app", "one", tag="v1").encode())
    findings.write_text(json.dumps({digest: {"findings": FINDINGS[:1]}}))
    proc = start_server(tmp_path / "data", "--alias", "acme", "--entitlements", str(entitlements),
                        "--scan-findings", str(findings))
    try:
        endpoint = SimpleNamespace(url=url_of(proc))
        aws = AwsCli(endpoint, tmp_path)
        aws.env["AWS_ACCESS_KEY_ID"] = BUYER
        repos = aws.call("describe-entitled-repositories")["repositories"]
        assert [(r["repositoryName"], r["entitledViaProductId"]) for r in repos] == [("paid/app", "prod-a")]
        tags = aws.call("describe-entitled-image-tags", "--registry-alias", "acme", "--repository-name", "paid/app")
        assert [t["imageTag"] for t in tags["imageTagDetails"]] == ["v1"]
        images = aws.call("describe-entitled-images", "--registry-alias", "acme", "--repository-name", "paid/app",
                          "--image-ids", "imageTag=v1")
        assert [d["imageDigest"] for d in images["imageDetails"]] == [digest]
        aws.env["AWS_ACCESS_KEY_ID"] = STRANGER
        aws.error("describe-entitled-images", "--registry-alias", "acme", "--repository-name", "paid/app",
                  code="EntitlementNotFoundException")
        scan = aws.call("describe-image-scan-findings", "--repository-name", "paid/app", "--image-id", "imageTag=v1",
                        "--repository-type", "PREMIUM")
        assert [f["findingId"] for f in scan["imageScanFindings"]["findings"]] == ["f-1"]
        aws.error("describe-image-scan-findings", "--repository-name", "paid/app", "--image-id", "imageTag=v1",
                  code="ValidationException")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("content, named", [
    ("not json", "not JSON"), ("[]", "JSON object"), ('{"12345": ["p"]}', "'12345' is not a 12-digit"),
    ('{"111122223333": "prod-a"}', "111122223333: expected a list"), ('{"111122223333": ["bad id"]}', "111122223333"),
])
def test_serve_refuses_a_bad_entitlements_file(tmp_path, content, named):
    path = tmp_path / "entitlements.json"
    path.write_text(content)
    proc = run_pypush("serve", "--entitlements", str(path), timeout=60)
    assert proc.returncode != 0 and str(path) in proc.stderr and named in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("content, named", [
    ('{"latest": {}}', "'latest' is not an image digest"),
    ('{"sha256:%s": {"findings": "many"}}' % ("a" * 64), "must be a list"),
    ('{"sha256:%s": {"status": "DONE"}}' % ("a" * 64), "enum"),
    ('{"sha256:%s": {"verdict": "bad"}}' % ("a" * 64), "unknown member 'verdict'"),
])
def test_serve_refuses_a_bad_scan_findings_file(tmp_path, content, named):
    path = tmp_path / "findings.json"
    path.write_text(content)
    proc = run_pypush("serve", "--scan-findings", str(path), timeout=60)
    assert proc.returncode != 0 and str(path) in proc.stderr and named in proc.stderr, proc.stderr
    missing = run_pypush("serve", "--scan-findings", str(tmp_path / "absent.json"), timeout=60)
    assert missing.returncode != 0 and "absent.json: cannot read it" in missing.stderr, missing.stderr
