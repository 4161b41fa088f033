"""Issue 16 benchmark: the `pypush serve` gallery with many repositories.

Fills a fresh `pypush serve` with N repositories (each with a 64 KiB logo, a 4 KiB About text and
one tagged image for every tenth), then times the pages a browser asks for: the front page, a search,
the last page, a repository's About and its tags, a logo. Prints the median latency of each and the
size of the HTML, beside the goal (every page well under 100 ms, whatever N).
Usage: python benchmarks/bench_gallery.py [--repos N] [--runs R]
"""
from __future__ import annotations

import argparse
import statistics
import time
import urllib.request

from common import machine, print_table, pypush_endpoint  # also puts the repository and tests/ on sys.path
from gallerydata import catalog, push_image, solid_png  # noqa: E402
from test_server_api import client  # noqa: E402


class _Ep:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    server = pypush_endpoint()
    try:
        c = client(_Ep(server.port))
        logo = solid_png(128, 128, (3, 129, 96)) + b"\0" * (64 << 10)  # PNG bytes, then padding to 64 KiB
        about = "## About\n\n" + "Some **markdown** text for the about tab. " * 90
        start = time.perf_counter()
        for i in range(args.repos):
            name = f"team-{i % 10}/service-{i:05d}"
            c.create_repository(repositoryName=name, catalogData=catalog(
                f"Service {i}: does one thing well", about, "Run it.", ["x86-64", "ARM 64"], ["Linux"], logo))
            if i % 10 == 0:
                push_image(c, name, "v1", payload=f"{i}".encode())
        fill = time.perf_counter() - start
        last = -(-args.repos // 24)
        pages = [("front page", "/"), ("search (~10% match)", "/?q=team-3"), (f"last page ({last})", f"/?page={last}"),
                 ("repository About", "/repositories/team-0/service-00000"),
                 ("repository tags", "/repositories/team-0/service-00000?tab=tags"),
                 ("logo (64 KiB)", "/logos/team-0/service-00000")]
        rows = []
        for label, path in pages:
            times, size = [], 0
            for _ in range(args.runs):
                t = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}") as r:
                    size = len(r.read())
                times.append(time.perf_counter() - t)
            rows.append((label, f"{statistics.median(times) * 1000:.1f}", f"{max(times) * 1000:.1f}", f"{size / 1024:.1f}"))
        rss = server.peak_rss_mib()
    finally:
        server.stop()
    print(f"machine: {machine()}")
    print(f"filled {args.repos} repositories in {fill:.1f} s; server peak RSS {rss:.0f} MiB")
    print_table(f"gallery pages with {args.repos} repositories (median of {args.runs})", rows,
                ("page", "median ms", "max ms", "HTML KiB"))


if __name__ == "__main__":
    main()
