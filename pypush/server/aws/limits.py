"""What may happen to a request before it reaches its operation: published rate quotas
(``--enforce-quotas``) and deterministic fault injection (``--faults`` / PYPUSH_SERVE_FAULTS)."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from pypush.server.aws.protocol import ApiError
from pypush.transports.ecr.pacing import QUOTAS, TokenBucket

RATES: Dict[str, Dict[str, float]] = QUOTAS
"""Published ECR rate quotas, requests per second (not in botocore's model); the client paces at them."""


class Quotas:
    """One token bucket per (service, operation) with a published rate."""

    def __init__(self, rates: Optional[Dict[str, Dict[str, float]]] = None):
        self.buckets: Dict[Tuple[str, str], TokenBucket] = {
            (service, op): TokenBucket(rate, burst=rate) for service, ops in (rates or RATES).items()
            for op, rate in ops.items()
        }

    def check(self, service: str, op: str) -> None:
        """ThrottlingException when ``op`` is over its rate."""
        bucket = self.buckets.get((service, op))
        if bucket is not None and not bucket.try_take():
            raise ApiError("ThrottlingException", f"Rate exceeded for {op}")


@dataclass
class FaultPlan:
    """Probabilities of each fault per AWS request; ``seed`` makes the sequence reproducible.

    ``error``: ServerException (500); ``throttle``: ThrottlingException; ``drop``: the connection is
    closed before the operation runs; ``drop_after``: the operation runs, then the connection is
    closed without an answer; ``cut``: the connection is closed half-way through the request body;
    ``delay``: the answer waits ``delay_seconds``.
    """

    seed: int = 0
    error: float = 0.0
    throttle: float = 0.0
    drop: float = 0.0
    drop_after: float = 0.0
    cut: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 0.5

    @classmethod
    def parse(cls, spec: str) -> "FaultPlan":
        """``seed=1,error=0.05,throttle=0.02,drop=0.01,drop_after=0.01,cut=0.01,delay=0.05[,delay_seconds=0.5]``."""
        plan = cls()
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, _, value = item.partition("=")
            if key not in cls.__dataclass_fields__:
                raise ValueError(f"unknown fault {key!r} in {spec!r}")
            setattr(plan, key, int(value) if key == "seed" else float(value))
        return plan


class DropConnection(Exception):
    """Close the connection without answering."""


class Faults:
    """Draws one fault (or none) per request from a seeded generator, in request order."""

    def __init__(self, plan: FaultPlan):
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.lock = threading.Lock()

    def cut_body(self) -> bool:
        """True when this request's body must be cut off half-way (the connection dropped mid-body)."""
        if not self.plan.cut:
            return False
        with self.lock:
            return self.rng.random() < self.plan.cut

    def before(self, op: str) -> bool:
        """Called before an operation runs: may sleep, raise ApiError or DropConnection; True when
        the connection must be dropped after the operation ran."""
        with self.lock:
            x = self.rng.random()
        p = self.plan
        if x < p.error:
            raise ApiError("ServerException", f"injected fault in {op}", status=500)
        x -= p.error
        if x < p.throttle:
            raise ApiError("ThrottlingException", f"Rate exceeded (injected) for {op}")
        x -= p.throttle
        if x < p.drop:
            raise DropConnection(op)
        x -= p.drop
        if x < p.drop_after:
            return True
        x -= p.drop_after
        if x < p.delay:
            time.sleep(p.delay_seconds)
        return False
