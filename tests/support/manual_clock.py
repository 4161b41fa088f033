"""A clock a test sets by hand, for LocalEndpoint(clock=...) and the store: push times, expiries and due dates
come out as the test says, not as the machine's load decides."""
from __future__ import annotations


class ManualClock:
    """Returns ``now``; the test advances it (``clock.now += 60``)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
