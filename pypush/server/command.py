"""The `pypush serve` command line (also `python -m pypush.server`): its options, and the endpoint run in
the foreground until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import textwrap
from contextlib import contextmanager
from typing import Iterator, List, Optional

from pypush.errors import UsageError
from pypush.server.store.store import UPLOAD_LIFETIME

DEFAULT_PART_SIZE = 10 * 1024 * 1024

POLICIES = textwrap.fill(
    "Set with SetRepositoryPolicy / SetPremiumRepositoryPolicy. ENFORCED: statements whose Principal is \"*\" "
    "or {\"AWS\": \"*\"} with no Condition, matched by Action/NotAction (wildcards * and ?, any case) and "
    "Resource, for the ECR Public calls BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart, "
    "CompleteLayerUpload, PutImage and BatchDeleteImage, and the /v2/ uploads, manifest PUTs and DELETEs that "
    "amount to them. An explicit Deny wins; otherwise the call is allowed (there is no IAM here). A denied API "
    "call answers AccessDeniedException (HTTP 400), a denied /v2/ write 403 DENIED. STORED, NOT ENFORCED: "
    "statements with a Condition, naming other principals, or with NotPrincipal or NotResource; all other "
    "actions (reads and pulls, repository, policy and catalog calls); private ECR API calls.", 78)
"""What `serve --help` says of repository policies (aws/policy.py enforces them)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `pypush serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--data", metavar="DIR", help="data directory, one server at a time (default: a temporary one, "
                                                         "removed at exit)")
    parser.add_argument("--part-size", type=int, default=DEFAULT_PART_SIZE,
                        help="partSize InitiateLayerUpload returns (bytes, default 10 MiB)")
    parser.add_argument("--enforce-quotas", action="store_true",
                        help="throttle operations at the published ECR rates (ThrottlingException)")
    parser.add_argument("--access-key", default=os.environ.get("PYPUSH_SERVE_ACCESS_KEY"),
                        help="verify SigV4 signatures made with this key (env PYPUSH_SERVE_ACCESS_KEY)")
    parser.add_argument("--secret-key", default=os.environ.get("PYPUSH_SERVE_SECRET_KEY"),
                        help="its secret (env PYPUSH_SERVE_SECRET_KEY)")
    parser.add_argument("--alias", default="local", help="registry alias (public.ecr.aws/ALIAS/...)")
    parser.add_argument("--registry-id", default="123456789012", help="12-digit registry id")
    parser.add_argument("--registry-quirks", default="",
                        help="ECR registry behaviours of /v2/: patch-201 and min-chunk by default; add "
                             "single-patch, no-restart, no-create; remove with -NAME; profiles: ecr (default), "
                             "spec (the distribution spec as the OCI conformance suite checks it), all, none")
    parser.add_argument("--registry-login", choices=("public", "private"), default="public",
                        help="/v2/ login: public (Bearer challenge, anonymous pulls; ECR Public) or "
                             "private (Basic challenge, credentials for everything; private ECR)")
    parser.add_argument("--upload-lifetime", type=float, default=UPLOAD_LIFETIME, metavar="SECONDS",
                        help="discard unfinished uploads (ECR API and /v2/ sessions) that received no part for "
                             f"this long (default {UPLOAD_LIFETIME:.0f}: 24 hours)")
    parser.add_argument("--header-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="close connections whose request line and headers take longer (default 60)")
    premium = parser.add_argument_group("premium repositories (docs/local-endpoint-premium.md)")
    premium.add_argument("--premium-port", type=int, default=0,
                         help="port of the premium repositories' registry door, which premiumRegistryUri names "
                              "(default 0: pick a free one)")
    premium.add_argument("--unverified-registry", action="store_true",
                         help="stub: the registry is not verified with an approved custom alias "
                              "(CreatePremiumRepository answers ValidationException, premiumStatus DISABLED)")
    premium.add_argument("--owned-products", metavar="ID,ID", default=None,
                         help="stub: the Marketplace products the account owns with the ECR Public Premium delivery "
                              "option (default: any well-formed id)")
    premium.add_argument("--public-products", metavar="ID,ID", default=None,
                         help="stub: the Marketplace products that are PUBLIC (default: all)")
    premium.add_argument("--clock-offset", type=float, metavar="SECONDS",
                         default=os.environ.get("PYPUSH_SERVE_CLOCK_OFFSET", "0"),
                         help="run the endpoint's clock this far ahead (uploads expire, deprecated images fall due, pulls are "
                              "counted by it; env PYPUSH_SERVE_CLOCK_OFFSET)")
    premium.add_argument("--entitlements", metavar="FILE",
                        help="buyers' Marketplace entitlements, JSON {\"ACCOUNT\": [\"PRODUCT\", ...]}: the "
                             "DescribeEntitled* operations and premium pulls answer by it (a request signed with a "
                             "12-digit access key id is that account's)")
    premium.add_argument("--scan-findings", metavar="FILE",
                        help="image scan findings to serve, JSON {\"DIGEST\": {\"findings\": [...], ...}}; other "
                             "images' scans are FINDINGS_UNAVAILABLE")
    parser.add_argument("--faults", default=os.environ.get("PYPUSH_SERVE_FAULTS"),
                        help="inject faults, e.g. seed=1,error=0.05,throttle=0.02,drop=0.01,delay=0.05 "
                             "(env PYPUSH_SERVE_FAULTS)")
    parser.add_argument_group("repository policies", POLICIES)


def _ids(value: Optional[str]) -> Optional[List[str]]:
    """A comma-separated list of Marketplace product ids (None: the stub accepts any)."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; prints the URL as the first line of stdout."""
    from pypush.server.endpoint import LocalEndpoint
    from pypush.server.aws.limits import FaultPlan

    if (args.access_key is None) != (args.secret_key is None):
        raise UsageError("--access-key and --secret-key go together")
    try:
        faults = FaultPlan.parse(args.faults) if args.faults else None
    except ValueError as e:
        raise UsageError(f"--faults: {e}") from None
    try:
        endpoint = LocalEndpoint(data_dir=args.data, host=args.host, port=args.port, part_size=args.part_size,
                                 enforce_quotas=args.enforce_quotas, access_key=args.access_key,
                                 secret_key=args.secret_key, alias=args.alias, registry_id=args.registry_id,
                                 faults=faults, registry_quirks=args.registry_quirks,
                                 login=args.registry_login, header_timeout=args.header_timeout,
                                 upload_lifetime=args.upload_lifetime, entitlements=args.entitlements,
                                 scan_findings=args.scan_findings,
                                 premium_port=args.premium_port, verified_registry=not args.unverified_registry,
                                 owned_products=_ids(args.owned_products), public_products=_ids(args.public_products),
                                 clock_offset=args.clock_offset)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for flag, port in (("--port", args.port), ("--premium-port", args.premium_port)):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} {port}: choose 0 (any free port) to 65535")
    try:
        endpoint.start()
    except (OSError, OverflowError) as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e}") from None
    try:
        with _signals_wake(signal.SIGTERM, signal.SIGINT) as woken:
            print(endpoint.url, flush=True)
            print(f"serving ECR Public (alias {args.alias}, registry {args.registry_id}) and /v2/ on {endpoint.url}; "
                  f"data in {endpoint.data_dir}; the gallery is at {endpoint.url}/; premium repositories' /v2/ on "
                  f"{endpoint.premium_url}", file=sys.stderr, flush=True)
            select.select([woken], [], [])
    finally:
        endpoint.stop()
    return 0


@contextmanager
def _signals_wake(*signals: int) -> Iterator[socket.socket]:
    """A socket that becomes readable when one of ``signals`` arrives.

    The signals' C-level handler writes to it (``signal.set_wakeup_fd``), so the main thread waits in
    ``select`` rather than on a lock: PyPy can miss a signal that arrives during a timed lock wait, and
    the process then never stops.
    """
    woken, wake = socket.socketpair()
    wake.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wake.fileno())
    previous = {s: signal.signal(s, lambda signum, frame: None) for s in signals}
    try:
        yield woken
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(previous_fd)
        woken.close()
        wake.close()
