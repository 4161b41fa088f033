"""The gallery of `pypush serve` as ECR Public's is today: catalog categories, badges (SBOM, SIGNED) and
artifact types on cards and pages, the registry's description and logo, premium repositories listed only
while AVAILABLE (and with a PUBLIC product when the Marketplace stub names them), deprecated images marked
with their deletion date."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
import requests

from conftest import server_fixture
from endpoint_client import HELM_CONFIG, client, push_blob, put_artifact, sha
from gallerydata import push_image, solid_png
from pypush.server import LocalEndpoint
from test_gallery import card_names, get

pytestmark = [pytest.mark.servers]
P = {"repositoryType": "PREMIUM"}


@server_fixture
def ep(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", alias="acme") as endpoint:
        yield endpoint


def card_of(page: str, name: str) -> str:
    """The HTML of the card named ``name`` (the first one, FREE before PREMIUM)."""
    for card in re.findall(r'<li class="card">.*?</li>', page, re.S):
        if f'<span class="card-name">{name}</span>' in card:
            return card
    raise AssertionError(f"no card {name!r}")


def badge_texts(html: str, kind: str):
    return re.findall(rf'<span class="badge {kind}"[^>]*>([^<]*)</span>', html)


def premium_image(c, repo: str, tag: str) -> str:
    layer, config = b"premium layer", json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in (config, layer):
        push_blob(c, repo, blob, **P)
    text = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer),
                                   "size": len(layer)}]})
    c.put_image(repositoryName=repo, imageManifest=text, imageTag=tag, **P)
    return text


def test_categories_badges_artifact_types_and_the_registry(ep):
    c = client(ep)
    logo = solid_png(8, 8, (10, 120, 200))
    c.put_registry_catalog_data(displayName="Acme", description="Hardened images by Acme.", logoImageBlob=logo)
    c.create_repository(repositoryName="team/app", catalogData={"categories": ["WEB_SERVERS", "AI_ML"]})
    image = push_image(c, "team/app", "v1")
    put_artifact(c, "team/app", "application/spdx+json", b'{"spdxVersion": "SPDX-2.3"}', subject=image)
    put_artifact(c, "team/app", "application/vnd.dev.cosign.artifact.sig.v1+json", b"sig", subject=image)
    c.create_repository(repositoryName="team/chart")
    put_artifact(c, "team/chart", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"chart",
                 config_type=HELM_CONFIG, tag="1.0.0")
    status, _, page = get(ep.url + "/")
    assert status == 200 and "Hardened images by Acme." in page
    logo_src = re.search(r'<section class="registry">\s*<img class="logo large" src="([^"]+)"', page)[1]
    served = requests.get(ep.url + logo_src, timeout=30)
    assert (served.status_code, served.headers["Content-Type"], served.content) == (200, "image/png", logo)
    app = card_of(page, "team/app")
    assert badge_texts(app, "category") == ["Web servers", "AI &amp; ML"]
    assert (badge_texts(app, "trust"), badge_texts(app, "artifact")) == (["SIGNED", "SBOM"], ["Image"])
    chart = card_of(page, "team/chart")
    assert (badge_texts(chart, "category"), badge_texts(chart, "trust"), badge_texts(chart, "artifact")) == (
        [], [], ["Helm chart"])
    status, _, repo_page = get(ep.url + "/repositories/team/app")
    assert status == 200 and badge_texts(repo_page, "trust") == ["SIGNED", "SBOM"]
    assert "Web servers" in repo_page
    _, _, found = get(ep.url + "/?q=web+servers")
    assert card_names(found) == ["team/app"]
    # What the API says is what the gallery shows.
    data = c.get_repository_catalog_data(repositoryName="team/app")["catalogData"]
    assert (data["badges"], data["artifactTypes"]) == (["SIGNED", "SBOM"], ["IMAGE"])


def test_premium_listed_only_while_available(ep):
    c = client(ep)
    c.create_repository(repositoryName="paid/app", catalogData={"description": "the free edition"})
    push_image(c, "paid/app", "v1")
    c.create_premium_repository(repositoryName="paid/app", marketplaceProducts=["prod-a"],
                                catalogData={"description": "the premium edition", "categories": ["SECURITY"],
                                             "logoImageBlob": solid_png(4, 4, (200, 0, 0))})
    text = premium_image(c, "paid/app", "v9")

    def listed():
        page = get(ep.url + "/")[2]
        return [(m[0], "Premium" in m[1]) for m in re.findall(
            r'<span class="card-name">([^<]*)</span>.*?<div class="badges">(.*?)</div>', page, re.S)]

    assert listed() == [("paid/app", False)]  # DRAFT
    assert get(ep.url + "/premium/paid/app")[0] == 404
    assert get(ep.url + "/logos/~premium/paid/app")[0] == 404
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    assert listed() == [("paid/app", False), ("paid/app", True)]
    page = get(ep.url + "/")[2]
    premium_card = [cd for cd in re.findall(r'<li class="card">.*?</li>', page, re.S) if "Premium" in cd][0]
    assert 'href="/premium/paid/app"' in premium_card and "the premium edition" in premium_card
    assert badge_texts(premium_card, "category") == ["Security"]
    served = requests.get(ep.url + re.search(r'<img class="logo" src="([^"]+)"', premium_card)[1], timeout=30)
    assert (served.status_code, served.headers["Content-Type"]) == (200, "image/png")
    status, _, tags = get(ep.url + "/premium/paid/app?tab=tags")
    uri = c.describe_premium_repositories(repositoryNames=["paid/app"])["repositories"][0]["repositoryUri"]
    assert status == 200 and f"docker pull {uri}:v9" in tags and "v1" not in re.findall(r'tag-name">([^<]*)<', tags)
    assert sha(text.encode()) in tags
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="HIDDEN")
    assert listed() == [("paid/app", False)]
    assert get(ep.url + "/premium/paid/app")[0] == 404


def test_premium_listed_only_with_a_public_product_when_the_stub_says(tmp_path):
    with LocalEndpoint(data_dir=tmp_path / "data", public_products=["prod-public"]) as ep:
        c = client(ep)
        c.create_premium_repository(repositoryName="paid/app", marketplaceProducts=["prod-private"])
        c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
        assert card_names(get(ep.url + "/")[2]) == []
        assert get(ep.url + "/premium/paid/app")[0] == 404
        c.put_premium_repository_products(repositoryName="paid/app",
                                          marketplaceProducts=["prod-private", "prod-public"])
        assert card_names(get(ep.url + "/")[2]) == ["paid/app"]


def test_deprecated_images_show_their_deletion_date(ep):
    c = client(ep)
    c.create_premium_repository(repositoryName="paid/app", marketplaceProducts=["prod-a"])
    premium_image(c, "paid/app", "old")
    c.set_repository_state(repositoryName="paid/app", repositoryType="PREMIUM", state="AVAILABLE")
    assert "Deprecated" not in get(ep.url + "/premium/paid/app?tab=tags")[2]
    done = c.set_image_status(repositoryName="paid/app", repositoryType="PREMIUM", imageId={"imageTag": "old"},
                              status="DEPRECATED", deprecationPeriodDays=120)
    when = done["scheduledDeletionAt"].astimezone(timezone.utc)
    tags = get(ep.url + "/premium/paid/app?tab=tags")[2]
    marked = re.search(r'<span class="deprecated"[^>]*>Deprecated · deleted on <time datetime="([^"]+)"[^>]*>([^<]+)',
                       tags)
    assert marked and marked[2] == when.strftime("%Y-%m-%d")
    assert datetime.strptime(marked[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) == when.replace(microsecond=0)
    c.set_image_status(repositoryName="paid/app", repositoryType="PREMIUM", imageId={"imageTag": "old"},
                       status="ACTIVE")
    assert "Deprecated" not in get(ep.url + "/premium/paid/app?tab=tags")[2]
