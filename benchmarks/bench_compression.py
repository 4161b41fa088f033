#!/usr/bin/env python3
"""Compression benchmark: raw compressor throughput, then pypush vs skopeo pushing the same
plain-layer `docker save` tarball into a fresh docker-registry on loopback.

    python3 benchmarks/bench_compression.py [--tarball /tmp/fixtures/big.docker-archive.tar] [--runs 3]

The tarball comes from `ONLY=big bash /work/shared/tools/make-fixtures.sh /tmp/fixtures` (~400 MB of
plain layers). Every push goes into a new registry (cold), with skopeo's blob-info cache deleted and
pypush's layer cache empty; the "re-push" row pushes again into the same registry with the cache
warm. Times are medians of --runs; CPU is the pusher's user + system time (not the registry's),
which other load on the machine disturbs less than wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SKOPEO_CACHES = ("/var/lib/containers/cache/blob-info-cache-v1.boltdb",
                 os.path.expanduser("~/.local/share/containers/cache/blob-info-cache-v1.boltdb"))


def plain_layers(tarball: str) -> List[Tuple[str, Callable]]:
    """(digest, opener) of the image's layers, read with pypush's own source reader."""
    from pypush.model import walk
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
    from pypush.compress import ParallelGzipReader, ZstdReader, cpu_threads

    limit = sample_mb << 20
    cases: List[Tuple[str, Callable, Optional[int]]] = [
        ("zlib L1, 1 thread (stdlib gzip)", _zlib_single(1), limit),
        ("zlib L6, 1 thread (stdlib gzip)", _zlib_single(6), limit),
        ("pypush gzip L1, 1 thread", lambda s: _drain(ParallelGzipReader(s, 1, threads=1)), limit),
        (f"pypush gzip L1, {cpu_threads()} threads", lambda s: _drain(ParallelGzipReader(s, 1)), None),
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


def cpu_idle(seconds: float = 1.0) -> float:
    """Share of CPU time the whole machine spent idle over ``seconds`` (Linux /proc/stat)."""
    def sample() -> List[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    a = sample()
    time.sleep(seconds)
    b = sample()
    delta = [y - x for x, y in zip(a, b)]
    return (delta[3] + delta[4]) / max(1, sum(delta))


def wait_for_idle(threshold: float, max_wait: float) -> float:
    """Block until the machine is at least ``threshold`` idle (or ``max_wait`` passed); the last idle share."""
    deadline = time.monotonic() + max_wait
    idle = cpu_idle()
    while idle < threshold and time.monotonic() < deadline:
        idle = cpu_idle()
    return idle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A fresh docker-registry on a loopback port, storage in a temp dir."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        (root / "data").mkdir(parents=True)
        cfg = root / "config.yml"
        cfg.write_text("version: 0.1\nlog: {level: error}\n"
                       f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
                       f"http: {{addr: 127.0.0.1:{self.port}}}\n")
        self.log = open(root / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stored_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.root / "data").rglob("data") if p.is_file())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def timed(cmd: List[str], env: Optional[Dict[str, str]] = None) -> Tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of ``cmd``; raises when it fails."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    return dt, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def push_rows(tarball: str, runs: int, tmp: Path, idle: float) -> List[Tuple[str, float, float, int, int]]:
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    size = os.path.getsize(tarball)
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def skopeo(extra: List[str]) -> Callable[[str, int], List[str]]:
        def cmd(host: str, i: int) -> List[str]:
            for p in SKOPEO_CACHES:
                if os.path.exists(p):
                    os.remove(p)
            return ["skopeo", "--policy", str(policy), "copy", "-q", "--dest-tls-verify=false", *extra,
                    f"docker-archive:{tarball}", f"docker://{host}/bench/skopeo:{i}"]
        return cmd

    def pypush(algo: str, *extra: str) -> Callable[[str, int], List[str]]:
        def cmd(host: str, i: int) -> List[str]:
            return [sys.executable, "-m", "pypush", "push", tarball, f"{host}/bench/pypush:{i}", "--insecure",
                    "--compression", algo, "--format", "json", *extra]
        return cmd

    cases = [
        ("skopeo copy (gzip)", skopeo([]), False),
        ("skopeo copy --dest-compress-format zstd", skopeo(["--dest-compress-format", "zstd"]), False),
        ("pypush --compression gzip", pypush("gzip"), False),
        ("pypush --compression zstd", pypush("zstd"), False),
        ("pypush --compression zstd --compression-level 1", pypush("zstd", "--compression-level", "1"), False),
        ("pypush gzip re-push, warm cache", pypush("gzip"), True),
    ]
    rows = []
    for name, make_cmd, warm in cases:
        times, cpus, stored, rss, idles = [], [], 0, 0, []
        for i in range(runs):
            reg = Registry(Path(tempfile.mkdtemp(dir=tmp)))
            cache_dir = Path(tempfile.mkdtemp(dir=tmp))
            run_env = dict(env, PYPUSH_CACHE_DIR=str(cache_dir))
            try:
                host = f"127.0.0.1:{reg.port}"
                if warm:
                    timed(make_cmd(host, i), run_env)
                if idle:
                    idles.append(wait_for_idle(idle, 300))
                dt, cpu, rss = timed(make_cmd(host, i), run_env)
                times.append(dt)
                cpus.append(cpu)
                stored = reg.stored_bytes()
            finally:
                reg.stop()
                shutil.rmtree(reg.root, ignore_errors=True)
                shutil.rmtree(cache_dir, ignore_errors=True)
        med = statistics.median(times)
        cpu = statistics.median(cpus)
        rows.append((name, med, cpu, rss, stored))
        print(f"  {name:48} {med:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})  "
              f"{size / med / 1e6:.0f} MB/s, CPU {cpu:.2f} s, peak RSS {rss} MiB, registry holds {stored / 1e6:.1f} MB"
              + (f", machine idle before runs: {', '.join(f'{x:.0%}' for x in idles)}" if idles else ""), flush=True)
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
    from pypush.compress import compressor_id, cpu_threads

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
        print(f"| {name:48} | {med:6.2f} | {med / base:13.2f} | {cpu:5.2f} | {rss:12d} | {stored / 1e6:11.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
