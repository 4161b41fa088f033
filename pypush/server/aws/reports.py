"""Publisher reports built from the endpoint's own pull counts (store/pull_counts.py):
ListPublisherReports, GetDownloadUrlForPublisherReport, and the download the URL leads to.

Reports cover premium repositories and the FREE repositories associated with one (as ECR Public's do;
the association as it is when the report is read). A SUMMARY report exists for every WEEKLY (Monday-Sunday,
UTC) and MONTHLY (calendar month) period with at least one counted pull or version check of a covered
repository, created (``createdAt``) at its latest count and listed for 365 days after; a period still
running grows until it ends. Weekly reports are listed first, each granularity newest first. TRENDS
reports (by country, cloud, client...) need data the endpoint does not have: none is listed. The gzip
CSV's columns are the endpoint's own (AWS does not publish its format): see CSV_COLUMNS.
"""
from __future__ import annotations

import calendar
import csv
import datetime
import gzip
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from pypush.server.aws.context import Context, paginate, with_token
from pypush.server.aws.protocol import ApiError
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.server.store.pull_counts import counts_between, days_with_pulls
from pypush.server.store.store import Db, Store, is_premium_key, name_of_key

CSV_COLUMNS = ("period_start", "period_end", "registry_id", "repository_name", "repository_type", "image_digest",
               "image_tags", "image_media_type", "pulls", "version_checks")
"""One row per image with counts in the period; image_tags are the tags naming it when the report is built
(space-separated), image_media_type empty once the image is deleted."""
URL_LIFETIME = 3600
"""Seconds a download URL is valid (AWS: at most an hour)."""
RETENTION_DAYS = 365
DOWNLOAD_PREFIX = "/publisher-reports/"
_DOWNLOAD = re.compile(re.escape(DOWNLOAD_PREFIX) + r"([a-z0-9]{1,64})\.csv\.gz")


@dataclass(frozen=True)
class Period:
    """One report period: its granularity and first and last days (inclusive)."""

    granularity: str
    start: datetime.date
    end: datetime.date

    @property
    def report_id(self) -> str:
        return f"summary{self.granularity.lower()}{self.start:%Y%m%d}"


def _periods_of(day: datetime.date) -> List[Period]:
    monday = day - datetime.timedelta(days=day.weekday())
    last = calendar.monthrange(day.year, day.month)[1]
    return [Period("WEEKLY", monday, monday + datetime.timedelta(days=6)),
            Period("MONTHLY", day.replace(day=1), day.replace(day=last))]


def _periods(db: Db) -> List[Period]:
    found = {p for d in days_with_pulls(db) for p in _periods_of(datetime.date.fromisoformat(d))}
    return sorted(found, key=lambda p: (p.granularity != "WEEKLY", -p.start.toordinal()))


def _covered(db: Db, store_key: str) -> bool:
    """Reports cover premium repositories and the FREE repositories associated with one."""
    return is_premium_key(store_key) or bool(
        db.execute("SELECT 1 FROM associations WHERE free=?", (store_key,)).fetchone())


def _csv(db: Db, registry_id: str, period: Period) -> Tuple[bytes, float]:
    """(gzip CSV bytes, createdAt) of one period's report; createdAt 0 when it has no row."""
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    created = 0.0
    for c in counts_between(db, period.start.isoformat(), period.end.isoformat()):
        if not _covered(db, c.repo):
            continue
        kind, name = ("PREMIUM" if is_premium_key(c.repo) else "FREE"), name_of_key(c.repo)
        tags = [r[0] for r in db.execute("SELECT tag FROM image_tags WHERE repo=? AND digest=? ORDER BY tag",
                                         (c.repo, c.digest))]
        media = db.execute("SELECT media_type FROM images WHERE repo=? AND digest=?", (c.repo, c.digest)).fetchone()
        out.writerow((period.start.isoformat(), period.end.isoformat(), registry_id, name, kind, c.digest,
                      " ".join(tags), media[0] if media else "", c.pulls, c.version_checks))
        created = max(created, c.last_at)
    return gzip.compress(text.getvalue().encode("utf-8"), mtime=0), created


def _reports(db: Db, registry_id: str, now: float) -> List[Dict[str, Any]]:
    reports = []
    for period in _periods(db):
        data, created = _csv(db, registry_id, period)
        if not created or created < now - RETENTION_DAYS * 86400:
            continue
        reports.append({"reportId": period.report_id, "reportType": "SUMMARY", "granularity": period.granularity,
                        "period": {"startDate": period.start.isoformat(), "endDate": period.end.isoformat()},
                        "sizeInBytes": len(data), "createdAt": created})
    return reports


def list_publisher_reports(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    kind, granularity = p.get("reportType"), p.get("granularity")
    with ctx.store.read() as db:
        reports = [] if kind == "TRENDS" else _reports(db, ctx.registry_id, ctx.settings.now())
    reports = [r for r in reports if granularity is None or r["granularity"] == granularity]
    page, nxt = paginate(reports, p, f"ListPublisherReports/{kind or '*'}/{granularity or '*'}")
    return with_token({"reports": page}, nxt)


def _find(db: Db, registry_id: str, report_id: str, now: float) -> Optional[Period]:
    for period in _periods(db):
        if period.report_id == report_id:
            created = _csv(db, registry_id, period)[1]
            return period if created and created >= now - RETENTION_DAYS * 86400 else None
    return None


def _signature(settings: Settings, report_id: str, expires: int) -> str:
    return hmac.new(settings.url_key, f"{report_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def get_download_url_for_publisher_report(ctx: Context, p: Dict[str, Any]) -> Dict[str, Any]:
    report_id = p["reportId"]
    now = ctx.settings.now()
    with ctx.store.read() as db:
        if _find(db, ctx.registry_id, report_id, now) is None:
            raise ApiError("PublisherReportNotFoundException",
                           f"The publisher report with id '{report_id}' does not exist in the registry with id "
                           f"'{ctx.registry_id}'")
    expires = int(now) + URL_LIFETIME
    url = (f"{ctx.settings.url}{DOWNLOAD_PREFIX}{report_id}.csv.gz?expires={expires}"
           f"&signature={_signature(ctx.settings, report_id, expires)}")
    return {"reportId": report_id, "downloadUrl": url}


def _text(status: int, message: str) -> Reply:
    return Reply(status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode() + b"\n")


def download(store: Store, settings: Settings, target: str) -> Reply:
    """GET of a download URL: the report's gzip CSV; 403 for a URL not signed here or expired, 404 for a
    report that no longer exists."""
    parts = urlsplit(target)
    m = _DOWNLOAD.fullmatch(parts.path)
    if m is None:
        return _text(404, "no such report")
    query = parse_qs(parts.query)
    expires, signature = (query.get("expires") or [""])[-1], (query.get("signature") or [""])[-1]
    if not expires.isdigit() or len(expires) > 12 or not hmac.compare_digest(
            signature.encode(), _signature(settings, m[1], int(expires)).encode()):
        return _text(403, "this download URL is not valid: ask GetDownloadUrlForPublisherReport for a new one")
    now = settings.now()
    if int(expires) < now:
        return _text(403, "this download URL has expired: ask GetDownloadUrlForPublisherReport for a new one")
    with store.read() as db:
        period = _find(db, settings.registry_id, m[1], now)
        data = _csv(db, settings.registry_id, period)[0] if period is not None else None
    if data is None:
        return _text(404, f"the publisher report {m[1]} no longer exists")
    return Reply(200, {"Content-Type": "application/gzip", "Cache-Control": "no-store",
                       "Content-Disposition": f'attachment; filename="{m[1]}.csv.gz"'}, data)
