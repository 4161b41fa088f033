"""Persistent state of the local endpoint: blobs by digest on disk, metadata in SQLite.

Crash safety: a blob is written to ``uploads/<id>`` and renamed into ``blobs/sha256/<hex>`` before
the SQLite transaction that makes it visible commits; every API operation is one transaction (WAL
mode), so a completed layer or image survives ``kill -9``. Unfinished uploads live in memory and
in ``uploads/``, which is emptied at start.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, created_at REAL NOT NULL, policy TEXT, catalog TEXT, settings TEXT);
CREATE TABLE IF NOT EXISTS resource_tags (
    repo TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (repo, key));
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layers (
    repo TEXT NOT NULL, digest TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (repo, digest));
CREATE TABLE IF NOT EXISTS images (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, artifact_type TEXT,
    manifest BLOB NOT NULL, size INTEGER NOT NULL, pushed_at REAL NOT NULL, PRIMARY KEY (repo, digest));
CREATE TABLE IF NOT EXISTS image_tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS image_children (
    repo TEXT NOT NULL, parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (repo, parent, child));
"""


UPLOAD_TTL = 24 * 3600
"""Seconds an upload may sit without a part before it is discarded."""


@dataclass
class Upload:
    """An unfinished layer upload: bytes appended to ``path`` and hashed as they arrive."""

    id: str
    repo: str
    path: Path
    created_at: float
    touched_at: float = 0.0
    size: int = 0
    hasher: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    part_sizes: List[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Store:
    """Blobs, uploads and the SQLite metadata of one data directory; safe to share between threads."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.blob_dir = self.root / "blobs" / "sha256"
        self.upload_dir = self.root / "uploads"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.upload_dir, ignore_errors=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.root / "metadata.sqlite3"), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._uploads: Dict[str, Upload] = {}
        self._uploads_lock = threading.Lock()

    # -- metadata ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the whole API operation), serialised with every other access."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Consistent reads (no other thread writes meanwhile)."""
        with self._lock:
            yield self._db

    def meta(self, key: str, default: Optional[str] = None) -> Optional[str]:
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._uploads_lock:
            self._uploads.clear()

    # -- blobs ------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """Where the bytes of ``sha256:<hex>`` live (whether or not they exist)."""
        return self.blob_dir / digest.partition(":")[2]

    def commit_upload_file(self, upload: Upload, digest: str) -> None:
        """Move a finished upload's file to its content address (idempotent)."""
        target = self.blob_path(digest)
        if target.exists():
            os.remove(upload.path)
        else:
            os.replace(upload.path, target)

    def forget_orphan_blobs(self, db: sqlite3.Connection, digests: List[str]) -> None:
        """Inside a transaction: delete the blobs among ``digests`` that no repository has any more."""
        for digest in digests:
            if db.execute("SELECT 1 FROM layers WHERE digest=? LIMIT 1", (digest,)).fetchone() is None:
                db.execute("DELETE FROM blobs WHERE digest=?", (digest,))
                with contextlib.suppress(OSError):
                    os.remove(self.blob_path(digest))

    # -- uploads ----------------------------------------------------------------------------
    def new_upload(self, repo: str) -> Upload:
        """Start an upload (and discard those idle for longer than UPLOAD_TTL)."""
        now = time.time()
        upload_id = str(uuid.uuid4())
        up = Upload(id=upload_id, repo=repo, path=self.upload_dir / upload_id, created_at=now, touched_at=now)
        up.path.touch()
        with self._uploads_lock:
            self._uploads[upload_id] = up
            stale = [u.id for u in self._uploads.values() if u.touched_at < now - UPLOAD_TTL]
        for old in stale:
            self.drop_upload(old)
        return up

    def get_upload(self, upload_id: str) -> Optional[Upload]:
        with self._uploads_lock:
            return self._uploads.get(upload_id)

    def drop_upload(self, upload_id: str) -> None:
        with self._uploads_lock:
            up = self._uploads.pop(upload_id, None)
        if up is not None:
            with contextlib.suppress(OSError):
                os.remove(up.path)

    def drop_uploads_of(self, repo: str) -> None:
        with self._uploads_lock:
            ids = [u.id for u in self._uploads.values() if u.repo == repo]
        for upload_id in ids:
            self.drop_upload(upload_id)
