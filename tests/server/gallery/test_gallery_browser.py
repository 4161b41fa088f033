"""The gallery in a real browser (Debian's headless Chromium): rendered text, escaped catalog text,
and logos that actually load and paint (found by colour in a screenshot)."""
from __future__ import annotations

import re

import pytest

from conftest import server_fixture

from chromium import Chromium
from gallerydata import catalog, count_colour, push_index, read_png, solid_png
from endpoint_client import client

from pypush.server import LocalEndpoint

MAGENTA = (255, 0, 255)
SCRIPT = "<script>document.title='owned'</script>"


@server_fixture(scope="module")
def site(tmp_path_factory):
    """An endpoint with a magenta-logo repository (markdown, an index), one without catalog data, and one
    whose catalog text tries script; plus a browser."""
    tmp = tmp_path_factory.mktemp("gallery-browser")
    browser = Chromium(tmp)
    with LocalEndpoint(data_dir=tmp / "data", alias="acme") as ep:
        c = client(ep)
        c.put_registry_catalog_data(displayName="Browser Test Registry")
        c.create_repository(repositoryName="paint", catalogData=catalog(
            description="Magenta logo repository", about="## Painted\n\nSome **bold** words.",
            architectures=["x86-64", "ARM 64"], operating_systems=["Linux"], logo=solid_png(96, 96, MAGENTA)))
        push_index(c, "paint", "2.0", ["linux/amd64", "linux/arm64"])
        c.create_repository(repositoryName="plain")
        c.create_repository(repositoryName="evil", catalogData=catalog(
            description=f"Evil {SCRIPT}", about=f"{SCRIPT}\n\n<img src=x onerror=\"document.title='owned'\">",
            usage=SCRIPT))
        yield ep, browser, tmp


def test_front_page_in_chromium(site):
    ep, browser, tmp = site
    dom = browser.dom(ep.url + "/")
    assert "<title>Browser Test Registry · pypush gallery</title>" in dom
    assert "public.ecr.aws/acme</code> · 3 repositories" in dom
    assert re.findall(r'<span class="card-name">([^<]*)</span>', dom) == ["evil", "paint", "plain"]
    assert "Magenta logo repository" in dom and '<span class="badge arch">ARM 64</span>' in dom
    assert "Evil &lt;script&gt;document.title='owned'&lt;/script&gt;" in dom and "<script" not in dom
    # the card logo (52 x 52 CSS pixels of magenta) is painted; the repository without one shows none
    width, height, rows = read_png(browser.screenshot(ep.url + "/", tmp / "front.png"))
    assert (width, height) == (1280, 900)
    assert count_colour(rows, MAGENTA) >= 48 * 48
    search = browser.dom(ep.url + "/?q=plain")
    assert re.findall(r'<span class="card-name">([^<]*)</span>', search) == ["plain"]


def test_repository_page_in_chromium(site):
    ep, browser, tmp = site
    dom = browser.dom(ep.url + "/repositories/paint")
    assert "<h2>Painted</h2>" in dom and "<strong>bold</strong>" in dom
    assert "docker pull public.ecr.aws/acme/paint:2.0" in dom and f"docker pull {ep.host_port}/paint:2.0" in dom
    _, _, rows = read_png(browser.screenshot(ep.url + "/repositories/paint", tmp / "repo.png"))
    assert count_colour(rows, MAGENTA) >= 90 * 90  # the 96 x 96 logo loaded and painted
    tags = browser.dom(ep.url + "/repositories/paint?tab=tags")
    assert "linux/amd64" in tags and "linux/arm64" in tags and "Image index" in tags
    _, _, plain = read_png(browser.screenshot(ep.url + "/repositories/plain", tmp / "plain.png"))
    assert count_colour(plain, MAGENTA) == 0
    assert "No About text yet" in browser.dom(ep.url + "/repositories/plain")


def test_script_in_catalog_text_shows_as_text_in_chromium(site):
    ep, browser, _ = site
    for path in ("/repositories/evil", "/repositories/evil?tab=usage"):
        dom = browser.dom(ep.url + path)
        assert "<title>evil · Browser Test Registry · pypush gallery</title>" in dom  # no script renamed it
        assert "<script" not in dom and "<img" not in dom  # evil has no logo: any img would be the injected one
        assert "&lt;script&gt;document.title='owned'&lt;/script&gt;" in dom
