"""The premium operations answer malformed and mutated bodies with a 4xx (never a 5xx or a reset), over a real
socket, with premium repositories and images present so the mutations reach the operations."""
from __future__ import annotations

import http.client
import json
import random

import pytest

from endpoint_client import client, manifest, push_blob
from test_server_aws_fuzz import PUBLIC, _garble, _mutate, post_fuzzed

pytestmark = pytest.mark.servers

DIGEST = "sha256:" + "1" * 64
NAMES = {"repositoryName": "fz", "repositoryType": "PREMIUM"}


def _premium_bodies():
    m = manifest(b"{}", [])
    pair = {"repositoryName": "fz", "repositoryType": "FREE", "associatedRepositoryName": "fz",
            "associatedRepositoryType": "PREMIUM"}
    return [
        ("CreatePremiumRepository", {"repositoryName": "fz2", "marketplaceProducts": ["p1", "p2"],
                                     "catalogData": {"description": "d", "categories": ["AI_ML"]},
                                     "tags": [{"Key": "k", "Value": "v"}]}),
        ("DescribePremiumRepositories", {"repositoryNames": ["fz"]}),
        ("DescribePremiumRepositories", {"maxResults": 2, "nextToken": "abc"}),
        ("DeletePremiumRepository", {"repositoryName": "fz3"}),
        ("SetRepositoryState", {**NAMES, "state": "AVAILABLE"}),
        ("PutPremiumRepositoryProducts", {"repositoryName": "fz", "marketplaceProducts": ["p1", "p3"]}),
        ("GetPremiumRepositoryCatalogData", {"repositoryName": "fz"}),
        ("PutPremiumRepositoryCatalogData", {"repositoryName": "fz", "catalogData": {"logoImageBlob": "QUJD",
                                                                                     "usageText": "u"}}),
        ("SetPremiumRepositoryPolicy", {"repositoryName": "fz", "policyText": "{}", "force": True}),
        ("GetPremiumRepositoryPolicy", {"repositoryName": "fz"}),
        ("DeletePremiumRepositoryPolicy", {"repositoryName": "fz"}),
        ("AssociateRepositories", pair),
        ("DisassociateRepositories", pair),
        ("SetImageStatus", {**NAMES, "imageId": {"imageTag": "v1"}, "status": "DEPRECATED",
                            "deprecationPeriodDays": 90}),
        ("SetImageStatus", {**NAMES, "imageId": {"imageDigest": DIGEST}, "status": "ACTIVE"}),
        ("PutImage", {**NAMES, "imageManifest": m, "imageTag": "v2"}),
        ("BatchDeleteImage", {**NAMES, "imageIds": [{"imageTag": "v1"}]}),
        ("DescribeImages", {**NAMES, "imageIds": [{"imageTag": "v1"}]}),
        ("DescribeImageTags", {**NAMES, "maxResults": 3}),
        ("InitiateLayerUpload", NAMES),
        ("CompleteLayerUpload", {**NAMES, "uploadId": "x", "layerDigests": [DIGEST]}),
        ("TagResource", {"resourceArn": "arn:aws:ecr-public::123456789012:premium-repository/fz",
                         "tags": [{"Key": "k", "Value": "v"}]}),
    ]


def test_fuzzed_premium_bodies_are_answered_with_4xx(endpoint):
    c = client(endpoint)
    c.create_repository(repositoryName="fz")
    c.create_premium_repository(repositoryName="fz", marketplaceProducts=["p1"])
    config = b"{}"
    push_blob(c, "fz", config, repositoryType="PREMIUM")
    c.put_image(repositoryName="fz", imageManifest=manifest(config, []), imageTag="v1", repositoryType="PREMIUM")
    rng = random.Random(21)
    bodies = _premium_bodies()
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    statuses, codes = {}, set()
    for i in range(2000):
        op, valid = rng.choice(bodies)
        raw = json.dumps(_mutate(rng, valid) if i % 4 else valid).encode()
        if i % 3 == 1:
            raw = _garble(rng, raw)
        post_fuzzed(conn, PUBLIC + op, raw, statuses, codes)
    # the bodies reach the operations and their own errors, not only the parser
    assert statuses.get(200, 0) > 100, statuses
    assert {"SerializationException", "InvalidParameterException", "RepositoryNotFoundException"} <= codes, codes
