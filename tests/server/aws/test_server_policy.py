"""Repository policies enforced by the AWS door (aws/policy.py): a Deny of an ecr-public push action to
every principal refuses the call with AccessDeniedException (HTTP 400), with IAM's wildcards and order; what
the endpoint cannot judge (conditions, named principals) is stored and does not refuse; premium repositories'
policies too. Stock boto3 against a real LocalEndpoint."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from conftest import FIXTURES, run_pypush, server_fixture
from endpoint_client import cli, client, error_of, push_blob, push_image, sha
from pypush.server import LocalEndpoint
from pypush.name.patterns import wildcard_match
from pypush.server.aws.policy import ALLOW, DENY, ENFORCED, decision

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

ARN = "arn:aws:ecr-public::123456789012:repository/app"


def policy(*statements: Dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny(action: Any, principal: Any = "*", **extra: Any) -> Dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": action, **extra}


def allow(action: Any, principal: Any = "*", **extra: Any) -> Dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data") as e:
        c = client(e)
        for repo in ("app", "other"):
            c.create_repository(repositoryName=repo)
        yield e


def refused(call, action: str, **kwargs: Any) -> None:
    """``call`` answers AccessDeniedException, HTTP 400, naming ``action``."""
    response = error_of(call, **kwargs)
    assert response["Error"]["Code"] == "AccessDeniedException", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"ecr-public:{action}" in response["Error"]["Message"] and "explicit deny" in response["Error"]["Message"]


def tags(c, repo: str, **kw: Any) -> List[str]:
    return sorted(t["imageTag"] for t in c.describe_image_tags(repositoryName=repo, **kw)["imageTagDetails"])


def test_deny_all_push_refuses_every_push_call_and_reads_and_policy_calls_still_work(ep):
    c = client(ep)
    text = push_image(c, "app", [b"layer one"], tag="v1")
    started = c.initiate_layer_upload(repositoryName="app")["uploadId"]
    c.set_repository_policy(repositoryName="app", policyText=policy(deny("ecr-public:*")), force=True)
    layer = b"new layer"
    refused(c.batch_check_layer_availability, "BatchCheckLayerAvailability", repositoryName="app",
            layerDigests=[sha(layer)])
    refused(c.initiate_layer_upload, "InitiateLayerUpload", repositoryName="app")
    refused(c.upload_layer_part, "UploadLayerPart", repositoryName="app", uploadId=started, partFirstByte=0,
            partLastByte=len(layer) - 1, layerPartBlob=layer)
    refused(c.complete_layer_upload, "CompleteLayerUpload", repositoryName="app", uploadId=started,
            layerDigests=[sha(layer)])
    refused(c.put_image, "PutImage", repositoryName="app", imageManifest=text, imageTag="v2")
    refused(c.batch_delete_image, "BatchDeleteImage", repositoryName="app", imageIds=[{"imageTag": "v1"}])
    assert tags(c, "app") == ["v1"]  # nothing changed
    # Reads, and the policy calls themselves, are not judged; another repository is untouched.
    assert len(c.describe_images(repositoryName="app")["imageDetails"]) == 1
    assert json.loads(c.get_repository_policy(repositoryName="app")["policyText"])["Statement"][0]["Effect"] == "Deny"
    push_image(c, "other", [b"layer one"], tag="v1")
    c.delete_repository_policy(repositoryName="app")
    push_image(c, "app", [layer], tag="v2")
    assert tags(c, "app") == ["v1", "v2"]


def test_wildcards_case_and_not_action_match_as_iam_does(ep):
    c = client(ep)
    c.set_repository_policy(repositoryName="app", policyText=policy(deny("ecr-public:Put*", {"AWS": "*"})))
    layer = b"only the manifest is refused"
    push_blob(c, "app", layer)  # the layer actions do not match Put*
    config = b"{}"
    push_blob(c, "app", config)
    text = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                                  "size": len(config)}, "layers": []})
    refused(c.put_image, "PutImage", repositoryName="app", imageManifest=text, imageTag="v1")
    # Action names are case-insensitive; ? is one character.
    c.set_repository_policy(repositoryName="app", policyText=policy(deny(["ECR-PUBLIC:putimag?"])))
    refused(c.put_image, "PutImage", repositoryName="app", imageManifest=text, imageTag="v1")
    # NotAction: everything but the listed actions is denied.
    c.set_repository_policy(repositoryName="app", policyText=policy(
        {"Effect": "Deny", "Principal": {"AWS": ["*"]}, "NotAction": ["ecr-public:PutImage", "ecr-public:Describe*"]}))
    c.put_image(repositoryName="app", imageManifest=text, imageTag="v1")
    refused(c.initiate_layer_upload, "InitiateLayerUpload", repositoryName="app")
    assert tags(c, "app") == ["v1"]


def test_explicit_deny_wins_and_what_cannot_be_judged_does_not_refuse(ep):
    c = client(ep)
    # An Allow beside a Deny of the same action: the Deny wins.
    c.set_repository_policy(repositoryName="app", policyText=policy(allow("ecr-public:*"),
                                                                    deny("ecr-public:InitiateLayerUpload")))
    refused(c.initiate_layer_upload, "InitiateLayerUpload", repositoryName="app")
    # Stored, not judged: a condition, a named principal, NotPrincipal; an Allow alone changes nothing.
    for statement in (deny("ecr-public:*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
                      deny("ecr-public:*", {"AWS": "arn:aws:iam::111122223333:root"}),
                      {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
                       "Action": "ecr-public:*"},
                      allow("ecr-public:BatchGetImage")):
        text = policy(statement)
        c.set_repository_policy(repositoryName="app", policyText=text, force=True)
        assert c.get_repository_policy(repositoryName="app")["policyText"] == text
        assert c.initiate_layer_upload(repositoryName="app")["uploadId"]
    # A Resource naming another repository does not match; one matching this repository's ARN does.
    arn = c.describe_repositories(repositoryNames=["app"])["repositories"][0]["repositoryArn"]
    c.set_repository_policy(repositoryName="app", policyText=policy(
        deny("ecr-public:*", Resource=arn.replace("/app", "/other"))))
    assert c.initiate_layer_upload(repositoryName="app")["uploadId"]
    c.set_repository_policy(repositoryName="app", policyText=policy(deny("ecr-public:*", Resource=arn[:-2] + "*")))
    refused(c.initiate_layer_upload, "InitiateLayerUpload", repositoryName="app")


def test_a_premium_repositorys_policy_is_enforced_and_its_free_twin_is_not_touched(ep):
    c = client(ep)
    p = {"repositoryType": "PREMIUM"}
    c.create_premium_repository(repositoryName="app", marketplaceProducts=["prod"])
    c.set_premium_repository_policy(repositoryName="app", policyText=policy(deny("ecr-public:PutImage")))
    config, layer = b'{"premium": 1}', b"premium layer"
    for blob in (config, layer):
        push_blob(c, "app", blob, **p)
    text = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer),
                                   "size": len(layer)}]})
    response = error_of(c.put_image, repositoryName="app", imageManifest=text, imageTag="v1", **p)
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert ":premium-repository/app" in response["Error"]["Message"]
    assert tags(c, "app", **p) == []
    push_image(c, "app", [layer], tag="v1")  # the FREE twin has no policy
    assert tags(c, "app") == ["v1"]
    c.delete_premium_repository_policy(repositoryName="app")
    c.put_image(repositoryName="app", imageManifest=text, imageTag="v1", **p)
    assert tags(c, "app", **p) == ["v1"]


@pytest.mark.parametrize("statements, action, expected", [
    ([deny("ecr-public:*")], "ecr-public:PutImage", DENY),
    ([deny("ecr-public:Put*")], "ecr-public:UploadLayerPart", None),
    ([deny("*")], "ecr-public:UploadLayerPart", DENY),
    ([deny("ecr-public:*Layer*")], "ecr-public:InitiateLayerUpload", DENY),
    ([deny("ecr-public:[P]utImage")], "ecr-public:PutImage", None),  # no character classes in IAM
    ([allow("ecr-public:*")], "ecr-public:PutImage", ALLOW),
    ([allow("ecr-public:*"), deny("ecr-public:PutImage")], "ecr-public:PutImage", DENY),
    ([deny("ecr-public:*", {"AWS": "123456789012"})], "ecr-public:PutImage", None),
    ([{"Effect": "deny", "Principal": "*", "Action": "*"}], "ecr-public:PutImage", None),  # Effect is exact
    ([deny("ecr-public:*", Resource="arn:aws:ecr-public::123456789012:repository/ap?")], "ecr-public:PutImage", DENY),
    ([deny("ecr-public:*", Resource="arn:aws:ecr-public::123456789012:repository/APP")], "ecr-public:PutImage", None),
])
def test_decision(statements, action, expected):
    assert decision(policy(*statements), action, ARN) == expected


def test_decision_of_a_single_statement_object_and_of_junk():
    single = json.dumps({"Statement": deny("ecr-public:PutImage")})
    assert decision(single, "ecr-public:PutImage", ARN) == DENY
    for junk in ("", "not json", "[]", '{"Statement": 3}', '{"Statement": [1, "x"]}'):
        assert decision(junk, "ecr-public:PutImage", ARN) is None


def test_serve_help_says_what_is_enforced_and_what_is_only_stored():
    proc = run_pypush("serve", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "repository policies:" in text and "ENFORCED:" in text and "STORED, NOT ENFORCED:" in text
    enforced = text.split("ENFORCED:", 1)[1].split("STORED, NOT ENFORCED:", 1)[0]
    assert [op for op in sorted(ENFORCED) if op not in enforced] == []
    assert "AccessDeniedException (HTTP 400)" in text and "403 DENIED" in text and "Condition" in text


def test_a_push_the_policy_denies_fails_naming_the_policy(ep, tmp_path):
    c = client(ep)
    c.set_repository_policy(repositoryName="app", policyText=policy(deny("ecr-public:PutImage")))
    proc = cli(ep, "push", f"oci:{FIXTURES / 'small.oci'}", "public.ecr.aws/local/app:1", subprocess=True)
    assert proc.returncode == 5, proc.stderr
    assert "AccessDeniedException" in proc.stderr and "ecr-public:PutImage" in proc.stderr
    assert "the repository's policy denies it: see pypush policy get REPO" in proc.stderr
    assert "IAM policy" not in proc.stderr and c.describe_images(repositoryName="app")["imageDetails"] == []


PUSH_ACTIONS = ["BatchCheckLayerAvailability", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload",
                "PutImage"]


@pytest.mark.parametrize("statement", [
    deny("ecr-public:*"), deny(["ecr-public:PutImage"], {"AWS": ["*"]}), deny("*"), deny("ecr-public:*Layer*"),
    {"Effect": "Deny", "Principal": "*", "NotAction": "ecr-public:Describe*"},
    deny("ecr-public:Put*"), deny("ECR-PUBLIC:putimage"), deny("ecr-public:[P]utImage"), deny("ecr-public:Put?mage"),
    deny("ecr-public:DeleteRepository"), deny("ecr-public:*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    deny("ecr-public:*", {"AWS": "arn:aws:iam::111122223333:root"}), allow("ecr-public:*"),
])
def test_the_clients_lockout_check_and_the_endpoint_agree_on_push(statement):
    """`pypush policy set` asks for --force when the endpoint would then refuse a push (and for a policy denying
    SetRepositoryPolicy, which the endpoint does not judge), never for one the endpoint would not enforce."""
    from pypush.ecrpublic.policy_check import locked_out

    text = policy(statement)
    refused = [op for op in PUSH_ACTIONS if decision(text, f"ecr-public:{op}", ARN) == DENY]
    assert bool(locked_out(json.loads(text))) is bool(refused)


@pytest.mark.parametrize("pattern, value, matches", [
    ("*", "", True), ("", "", True), ("", "a", False), ("?", "", False), ("a?c", "abc", True), ("a*c", "abxc", True),
    ("a*c", "abxcd", False), ("*x*", "abxcd", True), ("**", "z", True), ("a*b*c", "aXbYbZc", True),
    ("a*b*c", "aXbYc d", False), ("[a]", "a", False), ("[a]", "[a]", True), ("a.c", "abc", False),
])
def test_wildcard_match(pattern, value, matches):
    assert wildcard_match(pattern, value) is matches


def test_a_pathological_pattern_is_decided_without_backtracking():
    """``*a*a*a…z`` against a long run of ``a``: a regular expression backtracks exponentially (10 pairs took
    10 s); the matcher's work is bounded by the product of the lengths."""
    text = policy(deny("ecr-public:" + "*a" * 200 + "*z"), deny("ecr-public:" + "*a" * 200))
    assert decision(text, "ecr-public:" + "a" * 300, ARN) == DENY
    assert decision(policy(deny("ecr-public:" + "*a" * 200 + "*z")), "ecr-public:" + "a" * 300, ARN) is None
