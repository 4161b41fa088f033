"""Persistent state of the local endpoint: blobs by digest on disk, metadata in SQLite.

Crash safety: a blob is written to ``uploads/<id>``, fsynced and renamed into ``blobs/<algorithm>/<hex>``
before the SQLite transaction that makes it visible commits; every API operation is one transaction
(WAL mode), so a completed layer or image survives ``kill -9``. Unfinished uploads live in memory and
in ``uploads/``, which is emptied at start.

Transactions are explicit (``isolation_level=None``; BEGIN IMMEDIATE / COMMIT / ROLLBACK) and every
statement is stepped to its end and reset before the next one (``Db.execute`` returns the rows), so
the store behaves the same on CPython and on PyPy, whose cursors are finalized only by the GC.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

Buffer = Union[bytes, bytearray, memoryview]

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
CREATE TABLE IF NOT EXISTS premium_repositories (
    name TEXT PRIMARY KEY, created_at REAL NOT NULL, state TEXT NOT NULL, products TEXT NOT NULL,
    catalog TEXT, policy TEXT);
CREATE TABLE IF NOT EXISTS associations (free TEXT PRIMARY KEY, premium TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS image_status (
    repo TEXT NOT NULL, digest TEXT NOT NULL, status TEXT NOT NULL, scheduled_at REAL,
    PRIMARY KEY (repo, digest));
CREATE TABLE IF NOT EXISTS pulls (
    repo TEXT NOT NULL, digest TEXT NOT NULL, day TEXT NOT NULL, pulls INTEGER NOT NULL DEFAULT 0,
    version_checks INTEGER NOT NULL DEFAULT 0, last_at REAL NOT NULL, PRIMARY KEY (repo, digest, day));
"""
"""Premium repositories live in ``premium_repositories``; their layers, images, tags and resource tags
use the store key ``repo_key(name, premium=True)`` (``~premium/<name>``, which no repository name can
be) in the per-repository tables, so a FREE and a PREMIUM repository may share a name."""

PREMIUM_KEY_PREFIX = "~premium/"


def repo_key(name: str, premium: bool) -> str:
    """The per-repository tables' key of the FREE or PREMIUM repository ``name``."""
    return PREMIUM_KEY_PREFIX + name if premium else name


def is_premium_key(key: str) -> bool:
    return key.startswith(PREMIUM_KEY_PREFIX)


def name_of_key(key: str) -> str:
    """The repository name a store key stands for."""
    return key[len(PREMIUM_KEY_PREFIX):] if is_premium_key(key) else key


def repo_exists(db: "Db", key: str) -> bool:
    """Inside a transaction: whether the FREE or premium repository of store key ``key`` exists."""
    table = "premium_repositories" if is_premium_key(key) else "repositories"
    return db.execute(f"SELECT 1 FROM {table} WHERE name=?", (name_of_key(key),)).fetchone() is not None


PER_REPOSITORY_TABLES = ("image_tags", "images", "image_children", "image_status", "layers", "resource_tags")
"""The tables whose ``repo`` column is a store key."""


BUSY_TIMEOUT_MS = 30_000
"""How long SQLite waits for another process's lock before a statement fails."""

UPLOAD_LIFETIME = 24 * 3600
"""Default seconds an unfinished upload (ECR API or v2 session) may sit without a part before it is
discarded (``pypush serve --upload-lifetime``; docker-registry purges after 7 days, ECR does not say)."""
Clock = Callable[[], float]
log = logging.getLogger("pypush.server")


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
    claimed: int = 0
    """Bytes a client was told the upload holds (more than ``size`` only after dropped chunks)."""
    synced: bool = False
    clock: Clock = time.time

    def append(self, chunks: Iterable[Buffer]) -> int:
        """Append ``chunks`` (call with ``lock`` held): all of them or, when they raise, none. Bytes added."""
        hasher = self.hasher.copy()
        added = 0
        with open(self.path, "r+b", buffering=0) as f:
            f.seek(self.size)
            try:
                for chunk in chunks:
                    hasher.update(chunk)
                    f.write(chunk)
                    added += len(chunk)
            except BaseException:
                f.truncate(self.size)
                raise
        self.hasher = hasher
        self.touched_at = self.clock()
        self.size += added
        self.claimed = self.size
        self.part_sizes.append(added)
        return added

    def digest(self, algorithm: str = "sha256") -> str:
        """The digest of the bytes so far: sha256 as they arrived; another algorithm (sha512, which the v2
        door accepts) by reading the upload's file once, as the distribution registry does."""
        if algorithm == "sha256":
            return "sha256:" + self.hasher.hexdigest()
        h = hashlib.new(algorithm)
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return f"{algorithm}:{h.hexdigest()}"

    def restart(self) -> None:
        """Forget every byte (call with ``lock`` held)."""
        with open(self.path, "r+b", buffering=0) as f:
            f.truncate(0)
        self.hasher = hashlib.sha256()
        self.size = self.claimed = 0
        self.part_sizes.clear()
        self.touched_at = self.clock()


class Rows(list):
    """The complete result of one statement: a list of tuples with the cursor methods callers use."""

    rowcount = -1

    def fetchone(self) -> Optional[Tuple[Any, ...]]:
        return self[0] if self else None

    def fetchall(self) -> List[Tuple[Any, ...]]:
        return list(self)


class Db:
    """One SQLite connection whose statements never outlive their call (no cursor left mid-step)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        cur = self.conn.execute(sql, params)
        try:
            rows = Rows(cur.fetchall())
            rows.rowcount = cur.rowcount
        finally:
            cur.close()
        return rows

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Rows:
        cur = self.conn.executemany(sql, seq)
        try:
            rows = Rows()
            rows.rowcount = cur.rowcount
        finally:
            cur.close()
        return rows


class Store:
    """Blobs, uploads and the SQLite metadata of one data directory; safe to share between threads."""

    def __init__(self, root: Path, clock: Clock = time.time, upload_lifetime: float = UPLOAD_LIFETIME):
        self.root = Path(root)
        self.clock = clock
        """Seconds since the epoch, as the store sees them (tests move it)."""
        self.upload_lifetime = upload_lifetime
        self.blob_dir = self.root / "blobs" / "sha256"
        self.upload_dir = self.root / "uploads"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.upload_dir, ignore_errors=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(str(self.root / "metadata.sqlite3"), check_same_thread=False,
                                     isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        self._db = Db(self._conn)
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self.tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        self._uploads: Dict[str, Upload] = {}
        self._uploads_lock = threading.Lock()

    # -- metadata ---------------------------------------------------------------------------
    def tx(self) -> ContextManager[Db]:
        """One write transaction (the whole API operation), serialised with every other access.

        Used inside another ``tx``/``read`` of the same thread, it joins the outer transaction.
        """
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> ContextManager[Db]:
        """Consistent reads: one read transaction, and no other thread of this process writes meanwhile."""
        return self._transaction("BEGIN")

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[Db]:
        """``begin`` a transaction, or join this thread's open one; commit when the block ends, roll back when
        it raises (a read transaction has nothing to undo either way)."""
        with self._lock:
            if self._depth:
                yield self._db
                return
            self._begin(begin)
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                self._end("ROLLBACK")
                raise
            else:
                self._end("COMMIT")
            finally:
                self._depth -= 1

    def _begin(self, statement: str) -> None:
        """BEGIN, retried while another process holds the database beyond busy_timeout."""
        for attempt in range(5):
            try:
                self._db.execute(statement)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _end(self, statement: str) -> None:
        """COMMIT or ROLLBACK; a failed COMMIT is rolled back so the connection is never left mid-transaction."""
        if not self._conn.in_transaction:
            return
        try:
            self._db.execute(statement)
        except sqlite3.Error:
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def meta(self, key: str, default: Optional[str] = None) -> Optional[str]:
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._uploads_lock:
            self._uploads.clear()

    # -- blobs ------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """Where the bytes of ``<algorithm>:<hex>`` live (whether or not they exist): ``blobs/<algorithm>/<hex>``."""
        algorithm, _, hexd = digest.partition(":")
        return self.root / "blobs" / algorithm / hexd

    def commit_upload_file(self, upload: Upload, digest: str) -> None:
        """Move a finished upload's file to its content address (idempotent).

        The bytes are fsynced before the rename, so a blob file is never visible incomplete.
        """
        target = self.blob_path(digest)
        if target.exists():
            os.remove(upload.path)
            return
        self.sync_upload(upload, digest)
        target.parent.mkdir(exist_ok=True)
        os.replace(upload.path, target)

    def sync_upload(self, upload: Upload, digest: str) -> None:
        """fsync an upload's bytes (before taking the store lock, so the flush holds nobody up), unless the blob
        ``digest`` is stored already: then the upload is dropped, never read."""
        if upload.synced or self.blob_path(digest).exists():
            return
        fd = os.open(upload.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        upload.synced = True

    def link_blob(self, db: Db, repo: str, digest: str, size: int) -> None:
        """Inside a transaction: make a stored blob part of ``repo`` (already so: unchanged)."""
        db.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, size))
        db.execute("INSERT OR IGNORE INTO layers (repo, digest, created_at) VALUES (?, ?, ?)",
                   (repo, digest, time.time()))

    def forget_repository(self, db: Db, key: str) -> None:
        """Delete every row of repository ``key`` (its store key) and the blobs no other repository holds."""
        layers = [r[0] for r in db.execute("SELECT digest FROM layers WHERE repo=?", (key,))]
        for table in PER_REPOSITORY_TABLES:
            db.execute(f"DELETE FROM {table} WHERE repo=?", (key,))
        self.forget_orphan_blobs(db, layers)

    def forget_orphan_blobs(self, db: Db, digests: List[str]) -> None:
        """Inside a transaction: delete the blobs among ``digests`` that no repository has any more."""
        for digest in digests:
            if db.execute("SELECT 1 FROM layers WHERE digest=? LIMIT 1", (digest,)).fetchone() is None:
                db.execute("DELETE FROM blobs WHERE digest=?", (digest,))
                with contextlib.suppress(OSError):
                    os.remove(self.blob_path(digest))

    # -- uploads ----------------------------------------------------------------------------
    def new_upload(self, repo: str) -> Upload:
        """Start an upload (and discard those idle for longer than ``upload_lifetime``)."""
        self.expire_uploads()
        now = self.clock()
        upload_id = str(uuid.uuid4())
        up = Upload(id=upload_id, repo=repo, path=self.upload_dir / upload_id, created_at=now, touched_at=now,
                    clock=self.clock)
        up.path.touch()
        with self._uploads_lock:
            self._uploads[upload_id] = up
        return up

    def expire_uploads(self) -> int:
        """Discard the uploads idle for longer than ``upload_lifetime``; how many there were (logged)."""
        oldest = self.clock() - self.upload_lifetime
        with self._uploads_lock:
            stale = [u.id for u in self._uploads.values() if u.touched_at < oldest]
        for old in stale:
            self.drop_upload(old)
        if stale:
            log.info("expired %d abandoned upload%s (no part for %g s)", len(stale), "s" * (len(stale) != 1),
                     self.upload_lifetime)
        return len(stale)

    def get_upload(self, upload_id: str) -> Optional[Upload]:
        """The unfinished upload ``upload_id``; None when it is unknown or has expired."""
        with self._uploads_lock:
            up = self._uploads.get(upload_id)
        if up is not None and up.touched_at < self.clock() - self.upload_lifetime:
            self.expire_uploads()
            return None
        return up

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
