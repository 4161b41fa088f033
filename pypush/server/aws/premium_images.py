"""Images of premium repositories: SetImageStatus (deprecation with a scheduled deletion, re-activation)
and the deletion of the images whose time has come.

Rules (the model's documentation of SetImageStatus): PREMIUM only, never in DRAFT; a tag names the digest
it points to; DEPRECATED needs deprecationPeriodDays (90-365) and sets ``scheduledDeletionAt`` = now +
the period; ACTIVE takes no period and cancels the deletion. A manifest list goes before the images it
references: a child is deprecated only after each list that references it, with an earlier time, and a
list is not re-activated while it references deprecated images (ValidationException).

The endpoint's own choices (undocumented by AWS): DEPRECATED on a DEPRECATED image is a
ValidationException (re-activate first), ACTIVE on an ACTIVE image is a no-op; a due image is deleted
before the next operation of the API or the premium registry door looks (``purge_due``), by the
endpoint's clock (``Settings.clock``).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List

from pypush.server.aws.context import PREMIUM, Context, require_premium
from pypush.server.aws.images import resolve_id, delete_image_rows
from pypush.server.aws.protocol import ApiError, invalid
from pypush.server.store.store import Store, repo_key

DAY = 24 * 3600


def purge_due(store: Store, now: float) -> int:
    """Delete every deprecated image whose scheduledDeletionAt has passed (lists first); how many."""
    with store.read() as db:
        due = db.execute("SELECT repo, digest FROM image_status WHERE scheduled_at <= ? ORDER BY scheduled_at",
                         (now,)).fetchall()
    if not due:
        return 0
    with store.tx() as db:
        for repo, digest in due:
            delete_image_rows(db, repo, digest)
    return len(due)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _violation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def set_image_status(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    name, status, days = p["repositoryName"], p["status"], p.get("deprecationPeriodDays")
    if p["repositoryType"] != PREMIUM:
        raise invalid("Invalid parameter at 'repositoryType': SetImageStatus applies to PREMIUM repositories only")
    if status == "DEPRECATED" and days is None:
        raise invalid("Invalid parameter at 'deprecationPeriodDays': required when the status is DEPRECATED")
    if status == "ACTIVE" and days is not None:
        raise invalid("Invalid parameter at 'deprecationPeriodDays': not allowed when the status is ACTIVE")
    now = ctx.now()
    purge_due(ctx.store, now)
    key = repo_key(name, True)
    with ctx.store.tx() as db:
        state = require_premium(ctx, db, name)[2]
        if state == "DRAFT":
            raise _violation(f"The premium repository '{name}' is in the DRAFT state: SetImageStatus is not available "
                             "until it is AVAILABLE or HIDDEN (in DRAFT, delete images with BatchDeleteImage)")
        img, failure = resolve_id(db, key, p["imageId"])
        if img is None:
            raise ApiError("ImageNotFoundException", f"The image with imageId {p['imageId']} does not exist within "
                           f"the premium repository with name '{name}' ({(failure or {}).get('failureReason')})")
        current = db.execute("SELECT scheduled_at FROM image_status WHERE repo=? AND digest=?",
                             (key, img.digest)).fetchone()
        parents = _statuses(db, key, "SELECT parent FROM image_children WHERE repo=? AND child=?", img.digest)
        children = _statuses(db, key, "SELECT child FROM image_children WHERE repo=? AND parent=?", img.digest)
        out: Dict[str, Any] = {"repositoryName": name, "repositoryType": PREMIUM,
                               "imageId": {"imageDigest": img.digest, **({"imageTag": p["imageId"]["imageTag"]}
                                                                          if p["imageId"].get("imageTag") else {})},
                               "status": status}
        if status == "ACTIVE":
            deprecated = [c for c, at in children.items() if at is not None]
            if deprecated:
                raise _violation(f"The manifest list {img.digest} references deprecated images "
                                 f"({', '.join(deprecated)}); it cannot be ACTIVE again while they are deprecated")
            db.execute("DELETE FROM image_status WHERE repo=? AND digest=?", (key, img.digest))
            return out
        if current is not None:
            raise _violation(f"The image {img.digest} is already DEPRECATED, scheduled for deletion at "
                             f"{_when(current[0])}; set it ACTIVE before deprecating it again")
        assert days is not None  # DEPRECATED (the model's enum) without days was refused above
        at = now + days * DAY
        late = [d for d, t in parents.items() if t is None or t >= at]
        if late:
            raise _violation(f"The image {img.digest} is referenced by the manifest list(s) {', '.join(late)}: "
                             "deprecate each list first, with a scheduledDeletionAt earlier than this image's "
                             f"({_when(at)})")
        early = [d for d, t in children.items() if t is not None and t <= at]
        if early:
            raise _violation(f"The manifest list {img.digest} references image(s) scheduled for deletion before "
                             f"{_when(at)} ({', '.join(early)}): a list must be deleted before the images it "
                             "references")
        db.execute("INSERT INTO image_status (repo, digest, status, scheduled_at) VALUES (?, ?, 'DEPRECATED', ?)",
                   (key, img.digest, at))
    out["scheduledDeletionAt"] = at
    return out


def _statuses(db: Any, key: str, sql: str, digest: str) -> Dict[str, Any]:
    """digest -> scheduled deletion time (None when ACTIVE) of the images ``sql`` lists for ``digest``."""
    found: List[str] = [r[0] for r in db.execute(sql, (key, digest))]
    out: Dict[str, Any] = {}
    for d in found:
        row = db.execute("SELECT scheduled_at FROM image_status WHERE repo=? AND digest=?", (key, d)).fetchone()
        out[d] = row[0] if row else None
    return out
