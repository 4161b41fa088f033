"""Half-sent layer uploads remembered between runs, so that a rerun continues them instead of starting over.

One small JSON file per upload under ``<cache root>/uploads-v1/`` (pypush.cache_dir), named by the hash of
its key — the transport, the destination (v2: registry host and repository; ECR API: endpoint host,
registry id or alias and repository) and the blob's digest. It holds the upload session (ECR's
``uploadId``, or a v2 session URL without any credentials), the bytes the destination acknowledged and the
part size. It is written (temporary file, then rename: never seen half-written) when the session opens and
after every acknowledged part or chunk, so Ctrl-C or a killed process leaves it behind; it is removed
when the layer completes or the destination refuses the upload for good. A file that is unreadable, names
another key, or is older than MAX_AGE is discarded. Nothing in it is trusted blindly: the transport
asks the destination where the upload stands, and starts over when the session is gone; the bytes skipped
are read and hashed all the same, so the blob's digest is checked end to end.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pypush.cache_dir import cache_root, read_json, write_json
from pypush.errors import AuthError, PypushError, TransientError

log = logging.getLogger("pypush")

MAX_AGE = 7 * 24 * 3600
"""Seconds after its start an upload is given up: the distribution registry purges uploads older than
this by default (storage.maintenance.uploadpurging, age 168h); ECR documents no lifetime (a session it
dropped answers UploadNotFoundException, and is started over)."""
_FORMAT = 1
_SECRET_QUERY = ("signature", "sig", "token", "access_token", "x-amz-credential", "x-amz-security-token",
                 "x-goog-credential", "x-goog-signature", "password", "key")


@dataclass(frozen=True)
class UploadKey:
    """What a half-sent upload belongs to."""

    transport: str  # "ecr" or "v2"
    destination: str
    digest: str

    def as_json(self) -> dict:
        return {"transport": self.transport, "destination": self.destination, "digest": self.digest}

    def filename(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest() + ".json"


@dataclass
class UploadState:
    """Where an upload stood: its ``session`` (uploadId or URL), the ``offset`` the destination acknowledged,
    the ``part_size`` it was sent in and when it was ``created`` (seconds since the epoch)."""

    session: str
    offset: int
    part_size: int
    created: float


class ResumeStore:
    """The upload states in ``directory`` (created on first save); ``clock`` gives the time (tests)."""

    def __init__(self, directory: Union[str, Path], clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.clock = clock
        self._pruned = False

    @classmethod
    def default(cls) -> Optional["ResumeStore"]:
        """The store under the user's cache directory; None when PYPUSH_NO_CACHE is set."""
        root = cache_root()
        return None if root is None else cls(root / "uploads-v1")

    def path(self, key: UploadKey) -> Path:
        """The file of ``key``'s state."""
        return self.directory / key.filename()

    def load(self, key: UploadKey) -> Optional[UploadState]:
        """``key``'s state, or None (absent; unreadable, another key's or stale ones are deleted)."""
        self._prune()
        path = self.path(key)
        try:
            doc = read_json(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.info("discarding unreadable upload state %s: %s", path, exc)
            self._remove(path)
            return None
        state = _valid(doc, key)
        if state is None:
            log.info("discarding upload state %s: not an upload of %s to %s", path, key.digest, key.destination)
        elif not 0 <= self.clock() - state.created <= MAX_AGE:
            log.info("discarding upload state of %s: started %.1f days ago", key.digest,
                     (self.clock() - state.created) / 86400)
            state = None
        if state is None:
            self._remove(path)
        return state

    def save(self, key: UploadKey, state: UploadState) -> None:
        """Record ``state`` atomically; a failure (read-only disk) only costs the resumption."""
        doc = {"format": _FORMAT, "key": key.as_json(), "session": state.session, "offset": state.offset,
               "part_size": state.part_size, "created": state.created}
        try:
            write_json(self.path(key), doc)
        except OSError as exc:
            log.debug("cannot write upload state of %s: %s", key.digest, exc)

    def drop(self, key: UploadKey) -> None:
        """Forget ``key``'s upload (done, or not to be resumed)."""
        self._remove(self.path(key))

    def _remove(self, path: Path) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("cannot remove upload state %s: %s", path, exc)

    def _prune(self) -> None:
        """Once per store: delete states untouched for longer than MAX_AGE (layers never pushed again)."""
        if self._pruned:
            return
        self._pruned = True
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            try:
                if self.clock() - entry.stat().st_mtime > MAX_AGE:
                    self._remove(Path(entry.path))
            except OSError:
                pass


class TrackedUpload:
    """One blob's upload state, bound to its store and key; every method is a no-op without a store."""

    def __init__(self, store: Optional[ResumeStore], key: Optional[UploadKey]):
        self.store = store if key is not None else None
        self.key = key
        self.created = 0.0

    def load(self) -> Optional[UploadState]:
        """The state a previous run left (None: start a new upload)."""
        if self.store is None or self.key is None:
            return None
        state = self.store.load(self.key)
        if state is not None:
            self.created = state.created
        return state

    def save(self, session: str, offset: int, part_size: int) -> bool:
        """Record that ``session`` holds ``offset`` bytes (a new session when ``offset`` is 0); False when
        nothing is written (no store, or a session URL that carries a signature or token)."""
        stored = storable_url(session) if "://" in session else session
        if self.store is None or self.key is None:
            return False
        if stored is None:
            self.drop()  # an earlier session's state would name the wrong session
            return False
        if offset == 0 or not self.created:
            self.created = self.store.clock()
        self.store.save(self.key, UploadState(stored, offset, part_size, self.created))
        log.debug("%s: %d bytes acknowledged by %s", self.key.digest, offset, self.key.destination)
        return True

    def drop(self) -> None:
        """The upload completed, or must not be resumed."""
        if self.store is not None and self.key is not None:
            self.store.drop(self.key)


def keeps_upload(exc: BaseException) -> bool:
    """Whether an upload that stopped with ``exc`` is worth resuming: after an interruption, a network or
    service failure or refused credentials yes; not after a refusal of the bytes or a bad source."""
    return not isinstance(exc, PypushError) or isinstance(exc, (TransientError, AuthError))


def storable_url(url: str) -> Optional[str]:
    """A session URL fit to be written down: without user:password; None when its query looks like it
    carries a signature or token (such a session is not remembered)."""
    parts = urlsplit(url)
    if any(k.lower() in _SECRET_QUERY or k.lower().startswith("x-amz-") for k, _ in parse_qsl(parts.query)):
        return None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _valid(doc: object, key: UploadKey) -> Optional[UploadState]:
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("key") != key.as_json():
        return None
    session, offset, part_size, created = (doc.get(k) for k in ("session", "offset", "part_size", "created"))
    if not isinstance(session, str) or not session:
        return None
    if not (isinstance(offset, int) and isinstance(part_size, int)) or bool in (type(offset), type(part_size)):
        return None
    if offset < 0 or part_size <= 0 or not isinstance(created, (int, float)) or isinstance(created, bool):
        return None
    return UploadState(session, offset, part_size, float(created))
