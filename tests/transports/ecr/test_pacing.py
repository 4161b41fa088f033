"""Client-side pacing at the ECR quotas, ``--rate-limit`` / PYPUSH_RATE_LIMITS, on every ECR request:
botocore's calls and the hand-built UploadLayerPart alike. Waits are recorded, never slept."""
from __future__ import annotations

import collections

import pytest

import pypush
from conftest import FIXTURES, server_fixture
from pypush.cli import main as cli
from pypush.errors import UsageError
from pypush.transports.ecr import pacing
from pypush.transports.ecr.pacing import QUOTAS, Pacer, TokenBucket, parse_rate_limits


class FakeTime:
    def __init__(self):
        self.now, self.slept = 100.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_its_burst_then_spaces_requests_at_its_rate():
    t = FakeTime()
    bucket = TokenBucket(10, burst=2, clock=t.clock, sleep=t.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0.1, 0.1, 0.1])
    t.now += 1.0  # a quiet second refills the burst, never more
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_try_take_refuses_without_waiting():
    t = FakeTime()
    bucket = TokenBucket(1, clock=t.clock, sleep=t.sleep)
    assert (bucket.try_take(), bucket.try_take(), t.slept) == (True, False, [])
    t.now += 1.0
    assert bucket.try_take()


def test_rate_limit_syntax():
    assert parse_rate_limits("PutImage=5, InitiateLayerUpload=0.5,") == {"PutImage": 5.0, "InitiateLayerUpload": 0.5}
    for bad in ("PutImage", "PutImage=fast", "3x"):
        with pytest.raises(UsageError, match="OPERATION=REQUESTS_PER_SECOND"):
            parse_rate_limits(bad)


def test_quotas_environment_and_flags_in_that_order(monkeypatch):
    monkeypatch.setenv(pacing.ENV_VAR, "PutImage=3,UploadLayerPart=0")
    rates = {op: b.rate for op, b in Pacer("ecr-public", {"PutImage": 7})._buckets.items()}
    assert rates["PutImage"] == 7  # the flag wins over the environment, which wins over the quota
    assert "UploadLayerPart" not in rates  # 0: not paced
    assert rates["InitiateLayerUpload"] == QUOTAS["ecr-public"]["InitiateLayerUpload"]


def test_cli_rate_limit_flags_become_push_options():
    args = cli.build_parser("push").parse_args(["push", "x.oci", "public.ecr.aws/a1/r:1", "--rate-limit",
                                                "PutImage=2", "--rate-limit", "UploadLayerPart=50"])
    assert cli.transfer_options(args).rate_limits == {"PutImage": 2.0, "UploadLayerPart": 50.0}
    bad = cli.build_parser("push").parse_args(["push", "x.oci", "public.ecr.aws/a1/r:1", "--rate-limit", "PutImage"])
    with pytest.raises(UsageError):
        cli.transfer_options(bad)


@server_fixture
def recorded_waits(tmp_path, monkeypatch):
    """The local endpoint, and every pacing wait a push would sleep, by operation (recorded, not slept)."""
    from pypush.server import LocalEndpoint

    waits = collections.defaultdict(list)

    class Recording(TokenBucket):
        def __init__(self, rate, burst=1.0):
            super().__init__(rate, burst, sleep=lambda s: None)

        def acquire(self) -> float:
            wait = super().acquire()
            waits[self.op].append(wait)
            return wait

    real_init = Pacer.__init__

    def init(self, service, overrides=None):
        real_init(self, service, overrides)
        for op, bucket in self._buckets.items():
            bucket.op = op

    monkeypatch.setattr(pacing, "TokenBucket", Recording)
    monkeypatch.setattr(Pacer, "__init__", init)
    with LocalEndpoint(data_dir=tmp_path / "d", part_size=256 << 10) as ep:
        yield ep, waits


def test_every_ecr_request_is_paced_at_the_rate_asked(recorded_waits):
    ep, waits = recorded_waits
    result = pypush.push(FIXTURES / "small.oci", "public.ecr.aws/local/paced:1", tags=["2", "3"],
                         endpoint_url=ep.url, create_repository=True, compression="keep",
                         rate_limits={"PutImage": 0.01, "UploadLayerPart": 0.01})
    assert result.manifests == 1 and result.blobs_pushed == 4
    # one request a hundred seconds: the first goes at once, each later one waits its turn
    assert len(waits["PutImage"]) == 3 and waits["PutImage"][0] == 0 and min(waits["PutImage"][1:]) > 50
    parts = waits["UploadLayerPart"]  # the hand-built requests are paced like botocore's
    assert len(parts) >= 4 and sorted(parts)[1] > 50
    assert max(waits["InitiateLayerUpload"]) < 1  # the published quota (10/s) for the rest
