"""Client-side pacing: a token bucket per API operation at the service's published rate quotas."""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, Mapping, Optional

from pypush.errors import UsageError

# Requests per second, from the published ECR Public and private ECR quotas.
QUOTAS: Dict[str, Dict[str, float]] = {
    "ecr-public": {"BatchCheckLayerAvailability": 200, "InitiateLayerUpload": 10, "UploadLayerPart": 260,
                   "CompleteLayerUpload": 10, "PutImage": 10, "GetAuthorizationToken": 200},
    "ecr": {"BatchCheckLayerAvailability": 1000, "InitiateLayerUpload": 100, "UploadLayerPart": 500,
            "CompleteLayerUpload": 100, "PutImage": 10, "GetAuthorizationToken": 500},
}
ENV_VAR = "PYPUSH_RATE_LIMITS"


class TokenBucket:
    """Allow ``rate`` acquisitions a second on average, at most ``burst`` at once. Thread-safe."""

    def __init__(self, rate: float, burst: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst = rate, max(1.0, burst)
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> bool:
        """Take one token if one is there now (a server refusing excess requests)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def acquire(self) -> float:
        """Take one token, sleeping until one is there; returns the seconds waited (a paced client)."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_rate_limits(text: str) -> Dict[str, float]:
    """``"PutImage=5,InitiateLayerUpload=20"`` → {"PutImage": 5.0, ...}; ``0`` turns pacing off for that one."""
    limits: Dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            limits[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"bad rate limit {item!r}: expected OPERATION=REQUESTS_PER_SECOND")
    return limits


class Pacer:
    """Token buckets for the operations of one service; unknown operations are not paced."""

    def __init__(self, service: str, overrides: Optional[Mapping[str, float]] = None):
        rates = dict(QUOTAS.get(service, {}))
        rates.update(parse_rate_limits(os.environ.get(ENV_VAR, "")))
        rates.update(overrides or {})
        # Half a second's burst: well inside the service's own bucket (a second's worth), so a
        # paced client never sees ThrottlingException from its own traffic.
        self._buckets = {op: TokenBucket(rate, burst=rate / 2) for op, rate in rates.items() if rate > 0}

    def wait(self, operation: str) -> None:
        """Block until ``operation`` may be sent."""
        bucket = self._buckets.get(operation)
        if bucket is not None:
            bucket.acquire()

    def botocore_handler(self, event_name: str = "", **_: object) -> None:
        """A ``before-send`` event handler: paces every attempt of every call of the client."""
        self.wait(event_name.rsplit(".", 1)[-1])
