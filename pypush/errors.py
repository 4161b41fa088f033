"""The exceptions pypush raises; each maps to a documented exit code."""
from __future__ import annotations

from typing import Optional


class PypushError(Exception):
    """Base of every error pypush raises on purpose. ``exit_code`` is the CLI's exit status."""

    exit_code = 1


class UsageError(PypushError):
    """The command line or API call is malformed (bad reference, unknown option value)."""

    exit_code = 2


class SourceError(PypushError):
    """The input image is unreadable or invalid: names the file, blob or field at fault."""

    exit_code = 3


class DigestMismatchError(SourceError):
    """A blob's bytes do not match the digest or size its descriptor declares."""


class NoSuchImage(SourceError):
    """The registry has no image under the tag or digest asked for (HTTP 404 for the manifest); the message says
    which tag was assumed and lists tags the repository has."""


class RegistryError(PypushError):
    """The destination refused a request. ``code`` is the AWS error code or HTTP status."""

    exit_code = 4

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.code = code


class AuthError(RegistryError):
    """Credentials are missing, wrong or not allowed to do this."""

    exit_code = 5


class TransientError(RegistryError):
    """The network or the service failed and retries are exhausted; rerunning may succeed."""

    exit_code = 6


class Interrupted(PypushError):
    """The user stopped the run (Ctrl-C)."""

    exit_code = 130
