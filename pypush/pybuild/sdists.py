"""Dependencies published only as sdists, during a resolve: pip's ``--platform`` resolution takes wheels only,
so a pure-Python sdist it cannot place is built here into a wheel (``*-none-any``), offered to the resolve
through a find-links directory in the cache, and locked as the sdist it came from."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Optional

from pypush.errors import SourceError
from pypush.pybuild.model import Artifact

_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


def missing_requirement(stderr: str) -> Optional[str]:
    """The requirement pip found no wheel for (``docopt==0.6.2``), from its error output."""
    match = _NO_MATCH.search(stderr)
    return match.group(1) if match else None


def links_dir(cache: str) -> str:
    """The find-links directory holding wheels built from sdists."""
    return os.path.join(cache, "sdist-wheels")


def add_wheel_for(requirement: str, cache: str, platform: str) -> None:
    """Find ``requirement``'s sdist on the index (as pip is configured), build it into a pure wheel and put the
    wheel in :func:`links_dir` with the sdist's url and hash beside it; SourceError when it has no sdist or
    the sdist builds a platform-specific wheel."""
    from pypush.pybuild.wheels import fetch, wheel_for_sdist

    with tempfile.TemporaryDirectory(prefix="pypush-sdist-") as tmp:
        report = os.path.join(tmp, "report.json")
        run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps",
                              "--ignore-installed", "--no-binary", ":all:", "--disable-pip-version-check",
                              "--target", os.path.join(tmp, "t"), "--report", report, requirement],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            raise SourceError(f"{requirement} has no wheel for {platform} and no sdist on the index")
        with open(report, encoding="utf-8") as f:
            item = (json.load(f).get("install") or [{}])[0]
    info = item.get("download_info") or {}
    digest = ((info.get("archive_info") or {}).get("hashes") or {}).get("sha256")
    if not info.get("url") or not digest:
        raise SourceError(f"{requirement}: pip gave no url or sha256 for its sdist")
    sdist = Artifact(info["url"], digest)
    path = fetch([sdist], cache)[sdist]
    wheel = wheel_for_sdist(requirement, path, cache, platform)
    os.makedirs(links_dir(cache), exist_ok=True)
    target = os.path.join(links_dir(cache), os.path.basename(wheel))
    shutil.copyfile(wheel, target)
    with open(target + ".sdist.json", "w", encoding="utf-8") as f:
        json.dump({"url": sdist.url, "sha256": sdist.sha256}, f)


def sdist_of(url: str, cache: str) -> Optional[Artifact]:
    """The sdist a wheel of :func:`links_dir` (named by ``url``) was built from, else None."""
    directory = links_dir(cache)
    if not url.startswith("file://") or os.path.dirname(url[7:]) != directory:
        return None
    try:
        with open(url[7:] + ".sdist.json", encoding="utf-8") as f:
            doc: Dict[str, str] = json.load(f)
        return Artifact(doc["url"], doc["sha256"])
    except (OSError, ValueError, KeyError):
        return None
