"""Issue 3 benchmark: pypush through the ECR API into `pypush serve` vs skopeo over v2 into docker-registry.

Same ~200 MB OCI layout (5 gzip layers), both servers in their own processes on loopback, median of 3.
Usage: python benchmarks/bench_push_ecr.py [--runs N]
"""
from __future__ import annotations

import argparse
import sys

from common import (cold_skopeo, docker_registry, ensure_big_fixtures, machine, measure, median_runs,
                    print_table, pypush_endpoint, skopeo_policy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    fixtures = ensure_big_fixtures()
    layout = fixtures / "big.oci"
    size = sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())
    policy = skopeo_policy()
    rows = []

    def skopeo_cold():
        reg = docker_registry()
        try:
            cold_skopeo()
            return measure(["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false",
                            f"oci:{layout}:1", f"docker://127.0.0.1:{reg.port}/big:1"])
        finally:
            reg.stop()

    def pypush_cmd(port: int):
        return [sys.executable, "-m", "pypush", "push", "-q", f"oci:{layout}:1", "public.ecr.aws/local/big:1",
                "--endpoint-url", f"http://127.0.0.1:{port}", "--create-repository", "--compression", "keep"]

    server_rss = [0.0]

    def pypush_cold():
        ep = pypush_endpoint()
        try:
            result = measure(pypush_cmd(ep.port))
            server_rss[0] = max(server_rss[0], ep.peak_rss_mib())
            return result
        finally:
            ep.stop()

    def pypush_warm():
        ep = pypush_endpoint()
        try:
            measure(pypush_cmd(ep.port))
            return measure(pypush_cmd(ep.port))
        finally:
            ep.stop()

    for name, fn in [("skopeo copy → docker-registry (v2), cold", skopeo_cold),
                     ("pypush push → pypush serve (ECR API), cold", pypush_cold),
                     ("pypush push → pypush serve (ECR API), all present", pypush_warm)]:
        run = median_runs(args.runs, fn)
        rows.append((name, f"{run.wall:.2f}", f"{size / run.wall / 1e6:.0f}", f"{run.cpu:.2f}", f"{run.rss:.0f}"))
    print(f"machine: {machine()}")
    print(f"image: {layout} ({size / 1e6:.1f} MB of blobs), median of {args.runs}; server data in /dev/shm; "
          f"wall time includes process start; peak RSS of the pushing process (os.wait4)")
    print_table("push of the big OCI layout", rows, ("run", "wall s", "MB/s", "client CPU s", "client peak RSS MiB"))
    print(f"\npypush serve peak RSS during cold pushes: {server_rss[0]:.0f} MiB")
    sk, cold, warm = float(rows[0][1]), float(rows[1][1]), float(rows[2][1])
    print(f"pypush (ECR API) / skopeo (v2) wall time: {cold / sk:.2f}x (goal <= 0.75x); re-push {warm:.2f} s "
          f"(goal <= 0.25 s); client peak RSS {rows[1][4]} MiB (goal <= 80)")


if __name__ == "__main__":
    main()
