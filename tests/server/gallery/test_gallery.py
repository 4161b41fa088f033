"""The gallery of `pypush serve` over HTTP: cards, search, paging, repository pages, markdown, escaping,
logos, and that its failures never reach the ECR API or /v2/."""
from __future__ import annotations

import json
import re
import sys
import urllib.request
from typing import Dict, List, Tuple
from urllib.error import HTTPError

import pytest

from conftest import server_fixture

from gallerydata import catalog, populate_demo, push_image, push_index, solid_png
from endpoint_client import cli, client

from pypush.server import LocalEndpoint
from pypush.server.gallery import markdown_render
from pypush.server.gallery.pages import CARDS_PER_PAGE

SCRIPT = "<script>alert('owned')</script>"
IMG = '<img src=x onerror="alert(1)">'


def get(url: str, method: str = "GET") -> Tuple[int, Dict[str, str], str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method)) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def card_names(page: str) -> List[str]:
    return re.findall(r'<span class="card-name">([^<]*)</span>', page)


@server_fixture(scope="module")
def demo(tmp_path_factory):
    """A LocalEndpoint (alias acme) holding the demo registry; the tests here only read it."""
    with LocalEndpoint(data_dir=tmp_path_factory.mktemp("gallery") / "data", alias="acme") as ep:
        populate_demo(client(ep))
        yield ep


@server_fixture
def fresh(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", alias="acme") as ep:
        yield ep


def test_front_page_cards_and_search(demo):
    status, headers, page = get(demo.url + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<h1>Acme Corp</h1>" in page and "public.ecr.aws/acme</code> · 7 repositories" in page
    assert card_names(page) == ["datastore", "ml/inference", "python-runtime", "scratch", "tools/registry-cli",
                                "webserver", "windows/agent"]
    assert "A small, fast HTTP server for static sites and reverse proxying." in page
    assert '<span class="badge os">Windows</span>' in page and '<span class="badge arch">ARM 64</span>' in page
    assert 'src="/logos/webserver"' in page and 'src="/logos/scratch"' not in page  # scratch has no logo
    assert "2 tags" in page and "No images yet" in page and "Pushed just now" in page
    # newest push first on request (never-pushed last), and the order survives paging links
    pushed = card_names(get(demo.url + "/?sort=pushed")[2])
    assert pushed[:2] == ["ml/inference", "windows/agent"] and pushed[-1] == "scratch"
    assert '<a href="/?sort=pushed">Recently pushed</a>' in page
    # the search form is a plain GET; words must all match name, description or badges
    assert '<form class="search" method="get" action="/"' in page
    assert card_names(get(demo.url + "/?q=windows")[2]) == ["windows/agent"]
    assert card_names(get(demo.url + "/?q=ARM+python")[2]) == ["python-runtime"]
    assert card_names(get(demo.url + "/?q=TOOLS%2F")[2]) == ["tools/registry-cli"]
    status, _, none = get(demo.url + "/?q=nothing-like-this")
    assert status == 200 and card_names(none) == [] and "No repositories match “nothing-like-this”" in none
    # the API and /v2/ are where they were
    assert get(demo.url + "/v2/")[0] == 401  # the registry login challenge (anonymous pulls stay open)
    assert json.loads(get(demo.url + "/v2/_catalog")[2])["repositories"][0] == "datastore"
    status, headers, body = get(demo.url + "/", method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) == len(page.encode())


def test_repository_page_markdown_tags_and_pull_commands(demo):
    status, _, about = get(demo.url + "/repositories/webserver")
    assert status == 200
    assert "<h2>Features</h2>" in about and "<strong>HTTP server</strong>" in about
    assert "<th>Tag</th>" in about and "<td><code>1.27-debug</code></td>" in about  # tables are on
    assert "public.ecr.aws/acme/webserver</code>" in about and "A small, fast HTTP server" in about
    assert "docker pull public.ecr.aws/acme/webserver:1.27-debug" in about  # the newest tag, in the side panel
    usage = get(demo.url + "/repositories/webserver?tab=usage")[2]
    assert '<pre><code class="language-sh">docker run --rm -p 8080:8080' in usage
    assert '<a href="https://example.com/docs">documentation</a>' in usage
    status, _, tags = get(demo.url + "/repositories/webserver?tab=tags")
    assert status == 200
    blocks = re.findall(r'<li class="tag">(.*?)</li>', tags, re.S)
    assert [re.search(r'tag-name">([^<]*)', b)[1] for b in blocks] == ["1.27-debug", "1.27"]  # newest first
    newest, index = blocks
    assert "Image index" in index and "linux/amd64" in index and "linux/arm64/v8" in index
    assert "Image<" in newest and "linux/amd64" in newest and "KiB" in newest
    for tag, block in (("1.27-debug", newest), ("1.27", index)):
        assert f"docker pull public.ecr.aws/acme/webserver:{tag}</code>" in block
        assert f"docker pull {demo.host_port}/webserver:{tag}</code>" in block
        assert re.search(r'class="digest" title="(sha256:[0-9a-f]{64})"', block)
    c = client(demo)
    digests = {i["imageTags"][0]: i["imageDigest"] for i in c.describe_images(repositoryName="webserver")["imageDetails"]
               if i.get("imageTags")}
    assert digests["1.27"] in index and digests["1.27-debug"] in newest
    sizes = {i["imageTags"][0]: i["imageSizeInBytes"] for i in c.describe_images(repositoryName="webserver")["imageDetails"]
             if i.get("imageTags")}
    assert f"{sizes['1.27-debug'] / 1024:.1f} KiB" in newest
    # names with a slash, other OSes and variants
    agent = get(demo.url + "/repositories/windows/agent?tab=tags")[2]
    assert "windows/amd64" in agent and "docker pull public.ecr.aws/acme/windows/agent:2022" in agent
    assert "linux/arm64/v8" in get(demo.url + "/repositories/tools/registry-cli?tab=tags")[2]
    # gallery.ecr.aws addresses (/ALIAS/REPO) lead to the repository
    with urllib.request.urlopen(demo.url + "/acme/tools/registry-cli") as r:
        assert r.url == demo.url + "/repositories/tools/registry-cli" and "registry-cli" in r.read().decode()
    status, _, missing = get(demo.url + "/repositories/nope")
    assert status == 404 and "no repository named &#x27;nope&#x27;" in missing


def test_index_platforms_come_from_child_configs_and_artifacts_have_none(fresh):
    c = client(fresh)
    c.create_repository(repositoryName="multi")
    push_index(c, "multi", "bare", ["linux/arm/v7", "linux/ppc64le"], with_platform=False)
    push_index(c, "multi", "described", ["linux/amd64", "linux/arm64"])
    page = get(fresh.url + "/repositories/multi?tab=tags")[2]
    bare = re.search(r'tag-name">bare<.*?</li>', page, re.S)[0]
    assert "linux/arm/v7" in bare and "linux/ppc64le" in bare and "linux/amd64" not in bare


def test_script_injection_shows_as_text(fresh):
    c = client(fresh)
    c.create_repository(repositoryName="evil", catalogData=catalog(
        description=f"desc {SCRIPT} {IMG}", about=f"# About\n\n{SCRIPT}\n\n{IMG} [click](javascript:alert(1))",
        usage=f"{SCRIPT}\n\n<iframe src=//example.com></iframe>", architectures=[SCRIPT], operating_systems=["Linux"]))
    push_image(c, "evil", "v1")
    c.put_registry_catalog_data(displayName=f"Display {SCRIPT}")
    pages = [get(fresh.url + path)[2] for path in
             ("/", "/?q=%3Cscript%3E", "/repositories/evil", "/repositories/evil?tab=usage", "/repositories/evil?tab=tags")]
    for page in pages:
        lowered = page.lower()
        assert "<script" not in lowered and "<iframe" not in lowered and "<img src=x" not in lowered
        assert "javascript:" not in lowered.replace("[click](javascript:alert(1))", "")
    front, search, about, usage, _ = pages
    assert "desc &lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in front
    assert "Display &lt;script&gt;" in front and card_names(search) == ["evil"]
    assert "<p>&lt;script&gt;alert('owned')&lt;/script&gt;</p>" in about  # markdown-it escapes, raw HTML is off
    assert "[click](javascript:alert(1))" in about  # an unsafe link is left as text
    assert "&lt;iframe src=//example.com&gt;&lt;/iframe&gt;" in usage


def test_repository_without_catalog_data(fresh):
    c = client(fresh)
    c.create_repository(repositoryName="bare")
    front = get(fresh.url + "/")[2]
    assert card_names(front) == ["bare"] and "No description" in front
    assert 'class="logo tile' in front and "/logos/bare" not in front
    status, headers, _ = get(fresh.url + "/logos/bare")
    assert status == 404 and headers["Content-Type"].startswith("text/plain")
    for tab, empty in (("about", "No About text yet"), ("usage", "No Usage text yet"), ("tags", "No tagged images")):
        status, _, page = get(fresh.url + f"/repositories/bare?tab={tab}")
        assert status == 200 and empty in page and "never pushed" in page


def test_without_sqlite_json_functions(demo, monkeypatch):
    """An SQLite built without JSON1 makes the listing parse catalog data in Python: same cards."""
    from pypush.server.gallery.listing import _CARDS_JSON

    def cards(page: str) -> List[str]:
        return re.findall(r'<li class="card">.*?(?:<time|<span class="muted">)', page, re.S)

    expected = cards(get(demo.url + "/?q=linux")[2])
    assert len(expected) == 5 and all('"badge os">Linux<' in card for card in expected)
    monkeypatch.setattr("pypush.server.gallery.listing._CARDS_JSON", _CARDS_JSON.replace("json_extract", "no_such_fn"))
    listing = demo._server.app._gallery.listing  # made by the page above
    monkeypatch.setattr(listing, "_json_functions", None)
    monkeypatch.setattr(listing, "_cards", None)
    assert cards(get(demo.url + "/?q=linux")[2]) == expected
    assert listing._json_functions is False


def test_front_page_follows_every_change(fresh):
    c = client(fresh)
    c.create_repository(repositoryName="one")
    assert card_names(get(fresh.url + "/")[2]) == ["one"]
    c.create_repository(repositoryName="two")
    assert card_names(get(fresh.url + "/")[2]) == ["one", "two"]
    c.put_repository_catalog_data(repositoryName="two", catalogData={"description": "now described"})
    assert "now described" in get(fresh.url + "/")[2]
    push_image(c, "two", "v1")
    assert "1 tag<" in get(fresh.url + "/")[2]
    c.put_image(repositoryName="two", imageManifest=push_image(c, "two", None, payload=b"2"), imageTag="v2")
    assert "2 tags<" in get(fresh.url + "/")[2]
    c.batch_delete_image(repositoryName="two", imageIds=[{"imageTag": "v2"}])
    assert "1 tag<" in get(fresh.url + "/")[2]
    c.put_registry_catalog_data(displayName="Renamed")
    assert "<h1>Renamed</h1>" in get(fresh.url + "/")[2]
    c.delete_repository(repositoryName="one")
    assert card_names(get(fresh.url + "/")[2]) == ["two"]


def test_empty_registry(fresh):
    status, _, page = get(fresh.url + "/")
    assert status == 200 and "No repositories yet" in page and "<h1>acme</h1>" in page


def test_logo_content_types(fresh):
    c = client(fresh)
    logos = {"png": (solid_png(3, 2, (1, 2, 3)), "image/png"),
             "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20, "image/jpeg"),
             "gif": (b"GIF89a" + b"\x00" * 20, "image/gif"),
             "webp": (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "image/webp")}
    for name, (data, _) in logos.items():
        c.create_repository(repositoryName=name, catalogData={"logoImageBlob": data})
    for name, (data, kind) in logos.items():
        with urllib.request.urlopen(fresh.url + f"/logos/{name}") as r:
            assert (r.status, r.headers["Content-Type"], r.read()) == (200, kind, data)
    c.create_repository(repositoryName="svg", catalogData={"logoImageBlob": b"<svg onload=alert(1)></svg>"})
    status, headers, body = get(fresh.url + "/logos/svg")
    assert status == 404 and "not a PNG, JPEG" in body and headers["Content-Type"].startswith("text/plain")


def test_hundreds_of_repositories_are_paged(fresh):
    c = client(fresh)
    names = [f"svc-{i:03d}" for i in range(300)]
    for i, name in enumerate(names):
        c.create_repository(repositoryName=name, catalogData=catalog(description=f"service number {i}",
                                                                      architectures=["x86-64"]))
    page = get(fresh.url + "/")[2]
    assert len(card_names(page)) == CARDS_PER_PAGE and "1–24 of 300 repositories" in page
    seen: List[str] = []
    url = "/"
    while url:
        page = get(fresh.url + url)[2]
        seen += card_names(page)
        nxt = re.search(r'<a rel="next" href="([^"]*)"', page)
        url = nxt[1].replace("&amp;", "&") if nxt else ""
    assert seen == names  # every repository once, in name order
    assert card_names(get(fresh.url + "/?page=13")[2]) == names[288:]
    assert card_names(get(fresh.url + "/?page=99")[2]) == names[288:]  # past the end: the last page
    assert card_names(get(fresh.url + "/?page=0")[2]) == names[:24]
    # search pages too, and its links keep the query
    found = get(fresh.url + "/?q=svc-1")[2]
    assert "1–24 of 100 repositories matching “svc-1”" in found and 'href="/?q=svc-1&amp;page=2"' in found
    assert 'href="/?q=svc-1&amp;sort=pushed&amp;page=2"' in get(fresh.url + "/?q=svc-1&sort=pushed")[2]
    assert card_names(get(fresh.url + "/?q=number+299")[2]) == ["svc-299"]


def test_tags_are_paged(fresh):
    c = client(fresh)
    c.create_repository(repositoryName="many")
    text = push_image(c, "many", "t000")
    for i in range(1, 60):
        c.put_image(repositoryName="many", imageManifest=text, imageTag=f"t{i:03d}")
    first = get(fresh.url + "/repositories/many?tab=tags")[2]
    second = get(fresh.url + "/repositories/many?tab=tags&page=2")[2]
    tags = lambda page: re.findall(r'<span class="tag-name">([^<]*)</span>', page)  # noqa: E731
    assert len(tags(first)) == 50 and len(tags(second)) == 10
    assert sorted(tags(first) + tags(second)) == [f"t{i:03d}" for i in range(60)]
    assert 'href="/repositories/many?tab=tags&amp;page=2"' in first


def test_markdown_library_missing_falls_back_to_text(fresh, monkeypatch):
    c = client(fresh)
    c.create_repository(repositoryName="md", catalogData=catalog(about=f"# Title\n\n{SCRIPT}"))
    monkeypatch.setattr(markdown_render, "_renderer", False)
    page = get(fresh.url + "/repositories/md")[2]
    assert '<pre class="plain"># Title\n\n&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;</pre>' in page
    monkeypatch.undo()
    assert "<h1>Title</h1>" in get(fresh.url + "/repositories/md")[2]


def test_a_failing_page_never_affects_the_api(fresh, monkeypatch):
    from pypush.server.gallery.listing import Listing

    c = client(fresh)
    c.create_repository(repositoryName="app")
    push_image(c, "app", "v1")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Listing, "repository", broken)
    status, headers, page = get(fresh.url + "/repositories/app")
    assert status == 500 and headers["Content-Type"].startswith("text/html") and "This page failed" in page
    assert "boom" not in page
    assert get(fresh.url + "/")[0] == 200  # other pages still work
    assert c.describe_repositories()["repositories"][0]["repositoryName"] == "app"
    assert get(fresh.url + "/v2/app/tags/list")[2] == '{"name": "app", "tags": ["v1"]}'


@pytest.mark.servers
def test_a_gallery_that_cannot_import_never_affects_the_api(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.startswith("pypush.server.gallery")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pypush.server.gallery", None)  # import fails
    with LocalEndpoint(data_dir=tmp_path / "data") as ep:
        c = client(ep)
        c.create_repository(repositoryName="app")
        status, _, body = get(ep.url + "/")
        assert status == 500 and "the API is unaffected" in body
        assert c.describe_repositories()["repositories"][0]["repositoryName"] == "app"
        assert get(ep.url + "/v2/_catalog")[2] == '{"repositories": ["app"]}'


def test_render_markdown_unit():
    render = markdown_render.render_markdown
    assert render("") == "" and render("  \n") == ""
    assert render("*a* ~~b~~") == "<p><em>a</em> <s>b</s></p>\n"
    assert render("[x](javascript:alert(1))") == "<p>[x](javascript:alert(1))</p>\n"
    assert render("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"
    assert 'src="data:image/png;base64,AAAA"' in render("![i](data:image/png;base64,AAAA)")


def test_what_pypush_catalog_set_writes_is_what_the_gallery_shows(fresh, tmp_path):

    c = client(fresh)
    c.create_repository(repositoryName="app")
    (tmp_path / "about.md").write_text("# App\n\nDoes *things* — ünïcode too.\n", encoding="utf-8")
    (tmp_path / "logo.png").write_bytes(solid_png(8, 8, (9, 9, 9)))
    proc = cli(fresh, "catalog", "set", "app", "--description", "The app", "--about", str(tmp_path / "about.md"),
               "--architecture", "arm64", "--os", "linux", "--logo", str(tmp_path / "logo.png"))
    assert proc.returncode == 0, proc.stderr
    assert cli(fresh, "catalog", "set", "--registry", "--display-name", "Local Builds").returncode == 0
    front = get(fresh.url + "/")[2]
    assert "<h1>Local Builds</h1>" in front and "The app" in front and 'src="/logos/app"' in front
    assert '<span class="badge arch">ARM 64</span>' in front and '<span class="badge os">Linux</span>' in front
    page = get(fresh.url + "/repositories/app")[2]
    assert "<h1>App</h1>" in page and "<p>Does <em>things</em> — ünïcode too.</p>" in page
    with urllib.request.urlopen(fresh.url + "/logos/app") as r:
        assert r.headers["Content-Type"] == "image/png" and r.read() == (tmp_path / "logo.png").read_bytes()
