"""A corner the local endpoint cannot show (it has no IAM): a push-only policy that denies
DescribeRepositories must not stop a push. Tested on the real transport through both of its clients:
botocore's (with its Stubber) and the botocore-free one (its replies stubbed)."""
from __future__ import annotations

import pytest

from pypush.errors import AuthError, RegistryError
from pypush.name.reference import parse_reference
from pypush.net.aws_errors import AwsApiError
from pypush.transports.ecr import ecr_transport
from pypush.transports.ecr.ecr_transport import EcrTransport


@pytest.fixture(params=["botocore", "light"])
def refusing(request, monkeypatch):
    """A transport whose DescribeRepositories is refused with (code, message); yields the transport."""
    if request.param == "botocore":
        monkeypatch.setattr(ecr_transport, "env_credentials", lambda *a: None)  # as with a profile
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPYPUSHTEST")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def make(code: str, message: str):
        t = EcrTransport(parse_reference("public.ecr.aws/alias1/app:1"), endpoint_url="http://127.0.0.1:9")
        if request.param == "botocore":
            from botocore.stub import Stubber

            stub = Stubber(t.api.client)
            stub.add_client_error("describe_repositories", code, message)
            stub.activate()
            assert type(t.api).__name__ == "BotocoreApi"
        else:
            assert type(t.api).__name__ == "AwsJsonClient"

            def call(operation, params):
                assert operation == "DescribeRepositories"
                raise AwsApiError(400, code, message)
            t.api.call = call
        return t
    return make


def test_describe_denied_does_not_stop_a_push(refusing):
    refusing("AccessDeniedException", "not allowed").prepare(create_repository=False)


def test_describe_denied_with_create_requested_is_an_auth_error(refusing):
    with pytest.raises(AuthError, match="AccessDeniedException"):
        refusing("AccessDeniedException", "not allowed").prepare(create_repository=True)


def test_missing_repository_without_create_names_the_fix(refusing):
    with pytest.raises(RegistryError, match="create_repository=True"):  # the API's keyword; the CLI says its flag
        refusing("RepositoryNotFoundException", "no such repository").prepare(create_repository=False)
