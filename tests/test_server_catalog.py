"""Catalog data of the local endpoint as ECR Public has it today: the registry's description and logo
(served by the endpoint at GetRegistryCatalogData's logoUrl), repository categories, and the output-only
badges and artifactTypes computed from what a repository stores; through boto3 and the AWS CLI v1."""
from __future__ import annotations

import json

import pytest
import requests

from aws_cli import AwsCli
from conftest import server_fixture
from endpoint_client import OCI_MANIFEST, client, code_of, push_blob, push_image, sha

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


@server_fixture
def pub(endpoint):
    return client(endpoint)


def put_artifact(c, repo: str, artifact_type: str, payload: bytes, subject: str = "", config_type: str = "",
                 tag: str = "") -> str:
    """An OCI artifact manifest (empty config unless ``config_type``), optionally referring to ``subject``
    (a manifest text of the same repository); returns its digest."""
    config = b"{}" if not config_type else json.dumps({"name": "chart", "version": "1.0.0"}).encode()
    for blob in (config, payload):
        if not c.batch_check_layer_availability(repositoryName=repo, layerDigests=[sha(blob)])["layers"]:
            push_blob(c, repo, blob)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": config_type or EMPTY_CONFIG, "digest": sha(config), "size": len(config)},
           "layers": [{"mediaType": artifact_type, "digest": sha(payload), "size": len(payload)}]}
    if not config_type:
        doc["artifactType"] = artifact_type
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": sha(subject.encode()), "size": len(subject.encode())}
    text = json.dumps(doc)
    c.put_image(repositoryName=repo, imageManifest=text, **({"imageTag": tag} if tag else {}))
    return sha(text.encode())


def facts(c, repo: str):
    data = c.get_repository_catalog_data(repositoryName=repo)["catalogData"]
    return data["badges"], data["artifactTypes"]


def test_registry_description_and_logo(pub, endpoint):
    assert pub.get_registry_catalog_data()["registryCatalogData"] == {"displayName": ""}
    out = pub.put_registry_catalog_data(displayName="Acme", description="Images by Acme", logoImageBlob=PNG)
    data = out["registryCatalogData"]
    assert data == pub.get_registry_catalog_data()["registryCatalogData"]
    assert (data["displayName"], data["description"]) == ("Acme", "Images by Acme")
    logo = requests.get(data["logoUrl"], timeout=30)
    assert data["logoUrl"].startswith(endpoint.url + "/")
    assert (logo.status_code, logo.headers["Content-Type"], logo.content) == (200, "image/png", PNG)
    # Members left out stay; an empty description or logo removes it.
    pub.put_registry_catalog_data(displayName="Acme Corp")
    assert pub.get_registry_catalog_data()["registryCatalogData"]["description"] == "Images by Acme"
    data = pub.put_registry_catalog_data(description="", logoImageBlob=b"")["registryCatalogData"]
    assert data == {"displayName": "Acme Corp"}
    assert requests.get(logo.url, timeout=30).status_code == 404
    assert code_of(pub.put_registry_catalog_data, description="x" * 1025) == "InvalidParameterException"
    assert code_of(pub.put_registry_catalog_data, logoImageBlob=b"x" * 512001) == "InvalidParameterException"
    assert code_of(pub.put_registry_catalog_data, displayName="x" * 101) == "InvalidParameterException"


def test_categories_on_create_and_put(pub):
    pub.create_repository(repositoryName="team/db", catalogData={"categories": ["DATABASES", "AI_ML"]})
    assert pub.get_repository_catalog_data(repositoryName="team/db")["catalogData"]["categories"] == [
        "DATABASES", "AI_ML"]
    out = pub.put_repository_catalog_data(repositoryName="team/db", catalogData={"description": "a database"})
    assert out["catalogData"]["categories"] == ["DATABASES", "AI_ML"]  # omitted members stay
    out = pub.put_repository_catalog_data(repositoryName="team/db", catalogData={"categories": ["STREAMING"]})
    assert (out["catalogData"]["categories"], out["catalogData"]["description"]) == (["STREAMING"], "a database")
    for bad in (["AI_ML", "AI_ML"], ["AI_ML", "DATABASES", "SECURITY", "STREAMING"], ["GAMES"], ["ai_ml"]):
        assert code_of(pub.put_repository_catalog_data, repositoryName="team/db",
                       catalogData={"categories": bad}) == "InvalidParameterException", bad
        assert code_of(pub.create_repository, repositoryName="team/new",
                       catalogData={"categories": bad}) == "InvalidParameterException", bad
    assert code_of(pub.describe_repositories, repositoryNames=["team/new"]) == "RepositoryNotFoundException"
    assert pub.get_repository_catalog_data(repositoryName="team/db")["catalogData"]["categories"] == ["STREAMING"]


def test_badges_and_artifact_types_follow_what_is_stored(pub):
    pub.create_repository(repositoryName="team/app")
    assert facts(pub, "team/app") == ([], [])
    image = push_image(pub, "team/app", [b"layer"], tag="v1")
    assert facts(pub, "team/app") == ([], ["IMAGE"])
    put_artifact(pub, "team/app", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"chart",
                 config_type=HELM_CONFIG, tag="chart-1.0.0")
    assert facts(pub, "team/app") == ([], ["IMAGE", "HELM"])
    sbom = put_artifact(pub, "team/app", "application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}', subject=image)
    assert facts(pub, "team/app") == (["SBOM"], ["IMAGE", "HELM"])
    signature = put_artifact(pub, "team/app", "application/vnd.dev.cosign.artifact.sig.v1+json", b"sig",
                             subject=image)
    assert facts(pub, "team/app") == (["SIGNED", "SBOM"], ["IMAGE", "HELM"])
    assert pub.create_repository(repositoryName="team/other")["catalogData"]["badges"] == []
    # Deleting the referrers takes their badges away.
    pub.batch_delete_image(repositoryName="team/app", imageIds=[{"imageDigest": sbom}, {"imageDigest": signature}])
    assert facts(pub, "team/app") == ([], ["IMAGE", "HELM"])
    # A Notation signature and a CycloneDX SBOM count too; an artifact without a subject, or whose subject
    # is not in the repository, does not; nor does a referrer of another artifact type.
    pub.create_repository(repositoryName="team/refs")
    orphan = push_image(pub, "team/app", [b"elsewhere"], tag="v2")
    put_artifact(pub, "team/refs", "application/vnd.cyclonedx+json", b"{}", subject=orphan)
    put_artifact(pub, "team/refs", "application/vnd.cncf.notary.signature", b"jws")
    put_artifact(pub, "team/refs", "application/vnd.example.readme", b"# hi", subject=orphan)
    assert facts(pub, "team/refs") == ([], [])
    subject = push_image(pub, "team/refs", [b"own"], tag="v1")
    put_artifact(pub, "team/refs", "application/vnd.cyclonedx+json", b'{"bomFormat": "CycloneDX"}', subject=subject)
    put_artifact(pub, "team/refs", "application/vnd.cncf.notary.signature", b"jws2", subject=subject)
    assert facts(pub, "team/refs") == (["SIGNED", "SBOM"], ["IMAGE"])
    listed = pub.put_repository_catalog_data(repositoryName="team/refs", catalogData={"description": "x"})
    assert (listed["catalogData"]["badges"], listed["catalogData"]["artifactTypes"]) == (["SIGNED", "SBOM"], ["IMAGE"])


def test_catalog_through_the_aws_cli(endpoint, tmp_path):
    aws = AwsCli(endpoint, tmp_path)
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    out = aws.call("put-registry-catalog-data", "--display-name", "Acme", "--description", "Images by Acme",
                   "--logo-image-blob", f"fileb://{logo}")["registryCatalogData"]
    assert requests.get(out["logoUrl"], timeout=30).content == PNG
    assert aws.call("get-registry-catalog-data")["registryCatalogData"]["description"] == "Images by Acme"
    created = aws.call("create-repository", "--repository-name", "team/app", "--catalog-data",
                       json.dumps({"categories": ["WEB_SERVERS"], "description": "web"}))
    assert created["catalogData"]["categories"] == ["WEB_SERVERS"]
    got = aws.call("get-repository-catalog-data", "--repository-name", "team/app")["catalogData"]
    assert (got["badges"], got["artifactTypes"]) == ([], [])
    aws.error("put-repository-catalog-data", "--repository-name", "team/app", "--catalog-data",
              json.dumps({"categories": ["WEB_SERVERS", "WEB_SERVERS"]}), code="InvalidParameterException")
    aws.error("put-registry-catalog-data", "--description", "x" * 1025, code="InvalidParameterException")
