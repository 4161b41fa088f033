"""Remake the README's gallery screenshots: `python tests/support/gallery_screenshot.py`.

Starts a LocalEndpoint with the demo registry of tests/gallerydata.py and has headless Chromium
photograph the front page and a repository page into tests/server/gallery/screenshots/.
"""
from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

from chromium import Chromium
from gallerydata import populate_demo_on

from pypush.server import LocalEndpoint

OUT = Path(__file__).resolve().parents[1] / "server" / "gallery" / "screenshots"
SHOTS = {"gallery.png": ("/", 1280, 820), "gallery-repository.png": ("/repositories/webserver", 1280, 900)}


def _port() -> int:
    """5000 (as in the README) when it is free, else any."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 5000))
        except OSError:
            return 0
    return 5000


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pypush-shot-") as tmp, LocalEndpoint(alias="acme", port=_port()) as ep:
        populate_demo_on(ep)
        browser = Chromium(Path(tmp))
        for name, (path, width, height) in SHOTS.items():
            browser.screenshot(ep.url + path, OUT / name, width, height)
            print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
