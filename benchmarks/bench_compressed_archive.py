#!/usr/bin/env python3
"""Benchmark reading a `docker save` archive compressed whole: pypush vs skopeo, side by side.

    python3 benchmarks/bench_compressed_archive.py [--archive /tmp/fixtures/big.docker-archive.tar]
                                                   [--formats gzip,zstd,xz,bzip2] [--runs 3]

Each format is made once with Debian's command-line tool at its fast level (``gzip -1``, ``zstd -3 -T2``,
``xz -1 -T2``, ``bzip2 -1``) next to the archive. Then, per run, one process each: pypush opens the source
(``open_source``: decompress once into a private temporary file, index the tar, read and verify manifest and
config) and closes it (the copy removed); skopeo runs ``inspect --raw docker-archive:FILE``, which also
decompresses to a temporary file and reads the manifest. Wall time includes interpreter start; peak RSS is
the child's. Medians of ``--runs``; the plain archive is measured too, for the cost of decompression.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ensure_big_fixtures, machine, measure, median_runs, print_table, skopeo_policy  # noqa: E402

TOOLS = {"gzip": (["gzip", "-1", "-c"], ".gz"), "zstd": (["zstd", "-q", "-3", "-T2", "-c"], ".zst"),
         "xz": (["xz", "-1", "-T2", "-c"], ".xz"), "bzip2": (["bzip2", "-1", "-c"], ".bz2")}
OPEN = "import sys; from pypush.sources import open_source\nwith open_source(sys.argv[1]) as s: s.root"


def compressed(archive: Path, fmt: str) -> Path:
    """``archive`` compressed with ``fmt``'s tool, made once beside it."""
    cmd, suffix = TOOLS[fmt]
    out = archive.with_name(archive.name + suffix)
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        with open(archive, "rb") as src, open(tmp, "wb") as dst:
            subprocess.run(cmd, stdin=src, stdout=dst, check=True)
        tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path)
    parser.add_argument("--formats", default="gzip,zstd,xz,bzip2")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    archive = args.archive or ensure_big_fixtures() / "big.docker-archive.tar"
    policy = skopeo_policy()
    rows: List[Tuple[str, ...]] = []
    for fmt in ["plain", *args.formats.split(",")]:
        path = archive if fmt == "plain" else compressed(archive, fmt)
        size = f"{path.stat().st_size / 1e6:.1f}"
        for tool, cmd in (("pypush", [sys.executable, "-c", OPEN, str(path)]),
                          ("skopeo", ["skopeo", "--policy", str(policy), "inspect", "--raw", f"docker-archive:{path}"])):
            try:
                run = median_runs(args.runs, lambda: measure(cmd))
            except RuntimeError as e:
                rows.append((fmt, size, tool, "failed", "", str(e).splitlines()[-1][-60:]))
                continue
            rows.append((fmt, size, tool, f"{run.wall:.2f}", f"{run.cpu:.2f}", f"{run.rss:.0f}"))
    print_table(f"Reading {archive.name} ({archive.stat().st_size / 1e6:.1f} MB) compressed whole, medians of "
                f"{args.runs}; {machine()}", rows, ("format", "file MB", "tool", "wall s", "CPU s", "peak RSS MiB"))


if __name__ == "__main__":
    main()
