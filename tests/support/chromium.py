"""Debian's headless Chromium for the gallery tests: the DOM after load, and screenshots."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-sync", "--hide-scrollbars", "--mute-audio",
         "--force-device-scale-factor=1",
         # deterministic captures on a loaded machine: every image decoded and composited before the dump
         "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000"]


def find_chromium() -> str:
    """The chromium binary; AssertionError (a failure, never a skip) when it is missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("chromium is not installed (apt-get install -y chromium); .ci/run installs it")


class Chromium:
    """One private profile directory; each call is one browser run."""

    def __init__(self, tmp: Path):
        self.binary = find_chromium()
        self.profile = tmp / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)

    def _run(self, args: List[str]) -> subprocess.CompletedProcess:
        cmd = [self.binary, *FLAGS, f"--user-data-dir={self.profile}", *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=180)
        if proc.returncode != 0:
            raise AssertionError(f"chromium failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
        return proc

    def dom(self, url: str) -> str:
        """The serialized DOM once the page (and its images) loaded."""
        return self._run(["--dump-dom", url]).stdout.decode("utf-8")

    def screenshot(self, url: str, out: Path, width: int = 1280, height: int = 900) -> bytes:
        """A PNG of the viewport after load."""
        self._run([f"--screenshot={out}", f"--window-size={width},{height}", url])
        return out.read_bytes()
