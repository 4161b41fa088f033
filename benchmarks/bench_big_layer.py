#!/usr/bin/env python3
"""One big plain layer (``--compression keep``): pypush over v2 (docker-registry) and through the ECR API
(``pypush serve``), skopeo over v2 beside them, at 200 MB and 2 GiB: wall time and peak RSS.

    python3 benchmarks/bench_big_layer.py [--sizes 200M,2G] [--runs 1] [--dir /tmp] [--no-skopeo]

Each size builds a one-layer OCI layout (an uncompressed tar of pseudo-random bytes) in a temporary
directory under --dir, removed at the end; every push goes into a fresh server whose data lives in
/dev/shm. Goals: the ECR path within 1.2x of the v2 path at 2 GiB; peak RSS flat (within 10 %) from
the smallest size to the largest on every path.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import cold_skopeo, docker_registry, machine, measure, pypush_endpoint, skopeo_policy  # noqa: E402

CHUNK = 8 << 20


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def make_layout(path: Path, size: int) -> None:
    """An OCI layout, tagged ``1``, whose one layer is a plain tar holding ``size`` pseudo-random bytes."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tmp = blobs / "layer.tmp"
    h = hashlib.sha256()
    header = b"big.bin".ljust(100, b"\0") + b"0000644\0" + b"0000000\0" * 2 + f"{size:011o}\0".encode() + \
        b"00000000000\0" + b" " * 8 + b"0"
    header = header.ljust(512, b"\0")
    header = header[:148] + f"{sum(header):06o}\0 ".encode() + header[156:]
    seed = hashlib.sha256(b"pypush").digest()
    with open(tmp, "wb") as f:
        for piece in (header,):
            f.write(piece)
            h.update(piece)
        left = size
        block = os.urandom(CHUNK)
        i = 0
        while left > 0:
            piece = block[:min(CHUNK, left)]
            piece = seed + i.to_bytes(8, "big") + piece[40:] if len(piece) > 40 else piece  # no two chunks alike
            f.write(piece)
            h.update(piece)
            left -= len(piece)
            i += 1
        tail = b"\0" * (-size % 512) + b"\0" * 1024
        f.write(tail)
        h.update(tail)
    layer_digest = h.hexdigest()
    layer_size = tmp.stat().st_size
    tmp.rename(blobs / layer_digest)

    def put(doc: dict) -> Tuple[str, int]:
        raw = json.dumps(doc).encode()
        digest = hashlib.sha256(raw).hexdigest()
        (blobs / digest).write_bytes(raw)
        return f"sha256:{digest}", len(raw)

    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]}}
    cfg_digest, cfg_size = put(config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest,
                           "size": cfg_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": f"sha256:{layer_digest}", "size": layer_size}]}
    m_digest, m_size = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_digest, "size": m_size,
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200M,2G")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the layouts are written (removed after)")
    ap.add_argument("--no-skopeo", action="store_true")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    policy = skopeo_policy()
    paths = ["pypush v2", "pypush ECR API", *([] if args.no_skopeo else ["skopeo v2"])]
    results: Dict[Tuple[str, int], List[Tuple[float, float]]] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-big-layer-", dir=args.dir))
    try:
        for size in sizes:
            layout = work / f"layout-{size}"
            make_layout(layout, size)
            for _ in range(args.runs):
                for path in paths:
                    server = pypush_endpoint() if path == "pypush ECR API" else docker_registry()
                    try:
                        host = f"127.0.0.1:{server.port}"
                        if path == "pypush v2":
                            cmd = [sys.executable, "-m", "pypush", "push", "-q", "--compression", "keep",
                                   f"oci:{layout}:1", f"{host}/big:1"]
                        elif path == "pypush ECR API":
                            cmd = [sys.executable, "-m", "pypush", "push", "-q", "--compression", "keep",
                                   f"oci:{layout}:1", "public.ecr.aws/local/big:1", "--endpoint-url",
                                   f"http://{host}", "--create-repository"]
                        else:
                            cold_skopeo()
                            cmd = ["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false",
                                   f"oci:{layout}:1", f"docker://{host}/big:1"]
                        run = measure(cmd, env, cwd=ROOT)
                        results.setdefault((path, size), []).append((run.wall, run.rss))
                        print(f"  {path:16} {size / 1e6:8.0f} MB  {run.wall:7.2f} s  peak RSS {run.rss:6.1f} MiB",
                              flush=True)
                    finally:
                        server.stop()
            shutil.rmtree(layout, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n# {machine()}; medians of {args.runs}; servers' data in /dev/shm\n")
    print(f"{'path':16} " + " ".join(f"{s / 1e6:>9.0f} MB s  RSS MiB" for s in sizes))
    for path in paths:
        cells = []
        for size in sizes:
            runs = results[(path, size)]
            cells.append(f"{statistics.median(w for w, _ in runs):>12.2f}  {max(r for _, r in runs):7.1f}")
        print(f"{path:16} " + " ".join(cells))
    big, small = max(sizes), min(sizes)
    wall = {p: statistics.median(w for w, _ in results[(p, big)]) for p in paths}
    print(f"\nECR API / v2 at {big / 1e6:.0f} MB: {wall['pypush ECR API'] / wall['pypush v2']:.2f}x (goal <= 1.2)")
    for path in paths:
        lo, hi = max(r for _, r in results[(path, small)]), max(r for _, r in results[(path, big)])
        print(f"{path}: peak RSS {lo:.1f} -> {hi:.1f} MiB ({(hi / lo - 1) * 100:+.0f} %; goal within 10 %)")


if __name__ == "__main__":
    main()
