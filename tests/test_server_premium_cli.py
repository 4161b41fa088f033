"""The premium operations through the AWS CLI v1 (pip's awscli, on pypush's pinned models via AWS_DATA_PATH)
against `python -m pypush.server` with its premium flags: every operation, the state machine's edges, the
errors, and a deprecation deleting its image once the server runs with a later --clock-offset."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from endpoint_client import client, push_image, sha
from endpoint_process import start_server, url_of
from pypush import apimodels

pytestmark = pytest.mark.servers  # the AWS CLI starts slowly: not in CI's edge runs
DAY = 24 * 3600


class Aws:
    """`aws ecr-public ...` (AWS CLI v1) against one endpoint URL."""

    def __init__(self, url: str, home):
        self.url = url
        self.env = {**os.environ, "AWS_DATA_PATH": str(apimodels.DATA_DIR), "AWS_ACCESS_KEY_ID": "x",
                    "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
                    "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "creds"),
                    "HOME": str(home)}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "awscli", "ecr-public", *args, "--endpoint-url", self.url, "--output", "json"]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=120)

    def __call__(self, *args: str) -> Any:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def error(self, *args: str) -> str:
        """The error code of a call that must fail (the CLI's exit code 254/255 and its message)."""
        proc = self.run(*args)
        assert proc.returncode != 0 and "An error occurred (" in proc.stderr, proc.stderr
        return proc.stderr.split("An error occurred (", 1)[1].split(")", 1)[0]


class Served:
    """`python -m pypush.server` on one data directory, one process at a time."""

    def __init__(self, tmp) -> None:
        self.tmp = tmp
        self.proc: Optional[subprocess.Popen] = None

    def __call__(self, *flags: str) -> Aws:
        self.stop()
        self.proc = start_server(self.tmp / "data", *flags)
        return Aws(url_of(self.proc), self.tmp)

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
    registry = aws("describe-registries")["registries"][0]
    assert registry["premiumStatus"] == "ENABLED" and registry["premiumRegistryUri"].endswith("/local")
    created = aws("create-premium-repository", "--repository-name", "paid/app", "--marketplace-products", "prod-a",
                  "--catalog-data", "description=paid image", "--tags", "Key=team,Value=a")
    assert created["premiumRepository"]["state"] == "DRAFT"
    assert created["premiumRepository"]["repositoryUri"] == registry["premiumRegistryUri"] + "/paid/app"
    assert aws.error("create-premium-repository", "--repository-name", "paid/app", "--marketplace-products",
                     "prod-a") == "RepositoryAlreadyExistsException"
    assert aws.error("create-premium-repository", "--repository-name", "x2", "--marketplace-products",
                     "someone-elses") == "InvalidParameterException"
    assert aws.error("create-premium-repository", "--repository-name", "x2", "--marketplace-products",
                     "prod-a", "prod-a") == "InvalidParameterException"
    listed = aws("describe-premium-repositories")["repositories"]
    assert [r["repositoryName"] for r in listed] == ["paid/app"]
    assert aws.error("describe-premium-repositories", "--repository-names", "nope") == "RepositoryNotFoundException"
    # Products: replaced in DRAFT.
    assert aws("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products",
               "prod-b")["marketplaceProducts"] == ["prod-b"]
    # Catalog data: partial updates; RCDNF before any.
    aws("create-premium-repository", "--repository-name", "bare", "--marketplace-products", "prod-a")
    assert aws.error("get-premium-repository-catalog-data", "--repository-name",
                     "bare") == "RepositoryCatalogDataNotFoundException"
    aws("put-premium-repository-catalog-data", "--repository-name", "paid/app", "--catalog-data", "usageText=run")
    data = aws("get-premium-repository-catalog-data", "--repository-name", "paid/app")["catalogData"]
    assert (data["description"], data["usageText"]) == ("paid image", "run")
    # Policies.
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    assert aws.error("get-premium-repository-policy", "--repository-name",
                     "paid/app") == "RepositoryPolicyNotFoundException"
    aws("set-premium-repository-policy", "--repository-name", "paid/app", "--policy-text", policy)
    assert aws("get-premium-repository-policy", "--repository-name", "paid/app")["policyText"] == policy
    assert aws("delete-premium-repository-policy", "--repository-name", "paid/app")["policyText"] == policy
    # Associations.
    aws("create-repository", "--repository-name", "paid/app")
    pair = ["--repository-name", "paid/app", "--repository-type", "FREE", "--associated-repository-name", "paid/app",
            "--associated-repository-type", "PREMIUM"]
    assert aws("associate-repositories", *pair)["associatedRepositoryType"] == "PREMIUM"
    assert aws.error("associate-repositories", *pair) == "AssociationAlreadyExistsException"
    assert aws("describe-repositories")["repositories"][0]["associatedRepositories"] == \
        [{"repositoryName": "paid/app", "repositoryType": "PREMIUM"}]
    aws("disassociate-repositories", *pair)
    assert aws.error("disassociate-repositories", *pair) == "AssociationNotFoundException"
    same = [*pair[:-1], "FREE"]
    assert aws.error("associate-repositories", *same) == "InvalidParameterException"
    # The state machine's edges.
    state = ["set-repository-state", "--repository-name", "paid/app", "--repository-type", "PREMIUM", "--state"]
    assert aws.error(*state, "HIDDEN") == "InvalidParameterException"
    assert aws(*state, "DRAFT")["state"] == "DRAFT"
    assert aws(*state, "AVAILABLE")["state"] == "AVAILABLE"
    assert aws(*state, "HIDDEN")["state"] == "HIDDEN"
    assert aws.error(*state, "DRAFT") == "InvalidParameterException"
    assert aws(*state, "AVAILABLE")["state"] == "AVAILABLE"
    assert aws.error("set-repository-state", "--repository-name", "paid/app", "--repository-type", "FREE",
                     "--state", "AVAILABLE") == "InvalidParameterException"
    assert aws.error(*state, "LIVE") == "InvalidParameterException"
    # After DRAFT products only grow.
    assert aws.error("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products",
                     "prod-c") == "InvalidParameterException"
    aws("put-premium-repository-products", "--repository-name", "paid/app", "--marketplace-products", "prod-b",
        "prod-c")
    # Deletion.
    deleted = aws("delete-premium-repository", "--repository-name", "bare")["premiumRepository"]
    assert set(deleted) == {"registryId", "repositoryName", "repositoryArn", "repositoryUri", "createdAt"}
    assert aws.error("delete-premium-repository", "--repository-name", "bare") == "RepositoryNotFoundException"


def test_image_status_and_a_later_clock_through_the_aws_cli(served, tmp_path):
    aws = served()
    aws("create-premium-repository", "--repository-name", "app", "--marketplace-products", "prod")
    c = client(SimpleNamespace(url=aws.url))
    text = push_image(PremiumClient(c), "app", [b"layer bytes"], tag="v1")
    digest = sha(text.encode())
    images = aws("describe-images", "--repository-name", "app", "--repository-type", "PREMIUM")["imageDetails"]
    assert [(i["imageDigest"], i["imageStatus"], i["repositoryType"]) for i in images] == [(digest, "ACTIVE", "PREMIUM")]
    assert aws.error("describe-images", "--repository-name", "app") == "RepositoryNotFoundException"  # FREE
    status = ["set-image-status", "--repository-name", "app", "--repository-type", "PREMIUM", "--image-id",
              "imageTag=v1", "--status"]
    assert aws.error(*status, "DEPRECATED", "--deprecation-period-days", "90") == "ValidationException"  # DRAFT
    aws("set-repository-state", "--repository-name", "app", "--repository-type", "PREMIUM", "--state", "AVAILABLE")
    assert aws.error("batch-delete-image", "--repository-name", "app", "--repository-type", "PREMIUM",
                     "--image-ids", "imageTag=v1") == "DeletionNotAllowedException"
    assert aws.error(*status, "DEPRECATED") == "InvalidParameterException"
    assert aws.error(*status, "DEPRECATED", "--deprecation-period-days", "366") == "InvalidParameterException"
    assert aws.error(*status, "ACTIVE", "--deprecation-period-days", "90") == "InvalidParameterException"
    out = aws(*status, "DEPRECATED", "--deprecation-period-days", "90")
    assert out["status"] == "DEPRECATED" and out["imageId"]["imageDigest"] == digest
    tags = aws("describe-image-tags", "--repository-name", "app", "--repository-type", "PREMIUM")["imageTagDetails"]
    assert tags[0]["imageDetail"]["imageStatus"] == "DEPRECATED" and tags[0]["imageDetail"]["scheduledDeletionAt"]
    assert aws(*status, "ACTIVE")["status"] == "ACTIVE"
    aws(*status, "DEPRECATED", "--deprecation-period-days", "90")
    # The same data, served with the clock 89 days on: still there; 91 days on: deleted.
    for offset, left in ((89, 1), (91, 0)):
        aws = served("--clock-offset", str(offset * DAY))
        assert len(aws("describe-images", "--repository-name", "app", "--repository-type", "PREMIUM")[
            "imageDetails"]) == left
    assert aws("delete-premium-repository", "--repository-name", "app")["premiumRepository"]["repositoryName"] == "app"


class PremiumClient:
    """A boto3 client whose push calls carry repositoryType=PREMIUM (for endpoint_client.push_image)."""

    def __init__(self, c: Any):
        self.c = c

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.c, name)
        return lambda **kw: call(repositoryType="PREMIUM", **kw)
