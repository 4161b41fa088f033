"""The repository page's pull box offers ``latest`` when that tag exists (what ``docker pull`` assumes),
else the newest pushed tag; on every tab and page of tags."""
from __future__ import annotations

import re
import urllib.request

import pytest

from conftest import server_fixture
from endpoint_client import client
from gallerydata import push_image
from manual_clock import ManualClock
from pypush.server import LocalEndpoint

pytestmark = pytest.mark.servers


@server_fixture
def ep(tmp_path):
    clock = ManualClock()  # tags get the push times the test sets
    with LocalEndpoint(data_dir=tmp_path / "data", alias="acme", clock=clock) as e:
        yield e, clock


def pull_box(url: str) -> tuple:
    """(heading, the public pull command) of the side panel."""
    with urllib.request.urlopen(url) as r:
        page = r.read().decode("utf-8")
    heading = re.search(r"<h3>(Pull.*?)</h3>", page, re.S)[1]
    command = re.search(r"<h3>Pull.*?<dt>Public</dt><dd><code class=\"copy\">([^<]*)</code>", page, re.S)[1]
    return re.sub(r"<[^>]+>", "", heading), command


def test_latest_is_offered_when_it_exists_else_the_newest_push(ep):
    ep, clock = ep
    c = client(ep)
    c.create_repository(repositoryName="app")
    for tag, payload in (("1.0", b"one"), ("latest", b"latest"), ("2.0", b"two")):  # latest is not the newest
        clock.now += 60
        push_image(c, "app", tag, payload=payload)
    base = f"{ep.url}/repositories/app"
    for url in (base, base + "?tab=usage", base + "?tab=tags"):
        assert pull_box(url) == ("Pull latest", "docker pull public.ecr.aws/acme/app:latest")
    # Without a latest tag: the newest push, and so named.
    c.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "latest"}])
    assert pull_box(base) == ("Pull the newest tag 2.0", "docker pull public.ecr.aws/acme/app:2.0")
    # A tag merely named like latest is not latest.
    clock.now += 60
    push_image(c, "app", "latest-rc", payload=b"rc")
    assert pull_box(base) == ("Pull the newest tag latest-rc", "docker pull public.ecr.aws/acme/app:latest-rc")


def test_latest_is_offered_on_a_later_page_of_tags(ep):
    ep, clock = ep
    c = client(ep)
    c.create_repository(repositoryName="many")
    clock.now += 1
    push_image(c, "many", "latest", payload=b"latest")
    text = push_image(c, "many", None, payload=b"same")
    for n in range(51):  # more than a page of newer tags: page 2 does not start with latest
        clock.now += 1
        c.put_image(repositoryName="many", imageManifest=text, imageTag=f"v{n}")
    page2 = f"{ep.url}/repositories/many?tab=tags&page=2"
    assert pull_box(page2) == ("Pull latest", "docker pull public.ecr.aws/acme/many:latest")
    assert pull_box(f"{ep.url}/repositories/many") == ("Pull latest", "docker pull public.ecr.aws/acme/many:latest")
