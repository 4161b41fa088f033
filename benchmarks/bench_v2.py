#!/usr/bin/env python3
"""Benchmark the v2 push: pypush vs `skopeo copy` pushing one ~200 MB OCI layout into docker-registry.

    python3 benchmarks/bench_v2.py [--layout /tmp/fixtures/big.oci] [--runs 3] [--tools pypush,skopeo]

Cold runs push into a fresh docker-registry each (skopeo's blob-info cache deleted first when
BENCH_CLEAR_SKOPEO_CACHE=1); re-push runs
push the same image again into a registry that has every blob. Each run is a separate process: wall
time includes interpreter start, peak RSS is the child's own (os.wait4). Medians of ``--runs``.
Tools (default pypush,skopeo,floor): ``pypush`` (the CLI), ``transport`` (RegistryTransport driven directly
over the layout's blobs with 4 threads: the transport without the engine and readers), ``skopeo``,
``floor`` (benchmarks/floor_client.py: sendfile and nothing else, no hashing, as crane: the registry's share);
``pypush-j2`` etc. set how many blobs go up at once.
Without ``--layout`` and no /tmp/fixtures/big.oci, it is built with shared/tools/make-fixtures.sh.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "support")]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import cold_skopeo, measure  # noqa: E402

DEFAULT_LAYOUT = Path("/tmp/fixtures/big.oci")


def layout_blobs(layout: Path) -> Tuple[dict, bytes, List[dict]]:
    """(index entry, manifest bytes, [config and layer descriptors]) of the layout's first image."""
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    raw = (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes()
    doc = json.loads(raw)
    return entry, raw, [doc["config"], *doc["layers"]]


def direct_push(host: str, repo: str, layout: Path, jobs: int = 4) -> None:
    """The ``transport`` tool: RegistryTransport over the layout's blobs, ``jobs`` threads, then the manifest."""
    from concurrent.futures import ThreadPoolExecutor

    from pypush.image.model import Blob, Descriptor
    from pypush.transports.distribution.destination import RegistryTransport

    entry, raw, descs = layout_blobs(layout)

    def opener(digest: str):
        path = layout / "blobs" / "sha256" / digest.split(":")[1]
        return lambda: open(path, "rb")

    blobs = [Blob(Descriptor(d["mediaType"], d["digest"], d["size"]), opener(d["digest"]), name=d["digest"])
             for d in descs]
    with RegistryTransport(host, repo, insecure=True, lookup_credentials=False) as t:
        t.prepare()
        missing = t.missing([b.descriptor.digest for b in blobs])
        todo = sorted((b for b in blobs if b.descriptor.digest in missing), key=lambda b: -b.descriptor.size)
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda b: t.upload(b, lambda n: None), todo))
        t.put_manifest(raw, entry["mediaType"], entry["digest"], ["1"])


def command(tool: str, layout: Path, host: str, repo: str, policy: Path) -> List[str]:
    """The command line of ``tool``; ``pypush-jN`` and ``transport-jN`` upload N blobs at once."""
    tool, _, jobs = tool.partition("-j")
    if tool == "pypush":
        return [sys.executable, "-m", "pypush", "push", "--insecure", f"oci:{layout}:1", f"{host}/{repo}:1",
                "--jobs", jobs or "4"]
    if tool == "transport":
        return [sys.executable, __file__, "--direct", host, repo, str(layout), jobs or "4"]
    if tool == "floor":  # hashes nothing, sendfile only: what the registry alone costs (see floor_client.py)
        return [sys.executable, str(ROOT / "benchmarks" / "floor_client.py"), "push", str(layout), host, repo, "1"]
    if tool == "skopeo":
        return ["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false",
                f"oci:{layout}:1", f"docker://{host}/{repo}:1"]
    raise SystemExit(f"unknown tool {tool}")


def ensure_layout(path: Path, explicit: bool) -> Path:
    if path.exists():
        return path
    tool = next((p for p in (ROOT.parent / "shared" / "tools" / "make-fixtures.sh",
                             Path("/work/shared/tools/make-fixtures.sh")) if p.exists()), None)
    if explicit or tool is None:
        raise SystemExit(f"{path} does not exist (build it: ONLY=big bash make-fixtures.sh {path.parent})")
    print(f"building {path} with {tool} ...", file=sys.stderr)
    subprocess.run(["bash", str(tool), str(path.parent)], env={**os.environ, "ONLY": "big"}, check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="pypush,skopeo,floor", help="comma-separated; also transport, pypush-jN")
    ap.add_argument("--registry-dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                    help="where the registries store blobs (default /dev/shm: no disk noise, no fsync cost)")
    ap.add_argument("--direct", nargs=4, metavar=("HOST", "REPO", "LAYOUT", "JOBS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.direct:
        host, repo, layout, jobs = args.direct
        return direct_push(host, repo, Path(layout), int(jobs))

    from conftest import DockerRegistry  # the tests' docker-registry runner (own config, loopback port)

    layout = ensure_layout(args.layout or DEFAULT_LAYOUT, args.layout is not None)
    _, _, descs = layout_blobs(layout)
    size = sum(d["size"] for d in descs)
    tools = [t for t in args.tools.split(",") if t]
    if "skopeo" in tools and not shutil.which("skopeo"):
        raise SystemExit("skopeo is not installed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc cached
    work = Path(tempfile.mkdtemp(prefix="bench-v2-", dir=args.registry_dir))
    policy = work / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))

    cold: Dict[str, List[Tuple[float, float]]] = {t: [] for t in tools}
    warm: Dict[str, List[Tuple[float, float]]] = {t: [] for t in tools}
    try:
        for run in range(args.runs):
            for tool in tools:  # interleaved, so that machine noise hits every tool alike
                reg = DockerRegistry(work / f"{tool}-{run}")
                try:
                    if tool == "skopeo":
                        cold_skopeo()
                    for runs in (cold, warm):
                        run_ = measure(command(tool, layout, reg.host, "bench/app", policy), env, cwd=ROOT)
                        runs[tool].append((run_.wall, run_.rss))
                finally:
                    reg.stop()
                    shutil.rmtree(reg.root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{layout}: {len(descs)} blobs, {size / 1e6:.1f} MB; medians of {args.runs} runs, "
          f"wall time including process start; peak RSS of the pushing process; registry data in {work.parent}\n")
    head = f"{'tool':<12} {'cold s':>8} {'MB/s':>7} {'cold RSS MiB':>13} {'re-push s':>10} {'re-push RSS MiB':>16}"
    print(head)
    print("-" * len(head))
    med = {}
    for tool in tools:
        c = statistics.median(w for w, _ in cold[tool])
        r = statistics.median(w for w, _ in warm[tool])
        med[tool] = (c, r)
        print(f"{tool:<12} {c:>8.3f} {size / c / 1e6:>7.0f} {max(m for _, m in cold[tool]):>13.1f} "
              f"{r:>10.3f} {max(m for _, m in warm[tool]):>16.1f}")
    if "skopeo" in med:
        for tool in (t for t in tools if t != "skopeo"):
            goals = (" (goal <= 0.55); re-push {:.3f} s (goal <= 0.10 s); peak RSS {:.1f} MiB (goal <= 30)"
                     if tool == "pypush" else "; re-push {:.3f} s; peak RSS {:.1f} MiB")
            rss = max(m for runs in (cold, warm) for _, m in runs[tool])
            print(f"\n{tool}: cold = {med[tool][0] / med['skopeo'][0]:.2f}x skopeo" + goals.format(med[tool][1], rss))
    print("\nall runs (wall s, RSS MiB):", json.dumps({"cold": cold, "re-push": warm}))


if __name__ == "__main__":
    main()
