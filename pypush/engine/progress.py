"""Progress subscribers: the engine reports, subscribers show (tqdm) or count."""
from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional

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


def terminal_size(stream: IO[str]) -> "os.terminal_size":
    """Columns and lines of the terminal ``stream`` writes to; 0 for what it does not say (a pty of 0×0, as
    ``script`` makes, or no terminal at all)."""
    try:
        return os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return os.terminal_size((0, 0))


def terminal_columns(stream: IO[str]) -> int:
    """Columns of the terminal ``stream`` writes to; 0 when it says none (a 0-column pty) or is no terminal."""
    return terminal_size(stream).columns


WIDE = "{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}]"
NARROW = "{percentage:3.0f}% {n_fmt}B/{total_fmt}B |{bar}|"
"""Below 60 columns the numbers come first, so a narrow terminal still shows them."""


@dataclass
class _BlobBytes:
    estimate: int  # bytes the plan counted for it (the source size of a layer compressed on the fly)
    sent: int = 0
    done: bool = False


class TqdmProgress(Subscriber):
    """One tqdm bar of the bytes to send, on stderr, in MB (powers of 1000, like the tables).

    A layer compressed on the fly counts with its source size until it is stored, then with the bytes it
    really took (the bar jumps ahead then, never claims 100 % early), so it ends at 100 % of what was
    sent. A terminal that reports 0 columns gets an 80-column bar (0 lines: a bar all the same), a narrow one
    the numbers first.
    """

    def __init__(self, description: str = "push", stream: Optional[IO[str]] = None):
        self._description = description
        self._stream = stream or sys.stderr
        self._bar: Optional[Any] = None
        self._lock = threading.Lock()
        self._planned = 0
        self._blobs: Dict[int, _BlobBytes] = {}

    def on_plan(self, blobs_total: int, bytes_total: int, blobs_missing: int, bytes_missing: int) -> None:
        from tqdm import tqdm

        columns, lines = terminal_size(self._stream)
        sized = bool(columns and lines)  # tqdm follows a resize; a terminal of 0 lines would hide its bar
        self._planned = bytes_missing
        self._bar = tqdm(total=bytes_missing or None, unit="B", unit_scale=True, unit_divisor=1000,
                         desc=f"{self._description} ({blobs_missing}/{blobs_total} blobs)", leave=False,
                         file=self._stream, ncols=None if sized else columns or 80, nrows=None if sized else 20,
                         dynamic_ncols=sized, bar_format=WIDE if not columns or columns >= 60 else NARROW)

    def _entry(self, blob: Blob) -> _BlobBytes:
        entry = self._blobs.get(id(blob))
        if entry is None:
            size = blob.descriptor.size or (blob.original.size if blob.original is not None else 0)
            entry = self._blobs[id(blob)] = _BlobBytes(size)  # as the engine's plan counts it
            self._retotal()
        return entry

    def _retotal(self) -> None:
        """The total: bytes sent by stored blobs, the plan's estimate for the rest."""
        if self._bar is None or not self._planned:
            return
        total = max(0, self._planned - sum(b.estimate for b in self._blobs.values()))  # not started yet
        total += sum(b.sent if b.done else max(b.sent, b.estimate) for b in self._blobs.values())
        self._bar.total = max(total, self._bar.n)

    def on_bytes(self, blob: Blob, n: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._entry(blob).sent += n
                if self._bar.n + n > self._bar.total:
                    self._bar.total = self._bar.n + n
                self._bar.update(n)

    def on_blob_done(self, blob: Blob, uploaded: bool) -> None:
        if self._bar is not None and uploaded:
            with self._lock:
                self._entry(blob).done = True
                self._retotal()
                self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.refresh()  # the final count, shown before the bar is cleared
                self._bar.close()
                self._bar = None
