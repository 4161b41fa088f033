"""The premium operations through the AWS CLI v1 (pip's awscli, on pypush's pinned models via AWS_DATA_PATH)
against `python -m pypush.server` with its premium flags: every operation, the state machine's edges, the
errors, and a deprecation deleting its image once the server runs with a later --clock-offset."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from aws_cli import AwsCli
from endpoint_client import client, push_image, sha
from endpoint_process import start_server, url_of

pytestmark = pytest.mark.servers  # the AWS CLI starts slowly: not in CI's edge runs
DAY = 24 * 3600


class Served:
    """`python -m pypush.server` on one data directory, one process at a time."""

    def __init__(self, tmp) -> None:
        self.tmp = tmp
        self.proc: Optional[subprocess.Popen] = None

    def __call__(self, *flags: str) -> AwsCli:
        self.stop()
        self.proc = start_server(self.tmp / "data", *flags)
        return AwsCli(SimpleNamespace(url=url_of(self.proc)), self.tmp)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=15) == 0


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path)
    yield server
    server.stop()


def test_every_premium_repository_operation_through_the_aws_cli(served, tmp_path):
    aws = served("--owned-products", "prod-a,prod-b,prod-c")
    registry = aws.call("describe-registries")["registries"][0]
    assert registry["premiumStatus"] == "ENABLED" and registry["premiumRegistryUri"].endswith("/local")
    created = aws.call("create-premium-repository", "--repository-name", "paid/app", "--marketplace-products", "prod-a",
                  "--catalog-data", "description=paid image", "--tags", "Key=team,Value=a")
    assert created["premiumRepository"]["state"] == "DRAFT"
    assert created["premiumRepository"]["repositoryUri"] == registry["premiumRegistryUri"] + "/paid/app"
    assert aws.error("create-premium-repository", "--repository-name", "paid/app", "--marketplace-products",
                     "prod-a", code="RepositoryAlreadyExistsException")
    assert "product ownership" in aws.error("create-premium-repository", "--repository-name", "x2",
                                            "--marketplace-products", "someone-elses", code="InvalidParameterException")
    assert aws.error("create-premium-repository", "--repository-name", "x2", "--marketplace-products",
                     "prod-a", "prod-a", code="InvalidParameterException")
    listed = aws.call("describe-premium-repositories")["repositories"]
    assert [r["repositoryName"] for r in listed] == ["paid/app"]
    assert aws.error("describe-premium-repositories", "--repository-names", "nope", code="RepositoryNotFoundException")
    # Products: replaced in DRAFT.
    assert aws.call("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products",
               "prod-b")["marketplaceProducts"] == ["prod-b"]
    # Catalog data: partial updates; RCDNF before any.
    aws.call("create-premium-repository", "--repository-name", "bare", "--marketplace-products", "prod-a")
    assert aws.error("get-premium-repository-catalog-data", "--repository-name",
                     "bare", code="RepositoryCatalogDataNotFoundException")
    aws.call("put-premium-repository-catalog-data", "--repository-name", "paid/app", "--catalog-data", "usageText=run")
    data = aws.call("get-premium-repository-catalog-data", "--repository-name", "paid/app")["catalogData"]
    assert (data["description"], data["usageText"]) == ("paid image", "run")
    # Policies.
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    assert aws.error("get-premium-repository-policy", "--repository-name",
                     "paid/app", code="RepositoryPolicyNotFoundException")
    aws.call("set-premium-repository-policy", "--repository-name", "paid/app", "--policy-text", policy)
    assert aws.call("get-premium-repository-policy", "--repository-name", "paid/app")["policyText"] == policy
    assert aws.call("delete-premium-repository-policy", "--repository-name", "paid/app")["policyText"] == policy
    # Associations.
    aws.call("create-repository", "--repository-name", "paid/app")
    pair = ["--repository-name", "paid/app", "--repository-type", "FREE", "--associated-repository-name", "paid/app",
            "--associated-repository-type", "PREMIUM"]
    assert aws.call("associate-repositories", *pair)["associatedRepositoryType"] == "PREMIUM"
    assert aws.error("associate-repositories", *pair, code="AssociationAlreadyExistsException")
    assert aws.call("describe-repositories")["repositories"][0]["associatedRepositories"] == \
        [{"repositoryName": "paid/app", "repositoryType": "PREMIUM"}]
    aws.call("disassociate-repositories", *pair)
    assert aws.error("disassociate-repositories", *pair, code="AssociationNotFoundException")
    same = [*pair[:-1], "FREE"]
    assert aws.error("associate-repositories", *same, code="InvalidParameterException")
    # The state machine's edges.
    state = ["set-repository-state", "--repository-name", "paid/app", "--repository-type", "PREMIUM", "--state"]
    assert aws.error(*state, "HIDDEN", code="InvalidParameterException")
    assert aws.call(*state, "DRAFT")["state"] == "DRAFT"
    assert aws.call(*state, "AVAILABLE")["state"] == "AVAILABLE"
    assert aws.call(*state, "HIDDEN")["state"] == "HIDDEN"
    assert aws.error(*state, "DRAFT", code="InvalidParameterException")
    assert aws.call(*state, "AVAILABLE")["state"] == "AVAILABLE"
    assert aws.error("set-repository-state", "--repository-name", "paid/app", "--repository-type", "FREE",
                     "--state", "AVAILABLE", code="InvalidParameterException")
    assert aws.error(*state, "LIVE", code="InvalidParameterException")
    # After DRAFT products only grow.
    assert aws.error("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products",
                     "prod-c", code="InvalidParameterException")
    aws.call("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products", "prod-b",
             "prod-c")
    # Deletion.
    deleted = aws.call("delete-premium-repository", "--repository-name", "bare")["premiumRepository"]
    assert set(deleted) == {"registryId", "repositoryName", "repositoryArn", "repositoryUri", "createdAt"}
    assert aws.error("delete-premium-repository", "--repository-name", "bare", code="RepositoryNotFoundException")


def test_image_status_and_a_later_clock_through_the_aws_cli(served, tmp_path):
    aws = served()
    aws.call("create-premium-repository", "--repository-name", "app", "--marketplace-products", "prod")
    c = client(SimpleNamespace(url=aws.endpoint.url))
    text = push_image(PremiumClient(c), "app", [b"layer bytes"], tag="v1")
    digest = sha(text.encode())
    images = aws.call("describe-images", "--repository-name", "app", "--repository-type", "PREMIUM")["imageDetails"]
    assert [(i["imageDigest"], i["imageStatus"], i["repositoryType"]) for i in images] == \
        [(digest, "ACTIVE", "PREMIUM")]
    assert aws.error("describe-images", "--repository-name", "app", code="RepositoryNotFoundException")  # FREE
    status = ["set-image-status", "--repository-name", "app", "--repository-type", "PREMIUM", "--image-id",
              "imageTag=v1", "--status"]
    assert aws.error(*status, "DEPRECATED", "--deprecation-period-days", "90", code="ValidationException")  # DRAFT
    aws.call("set-repository-state", "--repository-name", "app", "--repository-type", "PREMIUM", "--state", "AVAILABLE")
    assert aws.error("batch-delete-image", "--repository-name", "app", "--repository-type", "PREMIUM",
                     "--image-ids", "imageTag=v1", code="DeletionNotAllowedException")
    assert aws.error(*status, "DEPRECATED", code="InvalidParameterException")
    assert aws.error(*status, "DEPRECATED", "--deprecation-period-days", "366", code="InvalidParameterException")
    assert aws.error(*status, "ACTIVE", "--deprecation-period-days", "90", code="InvalidParameterException")
    out = aws.call(*status, "DEPRECATED", "--deprecation-period-days", "90")
    assert out["status"] == "DEPRECATED" and out["imageId"]["imageDigest"] == digest
    tags = aws.call("describe-image-tags", "--repository-name", "app", "--repository-type", "PREMIUM")[
        "imageTagDetails"]
    assert tags[0]["imageDetail"]["imageStatus"] == "DEPRECATED" and tags[0]["imageDetail"]["scheduledDeletionAt"]
    assert aws.call(*status, "ACTIVE")["status"] == "ACTIVE"
    aws.call(*status, "DEPRECATED", "--deprecation-period-days", "90")
    # The same data, served with the clock 89 days on: still there; 91 days on: deleted.
    for offset, left in ((89, 1), (91, 0)):
        aws = served("--clock-offset", str(offset * DAY))
        assert len(aws.call("describe-images", "--repository-name", "app", "--repository-type", "PREMIUM")[
            "imageDetails"]) == left
    assert aws.call("delete-premium-repository", "--repository-name", "app")["premiumRepository"][
        "repositoryName"] == "app"


class PremiumClient:
    """A boto3 client whose push calls carry repositoryType=PREMIUM (for endpoint_client.push_image)."""

    def __init__(self, c: Any):
        self.c = c

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.c, name)
        return lambda **kw: call(repositoryType="PREMIUM", **kw)


def test_bad_premium_flags_are_usage_errors(tmp_path):
    for flags, named in ((["--premium-port", "70000"], "--premium-port 70000"),
                         (["--clock-offset", "soon"], "--clock-offset"),
                         (["--premium-port", "x"], "--premium-port")):
        proc = subprocess.run([sys.executable, "-m", "pypush.server", "--data", str(tmp_path / "d"), *flags],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and named in proc.stderr and proc.stdout == "", (flags, proc.stderr)
    assert not (tmp_path / "d" / "metadata.sqlite3").exists()  # nothing half-made
