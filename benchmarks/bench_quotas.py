"""Issue 7 benchmark: 100 layers of 100 KiB pushed into `pypush serve --enforce-quotas`.

Prints the wall time beside the floor the published quotas imply (the slowest operation's
requests beyond its one-second burst, divided by its rate) and the throttling pypush met (goal: none,
and wall time <= 1.2x the floor).
Usage: python benchmarks/bench_quotas.py [--layers N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, print_table, pypush_endpoint  # also puts the repository and tests/ on sys.path
from imagegen import make_oci_layout, random_bytes, tar_layer  # noqa: E402

from pypush.transports.ecr.pacing import QUOTAS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=100)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-quotas-"))
    layers = [tar_layer([(f"l{i}", random_bytes(100 << 10, 1000 + i))]) for i in range(args.layers)]
    make_oci_layout(work / "many.oci", layers)
    blobs = args.layers + 1  # and the config
    rates = QUOTAS["ecr-public"]
    calls = {"InitiateLayerUpload": blobs, "UploadLayerPart": blobs, "CompleteLayerUpload": blobs, "PutImage": 1,
             "BatchCheckLayerAvailability": 2}
    floor = max(max(0.0, n - rates[op]) / rates[op] for op, n in calls.items())
    ep = pypush_endpoint("--enforce-quotas")
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pypush", "push", f"oci:{work / 'many.oci'}:1",
                               "public.ecr.aws/local/many:1", "--endpoint-url", f"http://127.0.0.1:{ep.port}",
                               "--create-repository", "--compression", "keep", "--format", "json", "--jobs", "8"],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    finally:
        ep.stop()
    result = json.loads(proc.stdout)
    print(f"machine: {machine()}")
    print_table(f"{args.layers} layers of 100 KiB into pypush serve --enforce-quotas (ECR Public rates)",
                [(f"{wall:.2f}", f"{floor:.2f}", f"{wall / floor:.2f}x" if floor else "n/a (within the burst)", str(result["throttled"]),
                  str(result["retries"]))],
                ("pypush wall s", "quota floor s", "ratio (goal <= 1.2x)", "throttled", "retries"))


if __name__ == "__main__":
    main()
