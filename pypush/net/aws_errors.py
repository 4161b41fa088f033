"""AWS API failures, botocore-free: the exceptions both ECR clients raise (the hand-built one and the
botocore adapter), which are transient, and their one-line translation into pypush errors."""
from __future__ import annotations

from typing import Any, Dict, Optional

from pypush.errors import AuthError, PypushError, RegistryError, TransientError

AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
              "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationTokenException",
              "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"}
TRANSIENT_CODES = {"ThrottlingException", "ServerException", "LimitExceededException",
                   "ServiceUnavailableException", "InternalFailure", "RequestTimeout", "RequestTimeoutException",
                   "PriorRequestNotComplete", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
HINTS = {
    "RepositoryNotFoundException": "check its name: pypush repo list shows the repositories",
    "RepositoryNotEmptyException": "use force=True to delete it with its images",
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
    "DeletionNotAllowedException": "a published premium repository keeps its images: deprecate them instead "
                                   "(pypush premium deprecate REPO IMAGE --days N)",
    "EntitlementNotFoundException": "no active Marketplace entitlement covers it (or it is not available yet): "
                                    "see pypush entitled repos",
    "AssociationAlreadyExistsException": "a repository has at most one association: pypush premium disassociate",
    "PublisherReportNotFoundException": "see pypush premium reports list",
}
"""What to do about an error code, in the Python API's words (the CLI says its flags: ``force=True`` is
``--force``)."""
PUSH_HINTS = {
    "RepositoryNotFoundException": "create it first: pypush repo create REPO, or push with create_repository=True",
}
"""HINTS where a push meets the error (a missing repository is created, not looked up)."""
PREMIUM_HINTS = {
    "RepositoryNotFoundException": "create it first: pypush premium create REPO --product ID",
    "RepositoryPolicyNotFoundException": "no policy is set: pypush premium policy set REPO FILE",
    "RepositoryAlreadyExistsException": "it exists: pypush premium describe REPO",
}
"""Hints for an action on a premium repository (its message names one), where they differ."""


class AwsFailure(Exception):
    """A failed AWS API call, before translation."""


class AwsApiError(AwsFailure):
    """An error reply: HTTP ``status``, the AWS error ``code`` (from ``__type``, else the status), its message."""

    def __init__(self, status: int, code: str, message: str, body: Optional[Dict[str, Any]] = None,
                 retry_after: Optional[float] = None):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.body, self.retry_after = body or {}, retry_after


class AwsConnectionError(AwsFailure):
    """The request got no answer (refused, reset, timed out); ``closed``: it was sent, the reply never came."""

    def __init__(self, text: str, closed: bool = False, cause: str = ""):
        super().__init__(text)
        self.closed, self.cause = closed, cause


class AwsTlsError(AwsFailure):
    """The endpoint's certificate is not trusted."""

    def __init__(self, text: str, verify_message: str = ""):
        super().__init__(text)
        self.verify_message = verify_message or text


class AwsCredentialsError(AwsFailure):
    """No usable credentials (``kind``: botocore's exception name)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class AwsLocalError(AwsFailure):
    """A failure on this side (a parameter the client refused, ...)."""


def is_transient(exc: BaseException) -> bool:
    """Worth trying again: throttling, a 5xx or 429, a lost or timed-out connection."""
    if isinstance(exc, AwsApiError):
        return exc.code in TRANSIENT_CODES or exc.status >= 500 or exc.status == 429
    return isinstance(exc, AwsConnectionError)


def retry_after(exc: BaseException) -> Optional[float]:
    """The Retry-After the error reply carried, if any."""
    return getattr(exc, "retry_after", None)


def translate(exc: BaseException, action: str, hints: Optional[Dict[str, str]] = None) -> PypushError:
    """A one-line PypushError for a failure while doing ``action`` (secrets never included); ``hints`` (e.g.
    PUSH_HINTS) before HINTS."""
    if isinstance(exc, AwsApiError):
        code = exc.code
        hint = ((hints or {}).get(code) or (PREMIUM_HINTS.get(code) if "premium repository" in action else None)
                or HINTS.get(code))
        text = f"{action}: {code}: {exc.message}".rstrip(": ") + (f"; {hint}" if hint else "")
        if code in AUTH_CODES:
            return AuthError(text, code)
        if code in TRANSIENT_CODES:
            return TransientError(text, code)
        return RegistryError(text, code)
    if isinstance(exc, AwsCredentialsError):
        return AuthError(f"{action}: no usable AWS credentials ({exc.kind})")
    if isinstance(exc, AwsTlsError):
        return RegistryError(f"{action}: TLS failed ({' '.join(str(exc).split())}); trust its CA through "
                             f"AWS_CA_BUNDLE or ca_bundle in the AWS profile", "TLS")
    if isinstance(exc, AwsConnectionError) and not exc.closed:
        from pypush.net.retry import unreachable_reason

        reason = unreachable_reason(exc)
        return TransientError(f"{action}: {' '.join(str(exc).split())}; "
                              + (reason or "check the network or --endpoint-url"), "UNREACHABLE" if reason else None)
    if isinstance(exc, AwsFailure):
        return RegistryError(f"{action}: {' '.join(str(exc).split())}")
    return RegistryError(f"{action}: {type(exc).__name__}: {' '.join(str(exc).split())}")
