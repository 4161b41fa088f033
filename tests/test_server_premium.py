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


# -- state machine and products ---------------------------------------------------------------
def state(c, name: str, to: str, kind: str = "PREMIUM"):
    return c.set_repository_state(repositoryName=name, repositoryType=kind, state=to)


def test_state_transitions_exactly_as_documented(pub):
    create(pub, name="st")
    assert state(pub, "st", "DRAFT")["state"] == "DRAFT"  # the same state: a no-op
    assert code_of(state, c=pub, name="st", to="HIDDEN") == "InvalidParameterException"  # DRAFT -> HIDDEN
    out = state(pub, "st", "AVAILABLE")
    assert out == {**out, "registryId": "123456789012", "repositoryName": "st", "repositoryType": "PREMIUM",
                   "state": "AVAILABLE"}
    assert state(pub, "st", "AVAILABLE")["state"] == "AVAILABLE"
    assert state(pub, "st", "HIDDEN")["state"] == "HIDDEN"
    err = error_of(state, c=pub, name="st", to="DRAFT")
    assert err["Error"]["Code"] == "InvalidParameterException" and "DRAFT" in err["Error"]["Message"]
    assert state(pub, "st", "AVAILABLE")["state"] == "AVAILABLE"
    assert code_of(state, c=pub, name="st", to="DRAFT") == "InvalidParameterException"
    assert pub.describe_premium_repositories(repositoryNames=["st"])["repositories"][0]["state"] == "AVAILABLE"
    pub.create_repository(repositoryName="free")
    assert code_of(state, c=pub, name="free", to="AVAILABLE", kind="FREE") == "InvalidParameterException"
    assert code_of(state, c=pub, name="free", to="AVAILABLE") == "RepositoryNotFoundException"
    assert code_of(state, c=pub, name="st", to="GONE") == "InvalidParameterException"


def test_products_replace_in_draft_and_only_grow_afterwards(pub):
    create(pub, name="pp", products=["a", "b"])
    assert pub.put_premium_repository_products(repositoryName="pp", marketplaceProducts=["c"])[
        "marketplaceProducts"] == ["c"]
    state(pub, "pp", "AVAILABLE")
    err = error_of(pub.put_premium_repository_products, repositoryName="pp", marketplaceProducts=["d"])
    assert err["Error"]["Code"] == "InvalidParameterException" and "c" in err["Error"]["Message"]
    assert pub.put_premium_repository_products(repositoryName="pp", marketplaceProducts=["c", "d"])[
        "marketplaceProducts"] == ["c", "d"]
    for bad in ([], ["c", "c"], [f"x{i}" for i in range(6)], ["x" * 256]):
        assert code_of(pub.put_premium_repository_products, repositoryName="pp",
                       marketplaceProducts=bad) == "InvalidParameterException"
    assert code_of(pub.put_premium_repository_products, repositoryName="nope",
                   marketplaceProducts=["c"]) == "RepositoryNotFoundException"
    got = pub.describe_premium_repositories(repositoryNames=["pp"])["repositories"][0]
    assert got["marketplaceProducts"] == ["c", "d"]


# -- catalog data and policies ----------------------------------------------------------------
def test_catalog_data_is_a_partial_update(pub):
    create(pub, name="cat")
    assert code_of(pub.get_premium_repository_catalog_data,
                   repositoryName="cat") == "RepositoryCatalogDataNotFoundException"
    logo = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    out = pub.put_premium_repository_catalog_data(repositoryName="cat", catalogData={
        "description": "one", "aboutText": "# about", "logoImageBlob": logo})
    assert out["catalogData"]["description"] == "one" and out["catalogData"]["logoUrl"]
    out = pub.put_premium_repository_catalog_data(repositoryName="cat", catalogData={"usageText": "run it"})
    data = out["catalogData"]
    assert (data["description"], data["aboutText"], data["usageText"]) == ("one", "# about", "run it")
    assert "logoUrl" in data
    out = pub.put_premium_repository_catalog_data(repositoryName="cat", catalogData={"logoImageBlob": b""})
    assert "logoUrl" not in out["catalogData"] and out["catalogData"]["description"] == "one"
    got = pub.get_premium_repository_catalog_data(repositoryName="cat")
    assert got["repositoryName"] == "cat" and got["catalogData"] == out["catalogData"]
    assert code_of(pub.put_premium_repository_catalog_data, repositoryName="cat",
                   catalogData={"description": "d" * 1025}) == "InvalidParameterException"
    assert code_of(pub.get_premium_repository_catalog_data, repositoryName="nope") == "RepositoryNotFoundException"
    # The FREE twin's catalog is its own.
    pub.create_repository(repositoryName="cat")
    assert pub.get_repository_catalog_data(repositoryName="cat")["catalogData"].get("description") is None


def test_policies(pub):
    create(pub, name="pol")
    assert code_of(pub.get_premium_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"
    assert code_of(pub.delete_premium_repository_policy,
                   repositoryName="pol") == "RepositoryPolicyNotFoundException"
    text = '{"Version": "2012-10-17", "Statement": []}'
    assert pub.set_premium_repository_policy(repositoryName="pol", policyText=text)["policyText"] == text
    assert pub.get_premium_repository_policy(repositoryName="pol")["policyText"] == text
    assert code_of(pub.set_premium_repository_policy, repositoryName="pol",
                   policyText="not json") == "InvalidParameterException"
    assert code_of(pub.set_premium_repository_policy, repositoryName="pol",
                   policyText="{" + " " * 10240 + "}") == "InvalidParameterException"
    assert pub.delete_premium_repository_policy(repositoryName="pol")["policyText"] == text
    assert code_of(pub.get_premium_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"
    assert code_of(pub.set_premium_repository_policy, repositoryName="nope",
                   policyText=text) == "RepositoryNotFoundException"
    pub.create_repository(repositoryName="pol")  # a FREE twin has no policy of the premium one
    pub.set_premium_repository_policy(repositoryName="pol", policyText=text)
    assert code_of(pub.get_repository_policy, repositoryName="pol") == "RepositoryPolicyNotFoundException"


# -- associations -----------------------------------------------------------------------------
def assoc(c, name, kind, other, other_kind, op="associate_repositories"):
    return getattr(c, op)(repositoryName=name, repositoryType=kind, associatedRepositoryName=other,
                            associatedRepositoryType=other_kind)


def test_associations_pair_one_free_with_one_premium(pub):
    pub.create_repository(repositoryName="f1")
    pub.create_repository(repositoryName="f2")
    create(pub, name="p1")
    create(pub, name="p2")
    assert code_of(assoc, c=pub, name="f1", kind="FREE", other="f2", other_kind="FREE") == \
        "InvalidParameterException"
    assert code_of(assoc, c=pub, name="p1", kind="PREMIUM", other="p2", other_kind="PREMIUM") == \
        "InvalidParameterException"
    assert code_of(assoc, c=pub, name="f1", kind="FREE", other="nope", other_kind="PREMIUM") == \
        "RepositoryNotFoundException"
    assert code_of(assoc, c=pub, name="p1", kind="FREE", other="p1", other_kind="PREMIUM") == \
        "RepositoryNotFoundException"  # p1 exists only as PREMIUM
    out = assoc(pub, "p1", "PREMIUM", "f1", "FREE")
    assert out == {**out, "registryId": "123456789012", "repositoryName": "p1", "repositoryType": "PREMIUM",
                   "associatedRepositoryName": "f1", "associatedRepositoryType": "FREE"}
    for args in (("f1", "FREE", "p2", "PREMIUM"), ("f2", "FREE", "p1", "PREMIUM"), ("f1", "FREE", "p1", "PREMIUM")):
        assert code_of(assoc, c=pub, name=args[0], kind=args[1], other=args[2], other_kind=args[3]) == \
            "AssociationAlreadyExistsException"
    free = pub.describe_repositories(repositoryNames=["f1", "f2"])["repositories"]
    assert free[0]["associatedRepositories"] == [{"repositoryName": "p1", "repositoryType": "PREMIUM"}]
    assert free[1]["associatedRepositories"] == []
    prem = pub.describe_premium_repositories(repositoryNames=["p1"])["repositories"][0]
    assert prem["associatedRepositories"] == [{"repositoryName": "f1", "repositoryType": "FREE"}]
    assert code_of(assoc, c=pub, name="f2", kind="FREE", other="p2", other_kind="PREMIUM",
                   op="disassociate_repositories") == "AssociationNotFoundException"
    assoc(pub, "f1", "FREE", "p1", "PREMIUM", op="disassociate_repositories")
    assert pub.describe_premium_repositories(repositoryNames=["p1"])["repositories"][0][
        "associatedRepositories"] == []
    assoc(pub, "f2", "FREE", "p1", "PREMIUM")
    pub.delete_repository(repositoryName="f2")  # deleting a side ends the association
    assoc(pub, "f1", "FREE", "p1", "PREMIUM")


# -- deletion ---------------------------------------------------------------------------------
def test_delete_answers_five_fields_and_frees_the_name(pub):
    pub.create_repository(repositoryName="dd")
    repo = create(pub, name="dd")["premiumRepository"]
    assoc(pub, "dd", "FREE", "dd", "PREMIUM")
    out = pub.delete_premium_repository(repositoryName="dd")["premiumRepository"]
    assert set(out) == {"registryId", "repositoryName", "repositoryArn", "repositoryUri", "createdAt"}
    assert out["repositoryArn"] == repo["repositoryArn"] and out["createdAt"] == repo["createdAt"]
    assert code_of(pub.delete_premium_repository, repositoryName="dd") == "RepositoryNotFoundException"
    assert pub.describe_repositories(repositoryNames=["dd"])["repositories"][0]["associatedRepositories"] == []
    assert create(pub, name="dd")["premiumRepository"]["state"] == "DRAFT"
    assert code_of(pub.list_tags_for_resource,
                   resourceArn="arn:aws:ecr-public::123456789012:premium-repository/none") == \
        "RepositoryNotFoundException"
