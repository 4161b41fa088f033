"""botocore plumbing shared by the ECR transport (credentials only botocore can resolve) and the registry
commands: sessions, clients, and their failures in pypush.net.aws_errors' terms."""
from __future__ import annotations

from typing import Any, Dict, Optional

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError as BotoConnectionError,
                                 HTTPClientError, NoCredentialsError, PartialCredentialsError, SSLError)

from pypush import apimodels
from pypush.errors import AuthError, PypushError
from pypush.net import aws_errors
from pypush.net.aws_json import ECR_PUBLIC_REGION  # noqa: F401 - re-exported
from pypush.net.connections import aws_verify, is_loopback
from pypush.net.retry import attempts_for, parse_retry_after, unreachable



def make_session(profile: Optional[str] = None) -> botocore.session.Session:
    """A botocore session (AWS credential chain: env, profile, SSO, instance role, ...) that reads pypush's
    pinned ECR models (pypush.apimodels), whatever the installed botocore's are."""
    session = apimodels.add_to_session(botocore.session.get_session())
    if profile:
        session.set_config_variable("profile", profile)
    return session


def resolve_credentials(session: botocore.session.Session, endpoint_url: Optional[str]) -> Any:
    """The chain's credentials, or dummy ones for a loopback endpoint when the chain has none.

    For a loopback endpoint the instance and container metadata services are not asked: they are
    remote, and their time-outs would only delay a local push.
    """
    if is_loopback(endpoint_url):
        resolver = session.get_component("credential_provider")
        for name in ("iam-role", "container-role"):
            try:
                resolver.remove(name)
            except (AttributeError, ValueError):
                pass
    try:
        creds = session.get_credentials()
    except (PartialCredentialsError, BotoCoreError) as exc:
        raise AuthError(f"AWS credentials are incomplete: {type(exc).__name__}") from None
    if creds is None:
        if is_loopback(endpoint_url):
            return Credentials("pypush-local", "pypush-local")
        raise AuthError("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                        "(or use an instance role / SSO login)")
    return creds


def make_client(service: str, region: str, endpoint_url: Optional[str] = None,
                session: Optional[botocore.session.Session] = None, max_attempts: int = 6,
                credentials: Any = None) -> Any:
    """A botocore client; ``service`` is ``ecr-public`` or ``ecr``. ``max_attempts`` > 1: botocore's standard
    retries (the management commands); 1: none (a transport, which retries through pypush.net.retry).
    TLS trust is pypush.net.connections' decision (the profile's ``ca_bundle`` included)."""
    session = session or make_session()
    creds = credentials or resolve_credentials(session, endpoint_url)
    frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
    retries = {"mode": "standard", "max_attempts": max_attempts} if max_attempts > 1 else {"total_max_attempts": 1}
    config = Config(retries=retries, max_pool_connections=32, connect_timeout=15, read_timeout=120)
    client = session.create_client(service, region_name=region, endpoint_url=endpoint_url, config=config,
                                   verify=aws_verify(session), aws_access_key_id=frozen.access_key,
                                   aws_secret_access_key=frozen.secret_key, aws_session_token=frozen.token)
    if max_attempts > 1:
        client.meta.events.register_first(f"needs-retry.{client.meta.service_model.service_id.hyphenize()}",
                                          _fail_fast)
    return client


def _fail_fast(attempts: int = 1, caught_exception: Optional[BaseException] = None, **_: Any) -> None:
    """A ``needs-retry`` handler that vetoes botocore's retry (by raising the failure) when waiting will not
    heal it: a refused connection, a name that does not resolve after its one retry (pypush.net.retry)."""
    if caught_exception is not None and unreachable(caught_exception) and attempts >= attempts_for(caught_exception):
        raise caught_exception


def retry_after(exc: BaseException) -> Optional[float]:
    """The Retry-After a botocore error reply carried, if any."""
    if isinstance(exc, ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}
        return parse_retry_after(headers.get("retry-after"))
    return getattr(exc, "retry_after", None)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def failure(exc: BaseException) -> BaseException:
    """The pypush.net.aws_errors form of a botocore failure (other exceptions as they are)."""
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        return aws_errors.AwsApiError(int(meta.get("HTTPStatusCode") or 0), error_code(exc),
                                      exc.response.get("Error", {}).get("Message", "") or "", {}, retry_after(exc))
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return aws_errors.AwsCredentialsError(type(exc).__name__)
    if isinstance(exc, SSLError):
        return aws_errors.AwsTlsError(str(exc))
    if isinstance(exc, BotoConnectionError):
        connection = aws_errors.AwsConnectionError(str(exc), cause=type(exc).__name__)
        connection.__cause__ = exc  # what refused or did not resolve (pypush.net.retry.unreachable)
        return connection
    if isinstance(exc, HTTPClientError):
        return aws_errors.AwsConnectionError(str(exc), closed=True, cause=type(exc).__name__)
    if isinstance(exc, BotoCoreError):
        return aws_errors.AwsLocalError(str(exc))
    return exc


def translate(exc: BaseException, action: str) -> PypushError:
    """A one-line PypushError for a botocore failure while doing ``action`` (secrets never included)."""
    return aws_errors.translate(failure(exc), action)


class BotocoreApi:
    """A botocore client behind AwsJsonClient's ``call``: operations by API name, failures raised in
    pypush.net.aws_errors' terms (so the transport handles both clients alike)."""

    def __init__(self, client: Any):
        self.client = client
        self._methods = {api: name for name, api in client.meta.method_to_api_mapping.items()}

    def call(self, operation: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """``operation`` (e.g. ``PutImage``) with ``params``; the parsed reply."""
        try:
            return getattr(self.client, self._methods[operation])(**params)
        except (ClientError, BotoCoreError) as exc:
            raise failure(exc) from None

    def clone(self) -> "BotocoreApi":
        """This very client (botocore's pool is thread-safe and shared)."""
        return self

    def close(self) -> None:
        """Nothing to do (botocore pools its connections)."""
