"""Progress subscribers: the engine reports, subscribers show (tqdm) or count."""
from __future__ import annotations

import threading
from typing import List, Optional

from pypush.image.model import Blob


class Subscriber:
    """Receives push events; every method is optional to override. Called from worker threads."""

    def on_plan(self, blobs_total: int, bytes_total: int, blobs_missing: int, bytes_missing: int) -> None:
        """The engine knows what must move."""

    def on_bytes(self, blob: Blob, n: int) -> None:
        """``n`` more bytes of ``blob`` were sent (negative when a retry rewinds)."""

    def on_blob_done(self, blob: Blob, uploaded: bool) -> None:
        """A blob is stored (``uploaded`` False when it was already there)."""

    def on_manifest(self, digest: str, tags: List[str]) -> None:
        """A manifest was put under ``tags`` (empty: by digest)."""

    def close(self) -> None:
        """The push ended (success or not)."""


class Fanout(Subscriber):
    """Forward every event to several subscribers."""

    def __init__(self, *subscribers: Subscriber):
        self.subscribers = [s for s in subscribers if s is not None]

    def on_plan(self, *args: int) -> None:
        for s in self.subscribers:
            s.on_plan(*args)

    def on_bytes(self, blob: Blob, n: int) -> None:
        for s in self.subscribers:
            s.on_bytes(blob, n)

    def on_blob_done(self, blob: Blob, uploaded: bool) -> None:
        for s in self.subscribers:
            s.on_blob_done(blob, uploaded)

    def on_manifest(self, digest: str, tags: List[str]) -> None:
        for s in self.subscribers:
            s.on_manifest(digest, tags)

    def close(self) -> None:
        for s in self.subscribers:
            s.close()


class TqdmProgress(Subscriber):
    """One tqdm bar of bytes on stderr."""

    def __init__(self, description: str = "push"):
        self._description = description
        self._bar: Optional[object] = None
        self._lock = threading.Lock()

    def on_plan(self, blobs_total: int, bytes_total: int, blobs_missing: int, bytes_missing: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=bytes_missing or None, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=f"{self._description} ({blobs_missing}/{blobs_total} blobs)", leave=False)

    def on_bytes(self, blob: Blob, n: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(n)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # type: ignore[attr-defined]
            self._bar = None
