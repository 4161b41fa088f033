"""botocore plumbing shared by the ECR transport and the registry commands: clients, errors."""
from __future__ import annotations

from typing import Any, Optional

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError as BotoConnectionError,
                                 HTTPClientError, NoCredentialsError, PartialCredentialsError, SSLError)

from pypush.errors import AuthError, PypushError, RegistryError, TransientError
from pypush.net.connections import aws_verify, is_loopback
from pypush.net.retry import parse_retry_after

ECR_PUBLIC_REGION = "us-east-1"
_AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
               "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationTokenException",
               "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"}
TRANSIENT_CODES = {"ThrottlingException", "ServerException", "LimitExceededException",
                   "ServiceUnavailableException", "InternalFailure", "RequestTimeout", "RequestTimeoutException",
                   "PriorRequestNotComplete", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_HINTS = {
    "RepositoryNotFoundException": "create it first: pypush repo create REPO, or push with --create-repository",
    "RepositoryNotEmptyException": "use --force to delete it with its images",
    "ImageTagAlreadyExistsException": "the repository has immutable tags: push under a new tag",
    "RegistryNotFoundException": "check the registry alias in the reference",
    "ThrottlingException": "the service throttled the request: retry later or lower --jobs",
    "LimitExceededException": "a service quota was reached: see the ECR Public quotas",
    "LayersNotFoundException": "a blob of the manifest is missing in the repository: push the image again",
    "ExpiredTokenException": "refresh your AWS session credentials",
    "UnrecognizedClientException": "check your AWS credentials: AWS_PROFILE, AWS_ACCESS_KEY_ID, ...",
    "InvalidSignatureException": "check your AWS secret key and the machine's clock",
    "AccessDeniedException": "the caller's IAM policy does not allow this ECR action",
    "RepositoryPolicyNotFoundException": "no policy is set: pypush policy set REPO FILE",
    "RepositoryAlreadyExistsException": "it exists: pypush repo describe REPO",
    "ImageNotFoundException": "see pypush images list REPO",
    "InvalidTagParameterException": "tag keys must not start with aws:",
    "TooManyTagsException": "a repository may carry at most 50 resource tags",
}


def make_session(profile: Optional[str] = None) -> botocore.session.Session:
    """A botocore session (AWS credential chain: env, profile, SSO, instance role, ...)."""
    session = botocore.session.get_session()
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
    return client


def is_transient(exc: BaseException) -> bool:
    """A botocore failure worth trying again: throttling, a 5xx, a lost or timed-out connection."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, (BotoConnectionError, HTTPClientError)) and not isinstance(exc, SSLError)


def retry_after(exc: BaseException) -> Optional[float]:
    """The Retry-After a botocore error reply carried, if any."""
    if isinstance(exc, ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}
        return parse_retry_after(headers.get("retry-after"))
    return getattr(exc, "retry_after", None)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: BaseException, action: str) -> PypushError:
    """A one-line PypushError for a botocore failure while doing ``action`` (secrets never included)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or ""
        hint = _HINTS.get(code)
        text = f"{action}: {code}: {message}".rstrip(": ") + (f"; {hint}" if hint else "")
        if code in _AUTH_CODES:
            return AuthError(text, code)
        if code in TRANSIENT_CODES:
            return TransientError(text, code)
        return RegistryError(text, code)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AuthError(f"{action}: no usable AWS credentials ({type(exc).__name__})")
    if isinstance(exc, SSLError):
        return RegistryError(f"{action}: TLS failed ({' '.join(str(exc).split())}); trust its CA through "
                             f"AWS_CA_BUNDLE or ca_bundle in the AWS profile", "TLS")
    if isinstance(exc, BotoConnectionError):
        return TransientError(f"{action}: {' '.join(str(exc).split())}; check the network or --endpoint-url")
    if isinstance(exc, BotoCoreError):
        return RegistryError(f"{action}: {' '.join(str(exc).split())}")
    return RegistryError(f"{action}: {type(exc).__name__}: {' '.join(str(exc).split())}")
