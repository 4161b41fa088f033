"""The `pypush serve` command line (also `python -m pypush.server`): its options, and the endpoint run in
the foreground until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from pypush.errors import UsageError
from pypush.server.store.store import UPLOAD_LIFETIME

DEFAULT_PART_SIZE = 10 * 1024 * 1024


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
    parser.add_argument("--entitlements", metavar="FILE",
                        help="buyers' Marketplace entitlements, JSON {\"ACCOUNT\": [\"PRODUCT\", ...]}: the "
                             "DescribeEntitled* operations and premium pulls answer by it (a request signed with a "
                             "12-digit access key id is that account's)")
    parser.add_argument("--scan-findings", metavar="FILE",
                        help="image scan findings to serve, JSON {\"DIGEST\": {\"findings\": [...], ...}}; other "
                             "images' scans are FINDINGS_UNAVAILABLE")
    parser.add_argument("--faults", default=os.environ.get("PYPUSH_SERVE_FAULTS"),
                        help="inject faults, e.g. seed=1,error=0.05,throttle=0.02,drop=0.01,delay=0.05 "
                             "(env PYPUSH_SERVE_FAULTS)")


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
                                 scan_findings=args.scan_findings)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: choose 0 (any free port) to 65535")
    try:
        endpoint.start()
    except (OSError, OverflowError) as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(endpoint.url, flush=True)
        print(f"serving ECR Public (alias {args.alias}, registry {args.registry_id}) and /v2/ on {endpoint.url}; "
              f"data in {endpoint.data_dir}; the gallery is at {endpoint.url}/", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        endpoint.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
