"""Premium repositories on the local endpoint through stock boto3: create and describe, the state machine,
products, catalog data, policies, associations, deletion, and the registry's premium fields."""
from __future__ import annotations

import pytest

from conftest import server_fixture
from endpoint_client import client, code_of, error_of
from pypush.server import LocalEndpoint

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]


@server_fixture
def pub(endpoint):
    return client(endpoint)


def create(c, name: str = "paid/app", products=("prod-a",), **kw):
    return c.create_premium_repository(repositoryName=name, marketplaceProducts=list(products), **kw)


# -- create and describe ----------------------------------------------------------------------
def test_create_starts_in_draft_beside_a_free_repository_of_the_same_name(pub, endpoint):
    pub.create_repository(repositoryName="paid/app")
    out = create(pub, catalogData={"description": "paid", "architectures": ["x86-64"]},
                 tags=[{"Key": "team", "Value": "a"}])
    repo = out["premiumRepository"]
    assert repo["state"] == "DRAFT" and repo["marketplaceProducts"] == ["prod-a"]
    assert repo["repositoryArn"] == "arn:aws:ecr-public::123456789012:premium-repository/paid/app"
    assert repo["repositoryUri"] == f"{endpoint.premium_host_port}/local/paid/app"
    assert repo["associatedRepositories"] == []
    assert out["catalogData"]["description"] == "paid"
    assert code_of(create, c=pub) == "RepositoryAlreadyExistsException"
    # The FREE twin is untouched and DescribeRepositories lists FREE repositories only.
    assert [r["repositoryName"] for r in pub.describe_repositories()["repositories"]] == ["paid/app"]
    assert "premium" not in pub.describe_repositories()["repositories"][0]["repositoryArn"]
    tags = pub.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "a"}]
    assert pub.list_tags_for_resource(resourceArn=pub.describe_repositories()["repositories"][0]["repositoryArn"])[
        "tags"] == []


def test_create_checks_products_and_names(pub):
    assert code_of(create, c=pub, products=["a", "a"]) == "InvalidParameterException"
    assert code_of(create, c=pub, products=[]) == "InvalidParameterException"
    assert code_of(create, c=pub, products=[f"p{i}" for i in range(6)]) == "InvalidParameterException"
    assert code_of(create, c=pub, products=["bad id!"]) == "InvalidParameterException"
    assert code_of(create, c=pub, name="Bad/Name") == "InvalidParameterException"
    assert code_of(create, c=pub, tags=[{"Key": "k" * 129, "Value": "v"}]) == "InvalidParameterException"
    assert code_of(create, c=pub, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]) == "TooManyTagsException"
    assert code_of(create, c=pub, tags=[{"Key": "aws:x", "Value": "v"}]) == "InvalidTagParameterException"
    assert pub.describe_premium_repositories()["repositories"] == []  # nothing half-made
    create(pub, name="a__b--c/d")  # the 2026 name pattern


def test_describe_names_xor_paging(pub):
    for i in range(5):
        create(pub, name=f"r{i}")
    assert code_of(pub.describe_premium_repositories, repositoryNames=["r1"], maxResults=2) == \
        "InvalidParameterException"
    assert [r["repositoryName"] for r in pub.describe_premium_repositories(repositoryNames=["r3", "r1"])[
        "repositories"]] == ["r3", "r1"]
    err = error_of(pub.describe_premium_repositories, repositoryNames=["r1", "nope"])
    assert err["Error"]["Code"] == "RepositoryNotFoundException" and "nope" in err["Error"]["Message"]
    names, token = [], None
    while True:
        page = pub.describe_premium_repositories(maxResults=2, **({"nextToken": token} if token else {}))
        names += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == [f"r{i}" for i in range(5)]
    paged = pub.get_paginator("describe_premium_repositories").paginate(PaginationConfig={"PageSize": 3})
    assert [r["repositoryName"] for p in paged for r in p["repositories"]] == names
    assert code_of(pub.describe_premium_repositories, maxResults=1001) == "InvalidParameterException"
    assert code_of(pub.describe_premium_repositories, registryId="999999999999") == "RepositoryNotFoundException"


def test_marketplace_and_verified_registry_stubs_refuse_naming_the_check(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "d", owned_products=["mine-1", "mine-2"]) as ep:
        c = client(ep)
        err = error_of(create, c=c, products=["mine-1", "theirs"])
        assert err["Error"]["Code"] == "InvalidParameterException"
        assert "product ownership" in err["Error"]["Message"] and "theirs" in err["Error"]["Message"]
        create(c, products=["mine-1"])
        assert code_of(c.put_premium_repository_products, repositoryName="paid/app",
                       marketplaceProducts=["mine-1", "other"]) == "InvalidParameterException"
        assert c.describe_registries()["registries"][0]["premiumStatus"] == "ENABLED"
    with LocalEndpoint(data_dir=tmp_path / "e", verified_registry=False) as ep:
        c = client(ep)
        err = error_of(create, c=c)
        assert err["Error"]["Code"] == "ValidationException" and "verified" in err["Error"]["Message"]
        registry = c.describe_registries()["registries"][0]
        assert registry["premiumStatus"] == "DISABLED" and "premiumRegistryUri" not in registry
        assert registry["verified"] is False


def test_registry_names_the_premium_door(pub, endpoint):
    registry = pub.describe_registries()["registries"][0]
    assert registry["premiumStatus"] == "ENABLED" and registry["verified"] is True
    assert registry["premiumRegistryUri"] == f"{endpoint.premium_host_port}/local"
    assert endpoint.premium_host_port != endpoint.host_port
