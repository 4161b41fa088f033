"""Pulls counted by the registry door, per repository, image digest and UTC day: a manifest GET is a
pull, a manifest HEAD a version check (a client asking whether a tag moved). Publisher reports are
built from these counts."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List

from pypush.server.store.store import Db, Store

PULL = "pulls"
VERSION_CHECK = "version_checks"


def utc_day(when: float) -> str:
    """``YYYY-MM-DD`` of ``when`` in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(when))


def count(store: Store, repo: str, digest: str, kind: str, when: float) -> None:
    """Add one pull (``PULL``) or version check (``VERSION_CHECK``) of ``repo``'s ``digest`` at ``when``."""
    column = {PULL: "pulls", VERSION_CHECK: "version_checks"}[kind]
    with store.tx() as db:
        db.execute("INSERT OR IGNORE INTO pulls (repo, digest, day, last_at) VALUES (?, ?, ?, ?)",
                   (repo, digest, utc_day(when), when))
        db.execute(f"UPDATE pulls SET {column}={column}+1, last_at=MAX(last_at, ?) "
                   "WHERE repo=? AND digest=? AND day=?", (when, repo, digest, utc_day(when)))


@dataclass(frozen=True)
class PullCount:
    """Pulls and version checks of one image over some days."""

    repo: str
    digest: str
    pulls: int
    version_checks: int
    last_at: float


def counts_between(db: Db, first_day: str, last_day: str) -> List[PullCount]:
    """Per (repository, digest), the counts of the days ``first_day``..``last_day`` (inclusive), by
    repository and digest."""
    rows = db.execute("SELECT repo, digest, SUM(pulls), SUM(version_checks), MAX(last_at) FROM pulls "
                      "WHERE day BETWEEN ? AND ? GROUP BY repo, digest ORDER BY repo, digest",
                      (first_day, last_day))
    return [PullCount(*r) for r in rows]


def days_with_pulls(db: Db) -> List[str]:
    """Every day that has a count, oldest first."""
    return [r[0] for r in db.execute("SELECT DISTINCT day FROM pulls ORDER BY day")]
