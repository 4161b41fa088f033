"""Reference references: repository names as each service's API model accepts them."""
from __future__ import annotations

import re

import pytest

from pypush import apimodels
from pypush.errors import UsageError
from pypush.name.reference import ECR_PRIVATE, ECR_PUBLIC, parse_reference

PRIVATE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
PUBLIC = "public.ecr.aws/alias1/"


def _name(length: int) -> str:
    body = "/".join(["a" * 49] * 8)  # 399 characters, separators inside
    return body[:length - 1].rstrip("/") + "z" if length > 1 else "z"


@pytest.mark.parametrize("service, prefix, kind", [("ecr", PRIVATE, ECR_PRIVATE), ("ecr-public", PUBLIC, ECR_PUBLIC)])
def test_repository_name_limits_are_the_service_models(service, prefix, kind):
    shape = apimodels.service_model(service).shape_for("RepositoryName").metadata
    longest, shortest, pattern = shape["max"], shape["min"], re.compile(f"^(?:{shape['pattern']})$")
    name = _name(longest)
    assert len(name) == longest and pattern.match(name)
    assert parse_reference(prefix + name + ":1").kind == kind
    for bad in (_name(longest + 1), "z" * (shortest - 1)):
        with pytest.raises(UsageError, match=f"{shortest} to {longest} characters"):
            parse_reference(prefix + bad + ":1")


def test_private_ecr_takes_a_256_character_name():
    dest = parse_reference(PRIVATE + "x" * 256)
    assert dest.repository == "x" * 256 and dest.kind == ECR_PRIVATE


def test_doubled_separators_follow_the_2026_models():
    # ECR Public's RepositoryName pattern allows '__' and runs of '-' since the 2026 model, as private ECR's.
    for prefix in (PRIVATE, PUBLIC):
        assert parse_reference(prefix + "team__app--x:1").repository == "team__app--x"
    for bad in ("team___app", "team_.app", "-team", "team-"):
        with pytest.raises(UsageError, match="invalid repository name"):
            parse_reference(PUBLIC + bad + ":1")


@pytest.mark.parametrize("ref,message", [
    ("docker-archive:/tmp/x.tar", "docker-archive: destinations are not supported"),  # skopeo's transports
    ("dir:/tmp/x", "dir: destinations are not supported"),
    ("127.0.0.1:abc/app:1", "'127.0.0.1:abc' is not HOST[:PORT]"),
    ("docker://localhost:/app", "'localhost:' is not HOST[:PORT]"),
])
def test_destination_hosts_are_host_and_numeric_port(ref, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_reference(ref)


def test_ipv6_and_port_hosts_still_parse():
    assert parse_reference("[::1]:5000/app:1").registry == "[::1]:5000"
    assert parse_reference("[::1]/app").registry == "[::1]"
    assert parse_reference("localhost:5000/a/b@sha256:" + "0" * 64).path == "a/b"
