#!/usr/bin/env python3
"""Compression benchmark: raw compressor throughput, then pypush vs skopeo pushing the same
plain-layer `docker save` tarball into a fresh docker-registry on loopback.

    python3 benchmarks/bench_compression.py [--tarball /tmp/fixtures/big.docker-archive.tar] [--runs 3]

The tarball comes from `ONLY=big bash /work/shared/tools/make-fixtures.sh /tmp/fixtures` (~400 MB of
plain layers). Every push goes into a new registry (cold), with skopeo's blob-info cache deleted and
pypush's layer cache empty; the "re-push" row pushes again into the same registry with the cache
warm. Rounds are interleaved (each case once per round); times are medians of --runs; CPU is the
pusher's user + system time, printed beside the registry's (both share the two cores), which other
load on the machine disturbs less than wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from common import docker_registry, may_clear_skopeo_cache, measure, wait_for_idle  # noqa: E402

SKOPEO_CACHES = ("/var/lib/containers/cache/blob-info-cache-v1.boltdb",
                 os.path.expanduser("~/.local/share/containers/cache/blob-info-cache-v1.boltdb"))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def plain_layers(tarball: str) -> List[Tuple[str, Callable]]:
    """(digest, opener) of the image's layers, read with pypush's own source reader."""
    from pypush.image.model import walk
    from pypush.sources import open_source

    node = open_source(f"docker-archive:{tarball}").root
    return [(b.descriptor.digest, b.open) for n in walk(node) for b in getattr(n, "layers", [])]


def _drain(stream, size: int = 1 << 20) -> int:
    n = 0
    while True:
        chunk = stream.read(size)
        if not chunk:
            return n
        n += len(chunk)


def _zlib_single(level: int) -> Callable:
    def run(src) -> int:
        c, n = zlib.compressobj(level, zlib.DEFLATED, 31), 0
        while True:
            data = src.read(1 << 20)
            if not data:
                return n + len(c.flush())
            n += len(c.compress(data))
    return run


def throughput_rows(layers, sample_mb: int) -> List[Tuple[str, float, float, float]]:
    """(name, MB/s of input, ratio, seconds) per compressor; single-threaded zlib on a sample only."""
    from pypush.transform import compress
    from pypush.transform.compress import ParallelGzipReader, ZstdReader, cpu_threads

    def zlib_backend(level: int) -> Callable:
        def run(s) -> int:
            saved, compress._backend = compress.gzip_backend(), "zlib"
            try:
                return _drain(ParallelGzipReader(s, level))
            finally:
                compress._backend = saved
        return run

    limit = sample_mb << 20
    cases: List[Tuple[str, Callable, Optional[int]]] = [
        ("zlib L1, 1 thread (stdlib gzip)", _zlib_single(1), limit),
        ("zlib L6, 1 thread (stdlib gzip)", _zlib_single(6), limit),
        ("pypush gzip L1, 1 thread", lambda s: _drain(ParallelGzipReader(s, 1, threads=1)), limit),
        (f"pypush gzip L1, {cpu_threads()} threads, same sample", lambda s: _drain(ParallelGzipReader(s, 1)), limit),
        (f"pypush gzip L1, {cpu_threads()} threads ({compress.gzip_backend()})",
         lambda s: _drain(ParallelGzipReader(s, 1)), None),
        (f"pypush gzip L2, {cpu_threads()} threads ({compress.gzip_backend()})",
         lambda s: _drain(ParallelGzipReader(s, 2)), None),
        (f"pypush gzip L1, {cpu_threads()} threads (zlib)", zlib_backend(1), None),
        (f"pypush gzip L6, {cpu_threads()} threads", lambda s: _drain(ParallelGzipReader(s, 6)), None),
        ("zstd L3, 1 thread", lambda s: _drain(ZstdReader(s, 3, threads=1)), None),
        (f"pypush zstd L3, {cpu_threads()} threads", lambda s: _drain(ZstdReader(s, 3)), None),
        (f"pypush zstd L1, {cpu_threads()} threads", lambda s: _drain(ZstdReader(s, 1)), None),
    ]
    rows = []
    for name, fn, cap in cases:
        n_in = n_out = 0
        t0 = time.perf_counter()
        for _, opener in layers:
            if cap is not None and n_in >= cap:
                break
            with opener() as f:
                data_in = _Limited(f, None if cap is None else cap - n_in)
                n_out += fn(data_in)
                n_in += data_in.count
        dt = time.perf_counter() - t0
        rows.append((name, n_in / dt / 1e6, n_out / n_in, dt))
        print(f"  {name:38} {n_in / dt / 1e6:8.1f} MB/s  ratio {n_out / n_in:.3f}  ({n_in / 1e6:.0f} MB)", flush=True)
    return rows


class _Limited:
    def __init__(self, f, limit: Optional[int]):
        self.f, self.left, self.count = f, limit, 0

    def read(self, n: int = -1) -> bytes:
        if self.left is not None:
            n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.count += len(data)
        if self.left is not None:
            self.left -= len(data)
        return data

    def close(self) -> None:
        pass


def push_rows(tarball: str, runs: int, tmp: Path, idle: float) -> List[Tuple[str, float, float, int, int]]:
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    size = os.path.getsize(tarball)
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def skopeo(extra: List[str]) -> Callable[[str, int], List[str]]:
        def cmd(host: str, i: int) -> List[str]:
            for p in SKOPEO_CACHES:
                if may_clear_skopeo_cache() and os.path.exists(p):
                    os.remove(p)
            return ["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false", *extra,
                    f"docker-archive:{tarball}", f"docker://{host}/bench/skopeo:{i}"]
        return cmd

    def pypush(algo: str, *extra: str, gzip_with: str = "") -> Callable[[str, int], List[str]]:
        def cmd(host: str, i: int) -> List[str]:
            return [*(["env", f"PYPUSH_GZIP={gzip_with}"] if gzip_with else []), sys.executable, "-m", "pypush", "push", tarball, f"{host}/bench/pypush:{i}", "--insecure",
                    "--compression", algo, "--format", "json", *extra]
        return cmd

    cases = [
        ("skopeo copy (gzip)", skopeo([]), False),
        ("skopeo copy --dest-compress-format zstd", skopeo(["--dest-compress-format", "zstd"]), False),
        ("pypush --compression gzip", pypush("gzip"), False),
        ("pypush --compression gzip, PYPUSH_GZIP=zlib", pypush("gzip", gzip_with="zlib"), False),
        ("pypush --compression zstd", pypush("zstd"), False),
        ("pypush --compression zstd --compression-level 1", pypush("zstd", "--compression-level", "1"), False),
        ("pypush gzip re-push, warm cache", pypush("gzip"), True),
    ]
    # Interleaved rounds (every case once per round): load from other work on a shared machine then
    # disturbs every case alike, and the per-round ratios to the first case stay comparable.
    runs_of: Dict[str, List[Tuple[float, float, float, int, float]]] = {name: [] for name, _, _ in cases}
    loads, idles = [], []
    for i in range(runs):
        loads.append(os.getloadavg()[0])
        for name, make_cmd, warm in cases:
            reg = docker_registry()
            cache_dir = Path(tempfile.mkdtemp(dir=tmp))
            run_env = dict(env, PYPUSH_CACHE_DIR=str(cache_dir))
            try:
                host = f"127.0.0.1:{reg.port}"
                if warm:
                    measure(make_cmd(host, i), run_env)
                if idle:
                    idles.append(wait_for_idle(idle, 300))
                before = _cpu_seconds(reg.proc.pid)
                dt, cpu, rss = measure(make_cmd(host, i), run_env)
                runs_of[name].append((dt, cpu, rss, reg.stored_bytes(), _cpu_seconds(reg.proc.pid) - before))
            finally:
                reg.stop()
                shutil.rmtree(cache_dir, ignore_errors=True)
    rows = []
    first = runs_of[cases[0][0]]
    for name, _, _ in cases:
        runs_ = runs_of[name]
        times = [r[0] for r in runs_]
        med, cpu = statistics.median(times), statistics.median(r[1] for r in runs_)
        rss, stored = max(r[2] for r in runs_), runs_[-1][3]
        ratio = statistics.median(r[0] / f[0] for r, f in zip(runs_, first))
        rows.append((name, med, cpu, rss, stored))
        print(f"  {name:48} {med:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}; per-round ratio to the first "
              f"case {ratio:.2f})  {size / med / 1e6:.0f} MB/s, CPU {cpu:.2f} s, peak RSS {rss:.0f} MiB, registry CPU "
              f"{statistics.median(r[4] for r in runs_):.2f} s, registry holds {stored / 1e6:.1f} MB", flush=True)
    print(f"  load average (1 min) at the start of each round: {', '.join(f'{x:.2f}' for x in loads)}"
          + (f"; machine idle before runs: {', '.join(f'{x:.0%}' for x in idles)}" if idles else ""))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", default="/tmp/fixtures/big.docker-archive.tar")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample-mb", type=int, default=100, help="input for the single-threaded rows")
    ap.add_argument("--skip-push", action="store_true", help="compressor throughput only")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SHARE",
                    help="before each push, wait (up to 5 min) until the machine is this idle, e.g. 0.9")
    args = ap.parse_args(argv)
    if not os.path.exists(args.tarball):
        print(f"{args.tarball} missing: ONLY=big bash /work/shared/tools/make-fixtures.sh /tmp/fixtures", file=sys.stderr)
        return 2
    from pypush.transform.compress import compressor_id, cpu_threads

    print(f"# {cpu_threads()} cores; {compressor_id('gzip')}; {compressor_id('zstd')}")
    layers = plain_layers(args.tarball)
    print(f"# {args.tarball}: {len(layers)} layers\n\nCompressor throughput (input MB/s, output/input):")
    throughput_rows(layers, args.sample_mb)
    if args.skip_push:
        return 0
    for tool in ("skopeo", "docker-registry"):
        if not shutil.which(tool):
            print(f"{tool} missing: apt-get install -y skopeo docker-registry", file=sys.stderr)
            return 2
    print(f"\nPush of {os.path.getsize(args.tarball) / 1e6:.1f} MB docker-archive into a fresh docker-registry "
          f"(median of {args.runs}):")
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as tmp:
        rows = push_rows(args.tarball, args.runs, Path(tmp), args.wait_idle)
    base = rows[0][1]
    print(f"\n| {'case':48} | wall s | × skopeo gzip | CPU s | peak RSS MiB | registry MB |")
    print(f"|{'-' * 50}|-------:|--------------:|------:|-------------:|------------:|")
    for name, med, cpu, rss, stored in rows:
        print(f"| {name:48} | {med:6.2f} | {med / base:13.2f} | {cpu:5.2f} | {rss:12.0f} | {stored / 1e6:11.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
