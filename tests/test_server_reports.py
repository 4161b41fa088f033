"""Publisher reports of the local endpoint: pulls counted by the registry door (skopeo's and raw GET/HEAD),
ListPublisherReports' periods, filters and paging, and the gzip CSV behind GetDownloadUrlForPublisherReport's
short-lived URL; through stock boto3 and the AWS CLI v1."""
from __future__ import annotations

import calendar
import csv
import gzip
import io
import time
from typing import Dict, List
from urllib.parse import urlsplit

import pytest
import requests

from aws_cli import AwsCli
from conftest import server_fixture
from endpoint_client import OCI_MANIFEST, client, code_of, error_of, push_image, sha
from pypush.server import LocalEndpoint
from pypush.server.aws.reports import CSV_COLUMNS

pytestmark = [pytest.mark.servers, pytest.mark.endpoint_api]

DAY = 86400
WEDNESDAY = calendar.timegm((2026, 12, 2, 12, 0, 0))
"""Wednesday 2 December 2026, noon UTC: its week is 2026-11-30..2026-12-06, its month December."""


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@server_fixture
def ep(tmp_path):
    clock = Clock(WEDNESDAY)
    with LocalEndpoint(data_dir=tmp_path / "data", clock=clock) as endpoint:
        endpoint.clock = clock
        yield endpoint


def digest_of(text: str) -> str:
    return sha(text.encode())


def covered(c, name: str) -> None:
    """A FREE repository ``name`` associated with a premium one of the same name: reports cover it."""
    c.create_repository(repositoryName=name)
    c.create_premium_repository(repositoryName=name, marketplaceProducts=["prod-a"])
    c.associate_repositories(repositoryName=name, repositoryType="FREE", associatedRepositoryName=name,
                             associatedRepositoryType="PREMIUM")


def manifest_get(ep, repo: str, ref: str, method: str = "GET") -> None:
    r = requests.request(method, f"{ep.url}/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST}, timeout=30)
    assert r.status_code == 200, r.text


def reports(c, **kw) -> List[Dict]:
    return c.list_publisher_reports(**kw)["reports"]


def rows_of(url: str) -> List[Dict[str, str]]:
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/gzip", r.text
    lines = list(csv.reader(io.StringIO(gzip.decompress(r.content).decode())))
    assert tuple(lines[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, line)) for line in lines[1:]]


def test_no_pulls_no_reports(ep):
    c = client(ep)
    covered(c, "team/app")
    push_image(c, "team/app", [b"layer"])
    c.describe_images(repositoryName="team/app")
    assert reports(c) == []
    assert code_of(c.get_download_url_for_publisher_report,
                   reportId="summaryweekly20261130") == "PublisherReportNotFoundException"


def test_reports_count_skopeo_pulls_and_version_checks(ep, skopeo, tmp_path):
    c = client(ep)
    covered(c, "team/app")
    app = push_image(c, "team/app", [b"app layer"], tag="v1")
    covered(c, "team/other")
    other = push_image(c, "team/other", [b"other layer"], tag="latest")
    skopeo.pull_oci(f"{ep.host_port}/team/app:v1", tmp_path / "one")
    skopeo.pull_oci(f"{ep.host_port}/team/app:v1", tmp_path / "two")
    assert skopeo.inspect_raw(f"{ep.host_port}/team/other:latest") == other.encode()
    manifest_get(ep, "team/app", "v1", "HEAD")
    found = reports(c)
    assert [(r["reportId"], r["reportType"], r["granularity"], r["period"]) for r in found] == [
        ("summaryweekly20261130", "SUMMARY", "WEEKLY", {"startDate": "2026-11-30", "endDate": "2026-12-06"}),
        ("summarymonthly20261201", "SUMMARY", "MONTHLY", {"startDate": "2026-12-01", "endDate": "2026-12-31"})]
    for report in found:
        assert report["createdAt"].timestamp() == WEDNESDAY
        url = c.get_download_url_for_publisher_report(reportId=report["reportId"])["downloadUrl"]
        assert urlsplit(url).netloc == ep.host_port
        assert report["sizeInBytes"] == len(requests.get(url, timeout=30).content)
        rows = rows_of(url)
        assert [(r["repository_name"], r["image_digest"], r["image_tags"], r["pulls"], r["version_checks"])
                for r in rows] == [("team/app", digest_of(app), "v1", "2", "1"),
                                   ("team/other", digest_of(other), "latest", "1", "0")]
        assert {(r["period_start"], r["period_end"], r["registry_id"], r["repository_type"], r["image_media_type"])
                for r in rows} == {(report["period"]["startDate"], report["period"]["endDate"], "123456789012",
                                    "FREE", OCI_MANIFEST)}
    # A week later: a new weekly report; the month's report adds the pull up.
    ep.clock.now += 7 * DAY
    skopeo.pull_oci(f"{ep.host_port}/team/app:v1", tmp_path / "three")
    weekly = reports(c, granularity="WEEKLY")
    assert [r["reportId"] for r in weekly] == ["summaryweekly20261207", "summaryweekly20261130"]
    assert weekly[0]["createdAt"].timestamp() == ep.clock.now
    monthly = reports(c, granularity="MONTHLY", reportType="SUMMARY")
    assert [r["reportId"] for r in monthly] == ["summarymonthly20261201"]
    url = c.get_download_url_for_publisher_report(reportId="summarymonthly20261201")["downloadUrl"]
    assert [(r["repository_name"], r["pulls"]) for r in rows_of(url)] == [("team/app", "3"), ("team/other", "1")]
    url = c.get_download_url_for_publisher_report(reportId="summaryweekly20261207")["downloadUrl"]
    assert [(r["repository_name"], r["pulls"]) for r in rows_of(url)] == [("team/app", "1")]


def test_reports_cover_premium_repositories_and_the_free_ones_associated(ep):
    c = client(ep)
    c.create_repository(repositoryName="team/free")
    text = push_image(c, "team/free", [b"layer"], tag="v1")
    manifest_get(ep, "team/free", "v1")
    assert reports(c) == []  # a FREE repository with no premium twin is not reported on
    c.create_premium_repository(repositoryName="team/paid", marketplaceProducts=["prod-a"])
    c.associate_repositories(repositoryName="team/free", repositoryType="FREE", associatedRepositoryName="team/paid",
                             associatedRepositoryType="PREMIUM")
    url = c.get_download_url_for_publisher_report(reportId="summaryweekly20261130")["downloadUrl"]
    assert [(r["repository_name"], r["repository_type"], r["image_digest"], r["pulls"]) for r in rows_of(url)] == [
        ("team/free", "FREE", digest_of(text), "1")]
    c.disassociate_repositories(repositoryName="team/free", repositoryType="FREE",
                                associatedRepositoryName="team/paid", associatedRepositoryType="PREMIUM")
    assert reports(c) == []
    assert requests.get(url, timeout=30).status_code == 404


def test_a_deleted_image_keeps_its_counts(ep):
    c = client(ep)
    covered(c, "team/app")
    text = push_image(c, "team/app", [b"layer"], tag="v1")
    manifest_get(ep, "team/app", digest_of(text))
    c.batch_delete_image(repositoryName="team/app", imageIds=[{"imageDigest": digest_of(text)}])
    url = c.get_download_url_for_publisher_report(reportId="summaryweekly20261130")["downloadUrl"]
    assert [(r["image_digest"], r["image_tags"], r["image_media_type"], r["pulls"]) for r in rows_of(url)] == [
        (digest_of(text), "", "", "1")]


def test_filters_paging_and_tokens_tied_to_their_filters(ep):
    c = client(ep)
    covered(c, "team/app")
    push_image(c, "team/app", [b"layer"], tag="v1")
    for week in range(3):  # three weeks of November-December: 3 weekly and 2 monthly reports
        ep.clock.now = WEDNESDAY + (week - 1) * 7 * DAY
        manifest_get(ep, "team/app", "v1")
    weekly = reports(c, granularity="WEEKLY")
    assert [r["period"]["startDate"] for r in weekly] == ["2026-12-07", "2026-11-30", "2026-11-23"]
    assert [r["period"]["startDate"] for r in reports(c, granularity="MONTHLY")] == ["2026-12-01", "2026-11-01"]
    assert len(reports(c)) == 5 and reports(c, reportType="TRENDS") == []
    first = c.list_publisher_reports(granularity="WEEKLY", maxResults=2)
    assert first["reports"] == weekly[:2] and first["nextToken"]
    assert code_of(c.list_publisher_reports, granularity="MONTHLY",
                   nextToken=first["nextToken"]) == "InvalidParameterException"
    assert code_of(c.list_publisher_reports, nextToken=first["nextToken"]) == "InvalidParameterException"
    rest = c.list_publisher_reports(granularity="WEEKLY", maxResults=2, nextToken=first["nextToken"])
    assert rest["reports"] == weekly[2:] and "nextToken" not in rest
    paged = [r for page in c.get_paginator("list_publisher_reports").paginate(PaginationConfig={"PageSize": 1})
             for r in page["reports"]]
    assert paged == reports(c)
    for bad in ({"granularity": "DAILY"}, {"reportType": "DETAILED"}, {"maxResults": 0}, {"maxResults": 1001},
                {"nextToken": "not a token"}):
        assert code_of(c.list_publisher_reports, **bad) == "InvalidParameterException", bad


def test_download_urls_are_short_lived_signed_and_reports_age_out(ep):
    c = client(ep)
    covered(c, "team/app")
    push_image(c, "team/app", [b"layer"], tag="v1")
    manifest_get(ep, "team/app", "v1")
    for bad in ("", "Summary", "a" * 65, "summary-weekly"):
        assert code_of(c.get_download_url_for_publisher_report, reportId=bad) == "InvalidParameterException", bad
    assert code_of(c.get_download_url_for_publisher_report,
                   reportId="summaryweekly20261123") == "PublisherReportNotFoundException"
    url = c.get_download_url_for_publisher_report(reportId="summaryweekly20261130")["downloadUrl"]
    assert len(rows_of(url)) == 1
    parts = urlsplit(url)
    forged = url.replace("summaryweekly20261130", "summarymonthly20261201")
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    later = url.replace(parts.query, parts.query.replace("expires=", "expires=9"))
    for wrong in (forged, tampered, later, f"{ep.url}{parts.path}"):
        assert requests.get(wrong, timeout=30).status_code == 403, wrong
    ep.clock.now += 3600  # valid for an hour
    assert requests.get(url, timeout=30).status_code == 200
    ep.clock.now += 1
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and "expired" in r.text
    # Reports are listed for 365 days after they were created.
    ep.clock.now = WEDNESDAY + 365 * DAY
    assert len(reports(c)) == 2
    fresh = c.get_download_url_for_publisher_report(reportId="summaryweekly20261130")["downloadUrl"]
    ep.clock.now += 1
    assert reports(c) == []
    assert code_of(c.get_download_url_for_publisher_report,
                   reportId="summaryweekly20261130") == "PublisherReportNotFoundException"
    assert requests.get(fresh, timeout=30).status_code == 404


def test_publisher_reports_through_the_aws_cli(ep, tmp_path):
    aws = AwsCli(ep, tmp_path)
    c = client(ep)
    covered(c, "team/app")
    text = push_image(c, "team/app", [b"layer"], tag="v1")
    assert aws.call("list-publisher-reports") == {"reports": []}
    manifest_get(ep, "team/app", "v1")
    listed = aws.call("list-publisher-reports", "--granularity", "MONTHLY", "--report-type", "SUMMARY")
    assert [r["reportId"] for r in listed["reports"]] == ["summarymonthly20261201"]
    url = aws.call("get-download-url-for-publisher-report", "--report-id", "summarymonthly20261201")["downloadUrl"]
    assert [(r["image_digest"], r["pulls"]) for r in rows_of(url)] == [(digest_of(text), "1")]
    aws.error("get-download-url-for-publisher-report", "--report-id", "summaryweekly20200106",
              code="PublisherReportNotFoundException")
    aws.error("list-publisher-reports", "--granularity", "YEARLY", code="InvalidParameterException")
