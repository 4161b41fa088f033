"""Issue 13 benchmark: registry-to-registry copies of the ~200 MB image.

1. docker-registry → a fresh docker-registry: ``pypush copy docker://… HOST/…`` beside
   ``skopeo copy docker://… docker://…`` (goals: pypush ≤ 0.7× skopeo's wall time, client peak RSS ≤ 60 MiB);
2. docker-registry → a fresh ``pypush serve`` through the ECR API (goal ≤ 1.0× skopeo's time in 1);
3. the floor: benchmarks/floor_client.py streams each GET into its PUT and hashes nothing (as crane would),
   so its time is what the two registries alone cost on the shared cores.

The source registry is seeded once by skopeo; every measured copy goes into a fresh destination; runs are
interleaved so that machine noise hits every tool alike. Each run is its own process: wall time includes
interpreter start, peak RSS is the child's own (os.wait4). Medians of ``--runs``.

Usage: python benchmarks/bench_copy.py [--runs N] [--jobs N]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List

from common import (Run, Server, cold_skopeo, docker_registry, ensure_big_fixtures, machine, measure, print_table,
                    pypush_endpoint, skopeo_policy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=4, help="pypush --jobs (default 4)")
    args = ap.parse_args()
    layout = ensure_big_fixtures() / "big.oci"
    size = sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())
    policy = skopeo_policy()
    source = docker_registry()
    src = f"127.0.0.1:{source.port}/bench/app:1"
    try:
        measure(["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:1",
                 f"docker://{src}"])

        def into(fresh: Callable[[], Server], command: Callable[[Server], List[str]], cold: bool = False
                 ) -> Callable[[], Run]:
            """One measured copy into a ``fresh`` destination server, stopped afterwards."""
            def once() -> Run:
                dest = fresh()
                try:
                    if cold:
                        cold_skopeo()
                    return measure(command(dest))
                finally:
                    dest.stop()
            return once

        pypush = [sys.executable, "-m", "pypush", "copy", "-q", "--jobs", str(args.jobs), f"docker://{src}"]
        skopeo = into(docker_registry, lambda d: [
            "skopeo", "--policy", str(policy), "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{src}", f"docker://127.0.0.1:{d.port}/copy:1"], cold=True)
        pypush_v2 = into(docker_registry, lambda d: [*pypush, f"127.0.0.1:{d.port}/copy:1"])
        pypush_ecr = into(pypush_endpoint, lambda d: [*pypush, "public.ecr.aws/local/copy:1", "--endpoint-url",
                                                      f"http://127.0.0.1:{d.port}", "--create-repository"])
        floor = into(docker_registry, lambda d: [
            sys.executable, str(Path(__file__).resolve().parent / "floor_client.py"), "copy",
            f"127.0.0.1:{source.port}", f"127.0.0.1:{d.port}", "bench/app", "1"])

        tools: Dict[str, Callable[[], Run]] = {
            "skopeo copy docker-registry → docker-registry": skopeo,
            "pypush copy docker-registry → docker-registry (v2)": pypush_v2,
            "pypush copy docker-registry → pypush serve (ECR API)": pypush_ecr,
            "floor: GET streamed into PUT, nothing hashed (floor_client.py)": floor}
        runs: Dict[str, List[Run]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, once in tools.items():
                runs[name].append(once())
    finally:
        source.stop()

    def med(name: str) -> float:
        walls = sorted(r.wall for r in runs[name])
        return walls[len(walls) // 2]

    rows = [(name, f"{med(name):.2f}", f"{size / med(name) / 1e6:.0f}",
             f"{sorted(r.cpu for r in rs)[len(rs) // 2]:.2f}", f"{max(r.rss for r in rs):.0f}")
            for name, rs in runs.items()]
    print(f"machine: {machine()}")
    print(f"image: {layout} ({size / 1e6:.1f} MB of blobs), median of {args.runs}; registry data in /dev/shm; "
          f"wall time includes process start; peak RSS of the copying process (os.wait4)")
    print_table("registry-to-registry copy of the big image", rows,
                ("run", "wall s", "MB/s", "client CPU s", "client peak RSS MiB"))
    names = list(tools)
    sk = med(names[0])
    v2_rss = max(r.rss for r in runs[names[1]])
    print(f"\npypush (v2) / skopeo wall time: {med(names[1]) / sk:.2f}x (goal <= 0.70x); "
          f"peak RSS {v2_rss:.0f} MiB (goal <= 60)")
    print(f"pypush (ECR API into pypush serve) / skopeo (registry to registry): {med(names[2]) / sk:.2f}x "
          f"(goal <= 1.00x)")
    print(f"floor (a client that hashes nothing) / skopeo: {med(names[3]) / sk:.2f}x: the registries' own share")
    print("\nall runs (wall s, RSS MiB):",
          json.dumps({n: [(round(r.wall, 3), round(r.rss, 1)) for r in rs] for n, rs in runs.items()}))


if __name__ == "__main__":
    main()
