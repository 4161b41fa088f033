"""Debian bookworm ``python3`` base images for the ``pypush build`` tests, made by mmdebstrap from Debian's
packages and kept across runs in ``$PYPUSH_TEST_CACHE`` (else ``~/.cache/pypush-tests``), keyed by recipe."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from typing import Dict, List

EPOCH = "1700000000"
RECIPES: Dict[str, List[str]] = {
    "amd64": ["mmdebstrap", "--variant=minbase", "--include=python3", "bookworm"],
    "arm64": ["mmdebstrap", "--arch=arm64", "--variant=extract", "--include=python3", "bookworm"],
}


def cache_root() -> str:
    """Where the test bases are kept."""
    return os.environ.get("PYPUSH_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pypush-tests")


def base_tar(arch: str) -> str:
    """The path of the rootfs tar for ``arch`` (``amd64``/``arm64``), made when missing."""
    recipe = RECIPES[arch]
    key = hashlib.sha256(" ".join(recipe + [EPOCH]).encode()).hexdigest()[:16]
    path = os.path.join(cache_root(), "bases", f"bookworm-python3-{arch}-{key}.tar")
    if os.path.exists(path):
        return path
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path[:-4]}.{os.getpid()}.part.tar"  # mmdebstrap picks tar by the name
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    subprocess.run(recipe + [tmp], check=True, env=env, stdout=subprocess.DEVNULL)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or list(RECIPES):
        print(base_tar(name))
