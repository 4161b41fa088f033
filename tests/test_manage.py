"""The management commands and pypush.ecrpublic.ECRPublic against the local ECR Public endpoint.

Images are made cheaply with boto3 (one config blob, tiny manifests that differ by an annotation),
then every command runs through the CLI in a subprocess, as users run it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zlib
from typing import Dict, List, Optional

import boto3
import pytest
import requests

from endpoint_client import cli, cli_json
from pypush.errors import RegistryError, UsageError
from pypush.ecrpublic.client import CatalogData, DeleteResult, ECRPublic, Image, Repository, Tag

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


class Images:
    """Writes repositories and images into the endpoint with plain boto3 (independent of pypush)."""

    def __init__(self, url: str):
        self.client = boto3.client("ecr-public", endpoint_url=url, region_name="us-east-1",
                                   aws_access_key_id="test", aws_secret_access_key="test")
        self.configs: Dict[str, dict] = {}

    def repo(self, name: str) -> None:
        self.client.create_repository(repositoryName=name)

    def config(self, repo: str) -> dict:
        """The descriptor of a config blob uploaded once per repository."""
        if repo not in self.configs:
            body = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
            data = body.encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            upload = self.client.initiate_layer_upload(repositoryName=repo)["uploadId"]
            self.client.upload_layer_part(repositoryName=repo, uploadId=upload, partFirstByte=0,
                                          partLastByte=len(data) - 1, layerPartBlob=data)
            self.client.complete_layer_upload(repositoryName=repo, uploadId=upload, layerDigests=[digest])
            self.configs[repo] = {"mediaType": OCI_CONFIG, "digest": digest, "size": len(data)}
        return self.configs[repo]

    def put(self, repo: str, n: int, tag: Optional[str] = None, platform: Optional[dict] = None) -> dict:
        """Push manifest number ``n`` (distinct bytes per n); returns its descriptor."""
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": self.config(repo), "layers": [],
               "annotations": {"n": str(n)}}
        return self._put(repo, doc, OCI_MANIFEST, tag, platform)

    def put_index(self, repo: str, children: List[dict], tag: str) -> dict:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
        return self._put(repo, doc, OCI_INDEX, tag, None)

    def _put(self, repo: str, doc: dict, media_type: str, tag: Optional[str], platform: Optional[dict]) -> dict:
        raw = json.dumps(doc)
        kwargs = {"imageTag": tag} if tag else {}
        self.client.put_image(repositoryName=repo, imageManifest=raw, imageManifestMediaType=media_type, **kwargs)
        desc = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(raw.encode()).hexdigest(),
                "size": len(raw.encode())}
        if platform:
            desc["platform"] = platform
        return desc


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG built by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(c for x in range(width) for c in (x * 80, y * 120, 200)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def images(endpoint) -> Images:
    return Images(endpoint.url)


# -- repositories ---------------------------------------------------------------------------------
def test_repo_lifecycle(endpoint, images):
    proc = cli(endpoint, "repo", "create", "public.ecr.aws/local/team/app", "--resource-tag", "owner=ci",
               "--description", "An app", subprocess=True)
    assert proc.returncode == 0, proc.stderr
    assert "public.ecr.aws/local/team/app" in proc.stdout
    assert cli(endpoint, "repo", "create", "other").returncode == 0

    listed = cli_json(endpoint, "repo", "list", "--page-size", "1")
    assert [r["name"] for r in listed] == ["other", "team/app"]
    assert listed[1]["arn"] == "arn:aws:ecr-public::123456789012:repository/team/app"
    assert [r["name"] for r in cli_json(endpoint, "repo", "list", "public.ecr.aws/local")] == ["other", "team/app"]
    described = cli_json(endpoint, "repo", "describe", "team/app")
    assert described["uri"] == "public.ecr.aws/local/team/app" and described["registry_id"] == "123456789012"
    assert cli_json(endpoint, "catalog", "get", "team/app")["description"] == "An app"
    assert cli_json(endpoint, "resource-tags", "list", "team/app") == {"owner": "ci"}

    again = cli(endpoint, "repo", "create", "other")
    assert again.returncode == 4 and "RepositoryAlreadyExistsException" in again.stderr

    images.put("team/app", 1, tag="v1")
    refused = cli(endpoint, "repo", "delete", "team/app", subprocess=True)
    assert refused.returncode == 4
    assert "RepositoryNotEmptyException" in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    forced = cli(endpoint, "repo", "delete", "public.ecr.aws/local/team/app", "--force")
    assert forced.returncode == 0, forced.stderr
    gone = cli(endpoint, "repo", "describe", "team/app")
    assert gone.returncode == 4 and "RepositoryNotFoundException" in gone.stderr


def test_references_and_usage_errors(endpoint):
    cases = [
        (("repo", "describe", "public.ecr.aws/someone-else/app"), "not one of your registries"),
        (("repo", "describe", "Not_A_Repo!"), "invalid repository reference"),
        (("repo", "describe", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"), "not an ECR Public reference"),
        (("images", "delete", "app"), "names no image"),
        (("resource-tags", "add", "app", "novalue"), "KEY=VALUE"),
        (("catalog", "set", "app"), "nothing to set"),
        (("catalog", "set", "--registry", "--architecture", "arm64"), "not --architecture"),
        (("catalog", "set", "--registry", "--category", "ai-ml"), "not --category"),
        (("catalog", "set", "--registry"), "--registry needs --display-name NAME, --description TEXT or --logo"),
        (("catalog", "set", "app", "--category", "games"), "unknown category 'games'"),
        (("images", "list", "app", "--repository-type", "gold"), "invalid choice: 'gold'"),
        (("images", "list", "app", "--page-size", "5000"), "1..1000"),
    ]
    for args, message in cases:
        proc = cli(endpoint, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)


# -- images and tags ------------------------------------------------------------------------------
N_IMAGES = 1200


def test_pagination_over_many_pages(endpoint, images):
    images.repo("many")
    for n in range(N_IMAGES):
        images.put("many", n, tag=f"t{n:04d}")

    listed = cli_json(endpoint, "images", "list", "public.ecr.aws/local/many", "--page-size", "500", subprocess=True)
    assert len(listed) == N_IMAGES and len({i["digest"] for i in listed}) == N_IMAGES
    assert sorted(t for i in listed for t in i["tags"]) == [f"t{n:04d}" for n in range(N_IMAGES)]
    tags = cli_json(endpoint, "tags", "list", "many")  # the service's default page (100): 12 pages
    assert [t["name"] for t in tags] == [f"t{n:04d}" for n in range(N_IMAGES)]
    assert {t["digest"] for t in tags} == {i["digest"] for i in listed}

    # Python API: the page size reaches the service as maxResults; deletion goes in batches of 100.
    registry = ECRPublic("public.ecr.aws/local", endpoint_url=endpoint.url)
    calls: List[dict] = []
    registry.client.meta.events.register("provide-client-params.ecr-public.*",
                                         lambda params, model, **_: calls.append((model.name, dict(params))))
    found = registry.list_tags("many", page_size=400)
    assert len(found) == N_IMAGES and all(isinstance(t, Tag) for t in found)
    assert [p.get("maxResults") for name, p in calls if name == "DescribeImageTags"] == [400, 400, 400]
    calls.clear()
    result = registry.delete_images([f"many:t{n:04d}" for n in range(N_IMAGES)])
    assert result.ok and len(result.deleted) == N_IMAGES
    assert [len(p["imageIds"]) for name, p in calls if name == "BatchDeleteImage"] == [100] * 12
    assert cli_json(endpoint, "images", "list", "many") == []


def test_delete_child_of_an_index_is_refused(endpoint, images):
    images.repo("multi")
    amd = images.put("multi", 1, platform={"architecture": "amd64", "os": "linux"})
    arm = images.put("multi", 2, platform={"architecture": "arm64", "os": "linux"})
    index = images.put_index("multi", [amd, arm], tag="latest")
    loose = images.put("multi", 3, tag="old")
    before = {i["digest"]: i["tags"] for i in cli_json(endpoint, "images", "list", "multi")}
    assert set(before) == {amd["digest"], arm["digest"], index["digest"], loose["digest"]}
    table = cli(endpoint, "images", "list", "multi", columns=60)
    lines = table.stdout.splitlines()
    assert table.returncode == 0 and len(lines) == 5 and lines[0].split() == ["DIGEST", "TAGS", "SIZE", "PUSHED", "TYPE"]
    assert all(len(line) <= 60 for line in lines) and all("…" in line for line in lines[1:])

    proc = cli(endpoint, "images", "delete", f"multi@{amd['digest']}", "--format", "json")
    assert proc.returncode == 4
    assert "ImageReferencedByManifestList" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    report = json.loads(proc.stdout)
    assert report["deleted"] == []
    assert [(f["image"]["digest"], f["code"]) for f in report["failures"]] == [
        (amd["digest"], "ImageReferencedByManifestList")]
    assert {i["digest"]: i["tags"] for i in cli_json(endpoint, "images", "list", "multi")} == before

    # A mixed batch: the refused child is reported, the other image is deleted, nothing else is.
    proc = cli(endpoint, "images", "delete", f"public.ecr.aws/local/multi@{arm['digest']}", "multi:old",
               "multi:missing", columns=200, subprocess=True)
    assert proc.returncode == 4, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert ["deleted", f"multi:old@{loose['digest']}"] in rows
    assert any(r[:2] == ["FAILED", f"multi@{arm['digest']}"] and r[2] == "ImageReferencedByManifestList:"
               for r in rows)
    assert any(r[:3] == ["FAILED", "multi:missing", "ImageNotFound:"] for r in rows)
    assert "2 of 3" in proc.stderr
    after = {i["digest"] for i in cli_json(endpoint, "images", "list", "multi")}
    assert after == {amd["digest"], arm["digest"], index["digest"]}

    # Deleting the index first frees its children.
    ok = cli(endpoint, "images", "delete", "multi:latest", f"multi@{amd['digest']}", f"multi@{arm['digest']}")
    assert ok.returncode == 0, ok.stderr
    assert cli_json(endpoint, "images", "list", "multi") == []


# -- policies and catalog data --------------------------------------------------------------------
POLICY = """{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "ci-push", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"},
                 "Action": ["ecr-public:PutImage", "ecr-public:InitiateLayerUpload"]}]
}"""


def test_policy_round_trip(endpoint, images, tmp_path):
    images.repo("app")
    missing = cli(endpoint, "policy", "get", "app")
    assert missing.returncode == 4 and "RepositoryPolicyNotFoundException" in missing.stderr
    path = tmp_path / "policy.json"
    path.write_text(POLICY)
    proc = cli(endpoint, "policy", "set", "app", str(path))
    assert proc.returncode == 0, proc.stderr
    got = cli(endpoint, "policy", "get", "public.ecr.aws/local/app")
    assert got.stdout == POLICY + "\n"
    assert cli_json(endpoint, "policy", "get", "app")["policy"] == json.loads(POLICY)
    from_stdin = cli(endpoint, "policy", "set", "app", "-", stdin='{"Version": "1"}')
    assert from_stdin.returncode == 0, from_stdin.stderr
    deleted = cli(endpoint, "policy", "delete", "app")
    assert deleted.returncode == 0 and deleted.stdout == '{"Version": "1"}\n'
    assert cli(endpoint, "policy", "get", "app").returncode == 4
    path.write_text("{not json")
    bad = cli(endpoint, "policy", "set", "app", str(path))
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr


def test_catalog_round_trip_with_logo(endpoint, images, tmp_path):
    images.repo("app")
    about = "# App\n\nDoes *things* — ünïcode too.\n\n```\npypush push . public.ecr.aws/x/app\n```\n"
    usage = "Run `app --help`.\n"
    (tmp_path / "about.md").write_text(about, encoding="utf-8")
    (tmp_path / "usage.md").write_text(usage, encoding="utf-8")
    logo = tiny_png()
    (tmp_path / "logo.png").write_bytes(logo)
    proc = cli(endpoint, "catalog", "set", "app", "--description", "The app", "--about", str(tmp_path / "about.md"),
               "--usage", str(tmp_path / "usage.md"), "--architecture", "arm64", "--architecture", "x86-64",
               "--os", "linux", "--logo", str(tmp_path / "logo.png"))
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / "read-back.png"
    data = cli_json(endpoint, "catalog", "get", "public.ecr.aws/local/app", "--logo-out", str(out))
    assert out.read_bytes() == logo
    assert data["description"] == "The app" and data["about"] == about and data["usage"] == usage
    assert data["architectures"] == ["ARM 64", "x86-64"] and data["operating_systems"] == ["Linux"]
    assert data["logo_url"]

    registry = ECRPublic(endpoint_url=endpoint.url)
    assert registry.get_logo("app") == logo
    catalog = registry.put_catalog_data("app", description="Changed")
    assert isinstance(catalog, CatalogData) and catalog.description == "Changed" and catalog.about == about

    (tmp_path / "not.png").write_bytes(b"GIF89a....")
    bad = cli(endpoint, "catalog", "set", "app", "--logo", str(tmp_path / "not.png"))
    assert bad.returncode == 2 and "not a PNG" in bad.stderr

    table = cli(endpoint, "catalog", "get", "app", columns=50)
    assert table.returncode == 0 and all(len(line) <= 50 for line in table.stdout.splitlines())


def test_registry_catalog_registries_and_login(endpoint):
    assert cli(endpoint, "catalog", "set", "--registry", "--display-name", "Local Builds").returncode == 0
    shown = {"display_name": "Local Builds", "description": None, "logo_url": None}
    assert cli_json(endpoint, "catalog", "get", "--registry") == shown
    assert cli_json(endpoint, "catalog", "get", "--registry", "public.ecr.aws/local") == shown
    registries = cli_json(endpoint, "registries")
    assert [(r["registry_id"], r["uri"], [a["name"] for a in r["aliases"]]) for r in registries] == [
        ("123456789012", "public.ecr.aws/local", ["local"])]
    table = cli(endpoint, "registries")
    assert table.stdout.splitlines()[0].split() == ["ID", "URI", "ALIASES", "VERIFIED", "PREMIUM"]

    login = cli(endpoint, "login", subprocess=True)
    assert login.returncode == 0, login.stderr
    password = login.stdout.strip()
    assert password and "\n" not in password and login.stdout.endswith("\n")
    # The password works as docker's: user AWS on the endpoint's registry API.
    resp = requests.get(f"{endpoint.url}/v2/", auth=("AWS", password), timeout=10)
    assert resp.status_code == 200


def test_resource_tags(endpoint, images):
    images.repo("app")
    assert cli_json(endpoint, "resource-tags", "list", "app") == {}
    assert cli_json(endpoint, "resource-tags", "add", "app", "team=infra", "cost=42", "empty=") == {
        "cost": "42", "empty": "", "team": "infra"}
    assert cli_json(endpoint, "resource-tags", "add", "app", "team=web") == {"cost": "42", "empty": "", "team": "web"}
    assert cli_json(endpoint, "resource-tags", "remove", "public.ecr.aws/local/app", "cost", "empty") == {"team": "web"}
    table = cli(endpoint, "resource-tags", "list", "app")
    assert table.stdout.splitlines() == ["KEY   VALUE", "team  web"]
    reserved = cli(endpoint, "resource-tags", "add", "app", "aws:x=1")
    assert reserved.returncode == 4 and "InvalidTagParameterException" in reserved.stderr


# -- the Python API -------------------------------------------------------------------------------
def test_python_api_returns_frozen_data(endpoint, images):
    registry = ECRPublic(endpoint_url=endpoint.url)
    repo = registry.create_repository("api", tags={"k": "v"})
    assert isinstance(repo, Repository) and repo.name == "api"
    with pytest.raises(dataclasses.FrozenInstanceError):
        repo.name = "x"  # type: ignore[misc]
    desc = images.put("api", 7, tag="v7")
    listed = registry.list_images("public.ecr.aws/local/api")
    assert listed == [Image("api", desc["digest"], ("v7",), listed[0].size, listed[0].pushed_at, OCI_MANIFEST, OCI_CONFIG)]
    assert registry.describe_images(["v7"], repository="api") == listed
    assert registry.registry_id("local") == "123456789012"
    assert registry.list_resource_tags("api") == {"k": "v"}
    result = registry.delete_images(["v7", "sha256:" + "1" * 64], repository="api")
    assert isinstance(result, DeleteResult) and not result.ok
    assert [str(r) for r in result.deleted] == [f"api:v7@{desc['digest']}"]
    assert [(f.code, f.image.digest) for f in result.failures] == [("ImageNotFound", "sha256:" + "1" * 64)]
    with pytest.raises(RegistryError) as err:
        registry.delete_repository("nope")
    assert err.value.code == "RepositoryNotFoundException"
    with pytest.raises(UsageError):
        ECRPublic("public.ecr.aws/elsewhere", endpoint_url=endpoint.url).list_repositories()


@pytest.mark.servers
def test_aws_credential_chain_and_profile(tmp_path, monkeypatch):
    """With an endpoint that checks SigV4 signatures, --profile picks the shared-credentials profile."""
    from pypush.server import LocalEndpoint

    creds = tmp_path / "credentials"
    creds.write_text("[good]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = s3cret\n"
                     "[bad]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = wrong\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    with LocalEndpoint(data_dir=tmp_path / "data", access_key="AKIDGOOD", secret_key="s3cret") as ep:
        ok = cli(ep, "repo", "create", "signed", "--profile", "good")
        assert ok.returncode == 0, ok.stderr
        bad = cli(ep, "repo", "list", "--profile", "bad")
        assert bad.returncode == 5 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        monkeypatch.setenv("AWS_PROFILE", "good")
        assert [r["name"] for r in cli_json(ep, "repo", "list")] == ["signed"]
