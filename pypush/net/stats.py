"""One thread-safe tally of what a transport did, read by the engine into PushResult."""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any

THROTTLING_CODES = frozenset({"ThrottlingException", "LimitExceededException", "TooManyRequestsException",
                              "Throttling", "RequestLimitExceeded", "SlowDown", "TOOMANYREQUESTS", "429"})
"""Error codes (AWS codes, OCI codes, HTTP 429) meaning the service asked the client to slow down."""


def is_throttling(exc: BaseException) -> bool:
    """True when ``exc`` (anything with a ``code``) says the service throttled the request."""
    code = str(getattr(exc, "code", "") or "")
    return any(part in THROTTLING_CODES for part in code.split(","))


class TransferStats(Counter):
    """Counts keyed by name: ``uploaded`` blobs, ``bytes`` uploaded, ``mounted`` blobs, ``retries`` (failed
    attempts tried again), ``throttled`` (of those, the ones the service throttled), ``resumed`` (bytes of
    uploads an earlier run had sent, not counted in ``bytes``), plus any transport's own (``patches``,
    ``resumes``). Reads are plain Counter reads; every write goes through the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    def add(self, key: str, n: int = 1) -> None:
        """Add ``n`` to ``key``."""
        with self._lock:
            self[key] += n

    def blob_uploaded(self, size: int) -> None:
        """One blob of ``size`` bytes is stored."""
        with self._lock:
            self["uploaded"] += 1
            self["bytes"] += size

    def retried(self, exc: BaseException) -> None:
        """A failed attempt will be tried again; throttling is counted apart as well."""
        with self._lock:
            self["retries"] += 1
            if is_throttling(exc):
                self["throttled"] += 1
