"""A corner the local endpoint cannot show (it has no IAM): a push-only policy that denies
DescribeRepositories must not stop a push. Tested with botocore's Stubber on the real transport."""
from __future__ import annotations

import pytest
from botocore.stub import Stubber

from pypush.errors import AuthError, RegistryError
from pypush.name.reference import parse_destination
from pypush.transports.ecr.ecr_transport import EcrTransport


def transport() -> EcrTransport:
    return EcrTransport(parse_destination("public.ecr.aws/alias1/app:1"), endpoint_url="http://127.0.0.1:9")


def test_describe_denied_does_not_stop_a_push():
    t = transport()
    with Stubber(t.client) as stub:
        stub.add_client_error("describe_repositories", "AccessDeniedException", "not allowed")
        t.prepare(create_repository=False)
        stub.assert_no_pending_responses()


def test_describe_denied_with_create_requested_is_an_auth_error():
    t = transport()
    with Stubber(t.client) as stub:
        stub.add_client_error("describe_repositories", "AccessDeniedException", "not allowed")
        with pytest.raises(AuthError, match="AccessDeniedException"):
            t.prepare(create_repository=True)


def test_missing_repository_without_create_names_the_fix():
    t = transport()
    with Stubber(t.client) as stub:
        stub.add_client_error("describe_repositories", "RepositoryNotFoundException", "no such repository")
        with pytest.raises(RegistryError, match="--create-repository"):
            t.prepare(create_repository=False)
