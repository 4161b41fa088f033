"""Premium on the client, without a server: argument parsing, usage errors, and the requests pypush builds.

Every request the ECR transport and the management client make is checked against the pinned ECR Public
model (pypush.apimodels) with botocore's own parameter validator, so a member name or shape pypush gets
wrong fails here; the end-to-end checks against ``pypush serve`` are in test_premium_e2e.py.
"""
from __future__ import annotations

import datetime
import json
from typing import Any, Dict, List, Tuple

import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from conftest import FIXTURES
from pypush import api, apimodels
from pypush.cli.main import build_parser, transfer_options
from pypush.ecrpublic import ECRPublic
from pypush.ecrpublic.catalog import parse_categories
from pypush.engine import transfer as engine
from pypush.errors import RegistryError, UsageError

from pypush.image.model import OCI_MANIFEST, Descriptor, ImageIndex, ImageManifest, sha256_digest, walk
from pypush.name.reference import parse_destination, repository_type
from pypush.net.aws_errors import AwsApiError
from pypush.transports.ecr import ecr_tag_probe
from pypush.transports.ecr.ecr_transport import EcrTransport
from pypush.transports.ecr.premium_host import premium_repository_uri, split_uri

MODEL = apimodels.service_model("ecr-public")
PUSH_CALLS = ("BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload",
              "PutImage")


def valid(operation: str, params: Dict[str, Any]) -> None:
    """Fail unless ``params`` are a well-formed ``operation`` request of the pinned model."""
    report = ParamValidator().validate(params, MODEL.operation_model(operation).input_shape)
    assert not report.has_errors(), f"{operation}: {report.generate_report()}"


# -- argument parsing -------------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["push", "img", "public.ecr.aws/a1/app:1"], ["copy", "img", "public.ecr.aws/a1/app:1"],
    ["append", "--base", "img", "--layer", "x", "public.ecr.aws/a1/app:1"],
    ["mutate", "img", "public.ecr.aws/a1/app:1"]])
def test_transfer_commands_take_repository_type(command):
    parser = build_parser(command[0])
    assert parser.parse_args(command).repository_type == "free"
    args = parser.parse_args([*command, "--repository-type", "PREMIUM"])
    assert args.repository_type == "premium" and transfer_options(args).repository_type == "premium"
    with pytest.raises(UsageError, match="invalid choice: 'gold'"):
        parser.parse_args([*command, "--repository-type", "gold"])


@pytest.mark.parametrize("command", [["images", "list", "app"], ["images", "delete", "app:1"],
                                     ["tags", "list", "app"]])
def test_image_commands_take_repository_type(command):
    parser = build_parser(command[0])
    assert parser.parse_args(command).repository_type == "free"
    assert parser.parse_args([*command, "--repository-type", "premium"]).repository_type == "premium"


def test_pull_has_no_repository_type():
    with pytest.raises(UsageError, match="unrecognized arguments: --repository-type"):
        build_parser("pull").parse_args(["pull", "docker://h.io/r:1", "oci:/x", "--repository-type", "premium"])


def test_premium_commands_parse():
    parser = build_parser("premium")
    args = parser.parse_args(["premium", "create", "app", "--product", "prod-1", "--product", "prod-2",
                              "--category", "ai-ml", "--description", "d"])
    assert args.product == ["prod-1", "prod-2"] and args.category == ["ai-ml"]
    assert parser.parse_args(["premium", "state", "app", "AVAILABLE"]).state == "available"
    args = parser.parse_args(["premium", "deprecate", "app", "v1", "--days", "120"])
    assert (args.repository, args.image, args.days) == ("app", "v1", 120)
    assert parser.parse_args(["premium", "reports", "download", "r1", "-o", "f.gz"]).output == "f.gz"
    assert parser.parse_args(["premium", "policy", "set", "app", "p.json", "--force"]).force
    assert parser.parse_args(["premium", "associate", "app", "--free", "other"]).free == "other"
    with pytest.raises(UsageError, match="--product"):
        parser.parse_args(["premium", "create", "app"])
    with pytest.raises(UsageError, match="--days"):
        parser.parse_args(["premium", "deprecate", "app", "v1"])
    assert build_parser("entitled").parse_args(["entitled", "tags", "pub/app"]).repository == "pub/app"


def test_repository_type_values():
    assert [repository_type(v) for v in (None, "free", "FREE", "premium", " Premium ")] == \
        ["FREE", "FREE", "FREE", "PREMIUM", "PREMIUM"]
    with pytest.raises(UsageError, match="choose free or premium"):
        repository_type("paid")


def test_categories():
    assert parse_categories(["ai-ml", "Base_Images", "STREAMING"]) == ["AI_ML", "BASE_IMAGES", "STREAMING"]
    for bad, why in ((["games"], "unknown category"), (["ai-ml", "AI_ML"], "twice"),
                     (["ai-ml", "databases", "security", "networking"], "at most 3")):
        with pytest.raises(UsageError, match=why):
            parse_categories(bad)


# -- usage errors: premium only where it means something ----------------------------------------
@pytest.mark.parametrize("destination, options, message", [
    ("localhost:5000/app:1", {}, "only to ECR Public destinations"),
    ("123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1", {}, "only to ECR Public destinations"),
    ("oci:{tmp}/out:1", {}, "not an OCI layout"),
    ("public.ecr.aws/a1/app:1", {"create_repository": True}, "pypush premium create app --product ID"),
    ("public.ecr.aws/a1/app:1", {"repository_type": "gold"}, "choose free or premium"),
])
def test_premium_usage_errors(tmp_path, destination, options, message):
    opts = {"repository_type": "premium", **options}
    with pytest.raises(UsageError, match=message) as info:
        api.push(str(FIXTURES / "small.oci"), destination.format(tmp=tmp_path), **opts)
    assert info.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_the_aws_spelling_is_accepted_once():
    assert api.merge_options(None, {"repositoryType": "premium"}).repository_type == "premium"
    with pytest.raises(UsageError, match="not both"):
        api.merge_options(None, {"repositoryType": "premium", "repository_type": "free"})


def test_premium_transport_refuses_private_ecr():
    with pytest.raises(UsageError, match="only on ECR Public"):
        EcrTransport(parse_destination("123456789012.dkr.ecr.us-west-2.amazonaws.com/app"),
                     endpoint_url="http://127.0.0.1:9", repository_type="premium")


# -- the push requests ----------------------------------------------------------------------------
class _Recorder:
    """Stands in for the transport's API clients: answers the push calls as the service would and records
    every request (UploadLayerPart's hand-built body parsed back)."""

    def __init__(self):
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.parts: Dict[str, int] = {}

    def call(self, operation: str, params: Dict[str, Any]) -> Dict[str, Any]:
        self.calls.append((operation, json.loads(json.dumps(params))))
        if operation == "BatchCheckLayerAvailability":
            return {"layers": [], "failures": []}
        if operation == "InitiateLayerUpload":
            return {"uploadId": f"u{len(self.calls)}", "partSize": 1 << 20}
        if operation == "CompleteLayerUpload":
            return {"layerDigest": params["layerDigests"][0]}
        if operation == "PutImage":
            return {"image": {"imageId": {"imageDigest": params["imageDigest"]}}}
        if operation in ("DescribeImages", "DescribePremiumRepositories", "DescribeRepositories"):
            return {"imageDetails": [], "repositories": [{"repositoryName": params.get("repositoryNames", [""])[0]}]}
        if operation == "DescribeRegistries":  # the tag question first checks the alias is the caller's
            return {"registries": [{"registryId": "123456789012", "aliases": [{"name": "a1"}]}]}
        raise AssertionError(f"unexpected {operation}")

    def send(self, operation: str, pieces: Any, sha256: str, length: int) -> Dict[str, Any]:
        body = b"".join(bytes(p) for p in pieces)
        assert len(body) == length and sha256_digest(body) == f"sha256:{sha256}"
        params = json.loads(body)
        self.calls.append((operation, params))
        return {"lastByteReceived": params["partLastByte"]}

    def clone(self) -> "_Recorder":
        return self

    def close(self) -> None:
        pass


def _push_with_recorder(monkeypatch, kind: str) -> _Recorder:
    from pypush.sources import open_source

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPYPUSHTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    transport = EcrTransport(parse_destination("public.ecr.aws/a1/app:1"), endpoint_url="http://127.0.0.1:9",
                             repository_type=kind)
    recorder = _Recorder()
    transport.api = transport._parts = recorder
    transport.prepare(False)
    transport.tag_digests(["1"])
    with open_source(str(FIXTURES / "small.oci")) as src:
        engine.push(src.root, transport, ["1"], repository="public.ecr.aws/a1/app", jobs=2)
    transport.close()
    return recorder


def test_every_premium_push_call_carries_the_repository_type(monkeypatch):
    recorder = _push_with_recorder(monkeypatch, "premium")
    seen = {op for op, _ in recorder.calls}
    assert set(PUSH_CALLS) <= seen and "DescribePremiumRepositories" in seen and "DescribeRepositories" not in seen
    for operation, params in recorder.calls:
        if operation == "UploadLayerPart":
            params = dict(params, layerPartBlob=b"")  # the model's blob member, sent as base64 text
        valid(operation, params)
        if operation in (*PUSH_CALLS, "DescribeImages"):
            assert params["repositoryType"] == "PREMIUM" and params["repositoryName"] == "app", operation
        if operation in PUSH_CALLS:  # they take the alias (Describe* only an account id)
            assert params["registryId"] == "a1", operation


def test_free_push_calls_leave_the_type_out(monkeypatch):
    recorder = _push_with_recorder(monkeypatch, "free")
    assert {op for op, _ in recorder.calls} >= {*PUSH_CALLS, "DescribeRepositories"}
    assert all("repositoryType" not in params for _, params in recorder.calls)


def test_missing_premium_repository_names_the_command(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPYPUSHTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    transport = EcrTransport(parse_destination("public.ecr.aws/a1/app:1"), endpoint_url="http://127.0.0.1:9",
                             repository_type="premium")

    def call(operation, params):
        assert operation == "DescribePremiumRepositories" and params == {"repositoryNames": ["app"]}
        raise AwsApiError(400, "RepositoryNotFoundException", "no such repository")
    transport.api.call = call
    with pytest.raises(RegistryError, match="pypush premium create app --product ID") as info:
        transport.prepare(False)
    assert info.value.exit_code == 4 and info.value.code == "RepositoryNotFoundException"


def test_the_light_tag_probe_asks_the_premium_repository():
    ids = {"repositoryName": "app", "registryId": "a1", "repositoryType": "PREMIUM"}
    operation, body = ecr_tag_probe.tag_query("ecr-public", ids, ["1", "2"])
    assert operation == "DescribeImages" and body["repositoryType"] == "PREMIUM" and "registryId" not in body
    valid(operation, body)


# -- the premium registry host ---------------------------------------------------------------------
def _stubbed() -> Tuple[Any, Stubber]:
    from pypush.net import aws

    client = aws.make_client("ecr-public", "us-east-1", "http://127.0.0.1:9", aws.make_session(), max_attempts=1)
    return client, Stubber(client)


def test_premium_host_comes_from_the_service():
    dest = parse_destination("public.ecr.aws/a1/app:1")
    client, stub = _stubbed()
    stub.add_response("describe_premium_repositories", {"repositories": [
        {"repositoryName": "app", "repositoryUri": "premium.example:5000/a1/app"}]}, {"repositoryNames": ["app"]})
    with stub:
        assert premium_repository_uri(dest, client=client) == "premium.example:5000/a1/app"
    client, stub = _stubbed()  # no repositoryUri: the registry's premiumRegistryUri
    stub.add_response("describe_premium_repositories", {"repositories": [{"repositoryName": "app"}]})
    stub.add_response("describe_registries", {"registries": [
        {"registryId": "123456789012", "registryArn": "arn", "registryUri": "public.ecr.aws/a1", "verified": True,
         "aliases": [{"name": "a1", "status": "ACTIVE", "primaryRegistryAlias": True, "defaultRegistryAlias": True}],
         "premiumStatus": "ENABLED", "premiumRegistryUri": "p.example/a1"}]})
    with stub:
        assert premium_repository_uri(dest, client=client) == "p.example/a1/app"
    client, stub = _stubbed()
    stub.add_client_error("describe_premium_repositories", "RepositoryNotFoundException", "none")
    with stub, pytest.raises(RegistryError, match="pypush premium create app"):
        premium_repository_uri(dest, client=client)
    assert split_uri("https://p.example:443/a1/app/") == ("p.example:443", "a1/app")
    with pytest.raises(RegistryError, match="expected HOST/PATH"):
        split_uri("p.example")


# -- the management client's requests ------------------------------------------------------------
@pytest.fixture
def stubbed_registry():
    from pypush.net import aws

    client = aws.make_client("ecr-public", "us-east-1", "http://127.0.0.1:9", aws.make_session(), max_attempts=1)
    stub = Stubber(client)
    with stub:
        yield ECRPublic(client=client), stub
    stub.assert_no_pending_responses()


NOW = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
PREMIUM = {"repositoryName": "app", "repositoryUri": "p.example/a1/app", "repositoryArn": "arn:aws:ecr-public::1:x",
           "registryId": "123456789012", "createdAt": NOW, "state": "DRAFT", "marketplaceProducts": ["prod-1"],
           "associatedRepositories": [{"repositoryName": "app", "repositoryType": "FREE"}]}


def test_premium_repository_requests(stubbed_registry):
    registry, stub = stubbed_registry
    stub.add_response("create_premium_repository", {"premiumRepository": PREMIUM}, {
        "repositoryName": "app", "marketplaceProducts": ["prod-1"],
        "catalogData": {"description": "d", "categories": ["AI_ML"]}, "tags": [{"Key": "k", "Value": "v"}]})
    repo = registry.create_premium_repository("app", ["prod-1"], {"description": "d", "categories": ["AI_ML"]},
                                              {"k": "v"})
    assert (repo.state, repo.products, repo.associated[0].repository_type) == ("DRAFT", ("prod-1",), "FREE")
    stub.add_response("set_repository_state", {"repositoryName": "app", "state": "AVAILABLE"},
                      {"repositoryName": "app", "repositoryType": "PREMIUM", "state": "AVAILABLE"})
    assert registry.set_repository_state("app", "available").state == "AVAILABLE"
    stub.add_response("put_premium_repository_products", {"marketplaceProducts": ["prod-1", "prod-2"]},
                      {"repositoryName": "app", "marketplaceProducts": ["prod-1", "prod-2"]})
    assert registry.set_products("app", ["prod-1", "prod-2"]).products == ("prod-1", "prod-2")
    stub.add_response("associate_repositories", {"repositoryName": "app", "repositoryType": "PREMIUM",
                                                 "associatedRepositoryName": "free-app",
                                                 "associatedRepositoryType": "FREE"},
                      {"repositoryName": "app", "repositoryType": "PREMIUM", "associatedRepositoryName": "free-app",
                       "associatedRepositoryType": "FREE"})
    assert registry.associate("app", "free-app").associated_repository == "free-app"
    for products, why in (([], "1 to 5"), (["a"] * 2, "twice"), (["p"] * 6, "1 to 5"), (["bad id"], "invalid")):
        with pytest.raises(UsageError, match=why):
            registry.create_premium_repository("app", products)


def test_image_status_requests(stubbed_registry):
    registry, stub = stubbed_registry
    digest = "sha256:" + "a" * 64
    stub.add_response("set_image_status", {"repositoryName": "app", "imageId": {"imageDigest": digest},
                                           "status": "DEPRECATED", "scheduledDeletionAt": NOW},
                      {"repositoryName": "app", "repositoryType": "PREMIUM", "imageId": {"imageTag": "v1"},
                       "status": "DEPRECATED", "deprecationPeriodDays": 90})
    change = registry.deprecate_image("app", "v1", 90)
    assert (change.status, change.image.digest, change.scheduled_deletion_at) == ("DEPRECATED", digest, NOW)
    stub.add_response("set_image_status", {"status": "ACTIVE"}, {
        "repositoryName": "app", "repositoryType": "PREMIUM", "imageId": {"imageDigest": digest}, "status": "ACTIVE"})
    assert registry.reactivate_image("app", digest).scheduled_deletion_at is None
    for days in (89, 366):
        with pytest.raises(UsageError, match="90 to 365"):
            registry.deprecate_image("app", "v1", days)
    stub.add_response("describe_images", {"imageDetails": [{"imageDigest": digest, "imageStatus": "DEPRECATED",
                                                            "scheduledDeletionAt": NOW, "repositoryType": "PREMIUM",
                                                            "subjectManifestDigest": "sha256:" + "b" * 64}]},
                      {"repositoryName": "app", "repositoryType": "PREMIUM"})
    image = registry.list_images("app", repository_type="premium")[0]
    assert (image.status, image.scheduled_deletion_at) == ("DEPRECATED", NOW)
    assert image.subject_digest == "sha256:" + "b" * 64
    stub.add_response("batch_delete_image", {"imageIds": [{"imageTag": "v1"}], "failures": []},
                      {"repositoryName": "app", "repositoryType": "PREMIUM", "imageIds": [{"imageTag": "v1"}]})
    assert registry.delete_images(["app:v1"], repository_type="premium").ok
    stub.add_response("describe_image_tags", {"imageTagDetails": []}, {"repositoryName": "app"})
    assert registry.list_tags("app", repository_type="free") == []


def test_findings_reports_and_entitlements_requests(stubbed_registry):
    registry, stub = stubbed_registry
    finding = {"findingId": "f1", "severity": "HIGH", "title": "CVE-1", "fixAvailable": "YES",
               "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-1",
                                               "vulnerablePackages": [{"name": "openssl", "version": "3.0"}]}}
    stub.add_response("describe_image_scan_findings", {
        "imageScanStatus": {"status": "ACTIVE"}, "imageId": {"imageTag": "v1"}, "nextToken": "t",
        "imageScanFindings": {"findingSeverityCounts": {"HIGH": 2}, "findings": [finding]}},
        {"repositoryName": "app", "repositoryType": "PREMIUM", "imageId": {"imageTag": "v1"}})
    stub.add_response("describe_image_scan_findings", {
        "imageScanStatus": {"status": "ACTIVE"}, "imageScanFindings": {"findings": [dict(finding, findingId="f2")]}},
        {"repositoryName": "app", "repositoryType": "PREMIUM", "imageId": {"imageTag": "v1"}, "nextToken": "t"})
    found = registry.scan_findings("app", "v1")
    assert [f.finding_id for f in found.findings] == ["f1", "f2"] and found.severity_counts == {"HIGH": 2}
    assert found.findings[0].package == "openssl 3.0"
    report = {"reportId": "r1", "reportType": "SUMMARY", "granularity": "WEEKLY", "sizeInBytes": 10,
              "period": {"startDate": "2026-11-30", "endDate": "2026-12-06"}, "createdAt": NOW}
    stub.add_response("list_publisher_reports", {"reports": [report]}, {"reportType": "SUMMARY"})
    assert registry.list_publisher_reports("summary")[0].start == "2026-11-30"
    entitled = {"registryAlias": "pub", "repositoryName": "app", "repositoryUri": "p/pub/app", "state": "AVAILABLE",
                "entitledViaProductId": "prod-1"}
    stub.add_response("describe_entitled_repositories", {"repositories": [entitled, entitled]}, {})
    assert len(registry.list_entitled_repositories()) == 1  # repeats across pages are one repository
    stub.add_response("describe_entitled_image_tags", {"imageTagDetails": [{"imageTag": "v1", "imageDetail": {
        "imageDigest": "sha256:" + "c" * 64, "imageStatus": "ACTIVE"}}]},
        {"registryAlias": "pub", "repositoryName": "app"})
    assert registry.list_entitled_tags("public.ecr.aws/pub/app")[0].status == "ACTIVE"
    with pytest.raises(UsageError, match="ALIAS/REPO"):
        registry.list_entitled_images("app")
    with pytest.raises(UsageError, match="summary or trends"):
        registry.list_publisher_reports("daily")


def test_registry_catalog_requests(stubbed_registry, tmp_path):
    registry, stub = stubbed_registry
    logo = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    stub.add_response("put_registry_catalog_data", {"registryCatalogData": {"description": "d", "logoUrl": "u"}},
                      {"description": "d", "logoImageBlob": logo})
    data = registry.put_registry_catalog_data(description="d", logo=logo)
    assert (data.description, data.logo_url) == ("d", "u")
    with pytest.raises(UsageError, match="nothing to set"):
        registry.put_registry_catalog_data()


# -- referrers go after their subjects ------------------------------------------------------------
def _manifest(doc: Dict[str, Any]) -> ImageManifest:
    raw = json.dumps(doc).encode()
    empty = Descriptor("application/vnd.oci.empty.v1+json", sha256_digest(b"{}"), 2)
    from pypush.image.model import Blob

    return ImageManifest(Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw)), raw,
                         Blob(empty, lambda: __import__("io").BytesIO(b"{}")), [])


def test_referrers_follow_their_subject_and_children_their_parents():
    config = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(b"{}"), "size": 2}
    image = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []})
    subject = image.descriptor.to_json()
    sbom = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
                      "config": config, "layers": [], "subject": subject})
    signature = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/sig",
                           "config": config, "layers": [], "subject": sbom.descriptor.to_json()})
    inner_raw = json.dumps({"schemaVersion": 2, "manifests": [signature.descriptor.to_json()]}).encode()
    inner = ImageIndex(Descriptor("application/vnd.oci.image.index.v1+json", sha256_digest(inner_raw),
                                  len(inner_raw)), inner_raw, [signature])
    raw = json.dumps({"schemaVersion": 2, "manifests": [d.descriptor.to_json() for d in (inner, sbom, image)]}).encode()
    root = ImageIndex(Descriptor("application/vnd.oci.image.index.v1+json", sha256_digest(raw), len(raw)), raw,
                      [inner, sbom, image])
    order = [n.descriptor.digest for n in walk(root)]
    assert order == [image.descriptor.digest, sbom.descriptor.digest, signature.descriptor.digest,
                     inner.descriptor.digest, root.descriptor.digest]

    put: List[str] = []

    class Manifests:
        repository, stats = "app", {}

        def missing(self, digests):
            return set()

        def put_manifest(self, raw, media_type, digest, tags):
            put.append(digest)

    engine.push(root, Manifests(), ["1"])  # type: ignore[arg-type]
    assert put == order


@pytest.mark.parametrize("argv", [
    ["mutate", str(FIXTURES / "small.oci"), "oci:{tmp}/out:1", "--env", "A=1", "--repository-type", "premium"],
    ["append", "--base", str(FIXTURES / "small.oci"), "--layer", str(FIXTURES / "README.md"),
     "localhost:5000/app:1", "--repository-type", "premium"],
    ["copy", str(FIXTURES / "small.oci"), "oci-archive:{tmp}/out.tar", "--repository-type", "premium"]])
def test_builds_and_copies_refuse_premium_outside_ecr_public_before_any_work(tmp_path, capsys, argv):
    from pypush.cli.main import main

    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "--repository-type premium applies only to ECR Public destinations" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_premium_errors_name_the_premium_fix():
    from pypush.net.aws_errors import translate

    missing = AwsApiError(400, "RepositoryNotFoundException", "not found")
    assert "pypush premium create REPO" in str(translate(missing, "SetRepositoryState premium repository app"))
    assert "pypush premium create" not in str(translate(missing, "DescribeImages app"))
    refused = translate(AwsApiError(400, "DeletionNotAllowedException", "published"), "BatchDeleteImage app")
    assert refused.exit_code == 4 and "pypush premium deprecate" in str(refused)


def test_the_botocore_path_sends_the_type_too(monkeypatch):
    """Credentials only botocore resolves (a profile, SSO, a role): the same members through botocore's client,
    which validates them against the pinned model."""
    from pypush.transports.ecr import ecr_transport

    monkeypatch.setattr(ecr_transport, "env_credentials", lambda *a: None)
    transport = EcrTransport(parse_destination("public.ecr.aws/a1/app:1"), endpoint_url="http://127.0.0.1:9",
                             repository_type="premium")
    assert type(transport.api).__name__ == "BotocoreApi"
    digest = "sha256:" + "d" * 64
    with Stubber(transport.api.client) as stub:
        stub.add_response("describe_premium_repositories", {"repositories": []}, {"repositoryNames": ["app"]})
        stub.add_response("batch_check_layer_availability", {"layers": [], "failures": []}, {
            "repositoryName": "app", "registryId": "a1", "repositoryType": "PREMIUM", "layerDigests": [digest]})
        stub.add_response("initiate_layer_upload", {"uploadId": "u", "partSize": 5 << 20}, {
            "repositoryName": "app", "registryId": "a1", "repositoryType": "PREMIUM"})
        transport.prepare(False)
        assert transport.missing([digest]) == {digest}
        transport._call("InitiateLayerUpload", "InitiateLayerUpload", **transport._ids())
        stub.assert_no_pending_responses()
    transport.close()
