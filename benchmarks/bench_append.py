#!/usr/bin/env python3
"""Benchmark `pypush append`: a 50 MB layer added to the ~200 MB base (big.oci) already in the registry.

    python3 benchmarks/bench_append.py [--runs 3] [--layer-mb 50]

One fresh docker-registry; the base is pushed once (untimed) and mounted into one repository per run.
Side by side, interleaved, each a separate process (interpreter start included), medians of ``--runs``:

- ``push layer alone``: `pypush push` of an image holding only the new layer (the same plain tar the append
  makes, gzip-compressed on the way as append does) into a fresh repository: the floor.
- ``append (local base)``: `pypush append --base oci:big.oci --layer DIR:/app` into a repository holding the
  base: only the new layer and the new config may move.
- ``append (registry base)``: the same with ``--base docker://REGISTRY/base:1`` (the base's manifest and
  config read over HTTP, its layers mounted, never downloaded).

Goal: append ≤ push of the layer alone + 0.3 s, and the bytes pushed are the new layer's (and config's).
The layer's content: 50 MB in 50 files, half random (already-compressed data), half text-like.
``PYPUSH_NO_CACHE=1`` for every run, so no run profits from another's compression cache.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Run, docker_registry, ensure_big_fixtures, machine, measure, print_table  # noqa: E402

WORDS = [w.encode() for w in "the quick brown fox jumps over lazy dog image layer registry push build".split()]


def make_layer_dir(root: Path, total_mb: int) -> Path:
    """``total_mb`` MB in 1 MB files under nested directories: half random, half text-like (seeded)."""
    rng = random.Random(17)
    src = root / "layer-src"
    for i in range(total_mb):
        sub = src / f"pkg{i % 5}" / f"mod{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        if i % 2:
            data = rng.randbytes(1 << 20) if hasattr(rng, "randbytes") else os.urandom(1 << 20)
        else:
            data = b" ".join(rng.choice(WORDS) for _ in range(200_000))[: 1 << 20]
        (sub / f"file{i}.bin").write_bytes(data)
    (src / "bin").mkdir()
    (src / "bin" / "run.sh").write_text("#!/bin/sh\nexec python3 -m app\n")
    (src / "bin" / "run.sh").chmod(0o755)
    return src


def layer_alone_layout(src: Path, out: Path) -> Path:
    """An OCI layout holding one image whose only layer is the plain tar ``append`` makes of ``src``."""
    sys.path.insert(0, str(ROOT))
    from pypush.assemble.layer_spec import Layer
    from pypush.image.model import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256_digest

    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    built = Layer.directory(src, "/app").build(str(out))
    shutil.move(built.path, blobs / built.digest.split(":")[1])
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [built.diff_id]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER, "digest": built.digest, "size": built.size}]}).encode()
    for data in (config, manifest):
        (blobs / sha256_digest(data).split(":")[1]).write_bytes(data)
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layer-mb", type=int, default=50)
    args = parser.parse_args()
    big = ensure_big_fixtures() / "big.oci"
    work = Path(tempfile.mkdtemp(prefix="bench-append-"))
    reg = docker_registry()
    host = f"127.0.0.1:{reg.port}"
    env = {"PYPUSH_NO_CACHE": "1"}
    py = [sys.executable, "-m", "pypush"]
    try:
        src = make_layer_dir(work, args.layer_mb)
        alone = layer_alone_layout(src, work / "alone.oci")
        subprocess.run([*py, "push", "-q", f"oci:{big}:1", f"{host}/base:1", "--compression", "keep"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        cases = {
            "push layer alone": lambda n: [*py, "push", "-q", f"oci:{alone}:1", f"{host}/alone{n}:1"],
            "append (local base)": lambda n: [*py, "append", "-q", "--base", f"oci:{big}:1", "--layer", f"{src}:/app",
                                              f"{host}/local{n}:1"],
            "append (registry base)": lambda n: [*py, "append", "-q", "--base", f"docker://{host}/base:1",
                                                 "--layer", f"{src}:/app", f"{host}/remote{n}:1"],
        }
        runs: Dict[str, List[Run]] = {name: [] for name in cases}
        for n in range(args.runs):
            for repo in (f"local{n}", f"remote{n}"):  # the base already there (mounted: no bytes move)
                subprocess.run([*py, "copy", "-q", f"docker://{host}/base:1", f"{host}/{repo}:base"],
                               check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            for name, cmd in cases.items():
                runs[name].append(measure(cmd(n), env, cwd=ROOT))
        subprocess.run([*py, "copy", "-q", f"docker://{host}/base:1", f"{host}/check:base"], check=True,
                       cwd=ROOT)
        check = subprocess.run([*py, "append", "--base", f"oci:{big}:1", "--layer", f"{src}:/app",
                                f"{host}/check:1", "--format", "json"], capture_output=True, text=True,
                               check=True, cwd=ROOT, env=dict(os.environ, **env))
        result = json.loads(check.stdout)
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    floor = statistics.median(r.wall for r in runs["push layer alone"])
    for name, rs in runs.items():
        wall = statistics.median(r.wall for r in rs)
        rows.append((name, f"{wall:.2f}", f"{wall - floor:+.2f}", f"{statistics.median(r.cpu for r in rs):.2f}",
                     f"{max(r.rss for r in rs):.0f}"))
    print(f"\nbench_append: a {args.layer_mb} MB layer on big.oci (208.6 MB) already in docker-registry; "
          f"{machine()}; medians of {args.runs}")
    print_table("append vs pushing the layer alone", rows, ("run", "wall s", "vs alone", "CPU s", "peak RSS MiB"))
    print(f"\nappend moved {result['blobs_pushed']} blobs ({result['bytes_pushed'] / 1e6:.1f} MB), skipped "
          f"{result['blobs_skipped']}; goal: append <= alone + 0.3 s: "
          + ", ".join(f"{name} {statistics.median(r.wall for r in runs[name]) - floor:+.2f} s"
                      for name in runs if name != "push layer alone"))


if __name__ == "__main__":
    main()
