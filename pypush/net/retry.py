"""Bounded retries with jittered exponential backoff that honour a server's Retry-After.

Transport-neutral: the caller says which exceptions are transient and how long the server asked
to wait; this module only decides when to try again and when to give up. ``RetryPolicy`` is what
both transports use: the backoff plus the counting (retries, throttling) and logging of each retry.
"""
from __future__ import annotations

import logging
import random
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional, TypeVar

if TYPE_CHECKING:
    from pypush.net.stats import TransferStats

T = TypeVar("T")
log = logging.getLogger("pypush")


@dataclass(frozen=True)
class Backoff:
    """How many attempts and how long to wait between them.

    The n-th wait (n = 0, 1, ...) is uniform in ``[0, min(cap, base * 2**n)]`` ("full jitter"),
    unless the server named a delay (Retry-After), which wins up to ``max_retry_after`` seconds.
    """

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(self.cap, self.base * (2 ** retry)))


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds from a Retry-After header value (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # rare (an HTTP date): kept off the start-up path

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_call(
    fn: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    backoff: Backoff = Backoff(),
    retry_after: Callable[[BaseException], Optional[float]] = lambda exc: getattr(exc, "retry_after", None),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Optional[Callable[[BaseException, int, float], None]] = None,
) -> T:
    """Call ``fn`` until it returns, retrying transient failures at most ``backoff.attempts`` times in all.

    Non-transient exceptions propagate at once, and so do failures that waiting does not heal: a refused
    connection is not retried and a failed DNS lookup is retried once (``attempts_for``); after the last
    attempt the last transient exception propagates (callers turn it into their own "gave up" error).
    ``on_retry(exc, retry, delay)`` is told before each wait.
    """
    retry = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not is_transient(exc) or retry + 1 >= min(backoff.attempts, attempts_for(exc)):
                raise
            delay = backoff.delay(retry, retry_after(exc))
            if on_retry is not None:
                on_retry(exc, retry, delay)
            sleep(delay)
            retry += 1


UNREACHABLE_ATTEMPTS = {"refused": 1, "dns": 2}
"""Attempts at most for a connection nothing will accept soon: refused (nothing listens: skopeo and crane
fail at once too), a host name that does not resolve (once more, for a resolver's passing failure)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it wraps (reason, first argument, cause, context), at most ten."""
    seen, current = 0, exc  # type: int, Optional[BaseException]
    while current is not None and seen < 10:
        yield current
        reason = getattr(current, "reason", None)
        # an exception among the args: urllib3's ProxyError(message, error) holds it second (urllib3 1.26)
        nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = next((e for e in (reason, nested, current.__cause__, current.__context__)
                        if isinstance(e, BaseException)), None)
        seen += 1


def unreachable(exc: BaseException) -> Optional[str]:
    """``"refused"`` when ``exc`` is (or wraps) a refused connection, ``"dns"`` for a host name that did not
    resolve, else None."""
    for current in _chain(exc):
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, socket.gaierror):
            return "dns"
    return None


def attempts_for(exc: BaseException) -> int:
    """The most attempts worth making when ``exc`` is what failed (a large number when waiting may heal it)."""
    kind = unreachable(exc)
    return UNREACHABLE_ATTEMPTS[kind] if kind else 1 << 30


def gave_up(exc: BaseException, attempts: int) -> str:
    """Why a connection failed for good, in a few words: ``connection refused, not retried: nothing listens
    there``, ``DNS lookup failed: …; check the host name``, else the cause and the attempts made."""
    return unreachable_reason(exc) or f"{describe_network_error(exc)} (gave up after {attempts} attempts)"


def unreachable_reason(exc: BaseException) -> Optional[str]:
    """``gave_up``'s words for a refused connection or a name that does not resolve; None for anything else."""
    kind = unreachable(exc)
    if kind == "refused":
        return "connection refused, not retried: nothing listens there; is the server running, the port right?"
    if kind == "dns":
        return f"{describe_network_error(exc)}; check the host name"
    return None


def describe_network_error(exc: BaseException) -> str:
    """A short one-line cause for a failed connection (``DNS lookup failed: Name or service not known``,
    ``connection refused``, ``timed out``), found along the exception's chain; else its text."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLError):
            verify = getattr(current, "verify_message", None)
            return f"certificate verify failed: {verify}" if verify else (current.reason or "TLS error").lower()
        if isinstance(current, socket.gaierror):
            return f"DNS lookup failed: {current.strerror or current}"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(current, (TimeoutError, socket.timeout)) or type(current).__name__.endswith("TimeoutError"):
            return "timed out"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class RetryPolicy:
    """The retry policy of a transport: its Backoff, the stats it counts retries (and throttling) into,
    and the log line telling why. Every request of both transports that may be tried again goes through
    ``call``."""

    def __init__(self, backoff: Backoff, stats: "TransferStats", label: str = "",
                 sleep: Callable[[float], None] = time.sleep):
        self.backoff, self.stats, self.label, self.sleep = backoff, stats, label, sleep

    def call(self, fn: Callable[[], T], what: str, is_transient: Callable[[BaseException], bool],
             retry_after: Callable[[BaseException], Optional[float]] = lambda exc: getattr(exc, "retry_after", None),
             ) -> T:
        """``fn()`` under ``retry_call``; each retry is counted and logged (``what`` names the request)."""
        def note(exc: BaseException, retry: int, delay: float) -> None:
            self.stats.retried(exc)
            log.info("%s%s failed (%s); retry %d in %.1fs", self.label and self.label + ": ", what,
                     describe_network_error(exc), retry + 1, delay)
        return retry_call(fn, is_transient=is_transient, backoff=self.backoff, retry_after=retry_after,
                          sleep=self.sleep, on_retry=note)
