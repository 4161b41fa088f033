#!/usr/bin/env python3
"""Many images in one run: 20 images sharing big.oci's layers, each adding its own 4 MiB layer, pushed
into 20 repositories of one docker-registry with ``pypush push --plan``, beside one such image alone.

    python3 benchmarks/bench_plan.py [--layout /tmp/fixtures/big.oci] [--images 20] [--runs 3] [--skopeo]

Rows (each run in a fresh docker-registry; medians of --runs; wall time includes process start):
``one image`` pushes image 0 alone; ``cold plan`` the whole plan; ``plan again`` re-runs it into the same
registry (every tag already there). With --skopeo, skopeo copies the 20 images one after the other (the
way a script would; its blob-info cache deleted first only with BENCH_CLEAR_SKOPEO_CACHE=1).
Goals: cold plan <= 2x one image; plan again <= 1.0 s.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import FIXTURES_DIR, cold_skopeo, docker_registry, ensure_big_fixtures, machine, measure  # noqa: E402

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _put(layout: Path, data: bytes) -> Dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_images(base: Path, out: Path, count: int) -> List[Path]:
    """``count`` OCI layouts: base's blobs hard-linked, plus one 4 MiB layer of their own (a tar of random
    bytes, gzipped), a config naming its diff_id, and a manifest; tagged ``1``."""
    index = json.loads((base / "index.json").read_text())
    entry = index["manifests"][0]
    manifest = json.loads((base / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())
    config = json.loads((base / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    layouts = []
    for i in range(count):
        layout = out / f"img{i}"
        (layout / "blobs" / "sha256").mkdir(parents=True)
        for blob in (base / "blobs" / "sha256").iterdir():
            os.link(blob, layout / "blobs" / "sha256" / blob.name)
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        payload = os.urandom(4 << 20)
        header = f"extra{i}.bin".encode().ljust(100, b"\0") + b"0000644\0" + b"0" * 7 + b"\0" + b"0" * 7 + b"\0" + \
            f"{len(payload):011o}\0".encode() + b"00000000000\0" + b" " * 8 + b"0"
        header = header.ljust(512, b"\0")
        checksum = sum(header)
        header = header[:148] + f"{checksum:06o}\0 ".encode() + header[156:]
        tar = header + payload + b"\0" * (-len(payload) % 512) + b"\0" * 1024
        layer = dict(_put(layout, gzip.compress(tar, compresslevel=1, mtime=0)), mediaType=OCI_LAYER_GZIP)
        cfg = json.loads(json.dumps(config))
        cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
        cfg_desc = dict(_put(layout, json.dumps(cfg).encode()), mediaType=manifest["config"]["mediaType"])
        doc = dict(manifest, config=cfg_desc, layers=[*manifest["layers"], layer])
        raw = json.dumps(doc).encode()
        desc = dict(_put(layout, raw), mediaType=entry["mediaType"],
                    annotations={"org.opencontainers.image.ref.name": "1"})
        (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
        layouts.append(layout)
    return layouts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layout", type=Path, help="the shared base image (default: big.oci of the fixtures)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skopeo", action="store_true", help="also skopeo copying the images one after the other")
    args = ap.parse_args()
    base = args.layout or (ensure_big_fixtures() if not (FIXTURES_DIR / "big.oci").exists() else FIXTURES_DIR) / "big.oci"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    rows: Dict[str, List[float]] = {"pypush one image": [], "pypush cold plan": [], "pypush plan again": []}
    rss: Dict[str, float] = {}
    if args.skopeo:
        rows["skopeo, images one after the other"] = []
    try:
        layouts = make_images(base, work, args.images)
        policy = work / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        pypush = [sys.executable, "-m", "pypush", "push", "--insecure"]
        for _ in range(args.runs):
            reg = docker_registry()
            try:
                run = measure([*pypush, f"oci:{layouts[0]}:1", f"127.0.0.1:{reg.port}/alone:1"], env, cwd=ROOT)
                rows["pypush one image"].append(run.wall)
            finally:
                reg.stop()
            reg = docker_registry()
            try:
                plan = work / "plan.json"
                plan.write_text(json.dumps([{"source": f"oci:{p}:1", "destination": f"127.0.0.1:{reg.port}/app{i}:1"}
                                            for i, p in enumerate(layouts)]))
                for name in ("pypush cold plan", "pypush plan again"):
                    run = measure([*pypush, "--plan", str(plan)], env, cwd=ROOT)
                    rows[name].append(run.wall)
                    rss[name] = max(rss.get(name, 0.0), run.rss)
            finally:
                reg.stop()
            if args.skopeo:
                reg = docker_registry()
                try:
                    cold_skopeo()
                    total = 0.0
                    for i, p in enumerate(layouts):
                        total += measure(["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false",
                                          f"oci:{p}:1", f"docker://127.0.0.1:{reg.port}/app{i}:1"], env).wall
                    rows["skopeo, images one after the other"].append(total)
                finally:
                    reg.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n# {machine()}\n# {args.images} images = {base.name} + 4 MiB each, into {args.images} repositories "
          f"of one docker-registry; medians of {args.runs}\n")
    med = {name: statistics.median(times) for name, times in rows.items()}
    for name, times in rows.items():
        extra = f", peak RSS {rss[name]:.0f} MiB" if name in rss else ""
        print(f"  {name:40} {med[name]:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}){extra}")
    ratio = med["pypush cold plan"] / med["pypush one image"]
    print(f"\ncold plan = {ratio:.2f}x one image (goal <= 2.0); plan again {med['pypush plan again']:.2f} s "
          f"(goal <= 1.0)")


if __name__ == "__main__":
    main()
