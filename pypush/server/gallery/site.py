"""Routes of the gallery (GET/HEAD outside /v2/): ``/`` (``?q=`` search, ``?sort=name|pushed``, ``?page=``),
``/repositories/NAME`` (``?tab=about|usage|tags``, ``?page=``), ``/logos/NAME``, ``/style.css``;
``/ALIAS/NAME`` (gallery.ecr.aws's form) redirects to the repository.

A failing page answers 500 for that page only; the AWS API and /v2/ never pass through here.
"""
from __future__ import annotations

import logging
import traceback
from email.message import Message
from importlib import resources
from typing import Dict, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from pypush.server.gallery.html_parts import repo_url
from pypush.server.gallery.listing import Listing
from pypush.server.gallery.pages import TAGS_PER_PAGE, Site, front_page, message_page, repo_page
from pypush.server.reply import Reply
from pypush.server.settings import Settings
from pypush.server.store.store import Store

log = logging.getLogger("pypush.server")

HTML = "text/html; charset=utf-8"
REGISTRY_LOGO = "_registry"
"""``/logos/_registry`` is the registry's logo (GetRegistryCatalogData's logoUrl); no repository name starts
with ``_``."""
SECURITY_HEADERS = {
    # No script at all, styles and images from here (markdown images may point anywhere), forms to here.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data: http: https:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"), (b"BM", "image/bmp"), (b"\x00\x00\x01\x00", "image/x-icon"))


def sniff_image_type(data: bytes) -> Optional[str]:
    """The content type of PNG, JPEG, GIF, WebP, BMP or ICO bytes; None for anything else (SVG included:
    it can carry script)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    return None


def _int(value: Optional[str], default: int = 1) -> int:
    return int(value) if value and value.isdigit() and len(value) < 9 else default


class Gallery:
    """The gallery of one endpoint."""

    def __init__(self, store: Store, settings: Settings):
        self.listing = Listing(store)
        self.settings = settings
        self._style: Optional[bytes] = None

    def site(self, headers: Message) -> Site:
        host = headers.get("Host") or self.settings.url.split("://", 1)[-1]
        return Site(alias=self.settings.alias, display_name=self.listing.display_name(), host_port=host)

    def handle(self, method: str, target: str, headers: Message) -> Reply:
        """The answer to one GET/HEAD outside /v2/."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if method not in ("GET", "HEAD"):
            return self._page(405, message_page(self.settings.alias, "Method not allowed",
                                                "The gallery only answers GET."), {"Allow": "GET, HEAD"})
        try:
            if path == "/style.css":
                return self._style_sheet()
            if path.startswith("/logos/"):
                return self._logo(path[len("/logos/"):])
            if path == "/favicon.ico":
                return Reply(204, {"Cache-Control": "max-age=86400"})
            site = self.site(headers)
            if path in ("/", "/index.html"):
                return self._front(site, query.get("q", "").strip(), _int(query.get("page")), query.get("sort", "name"))
            if path.startswith("/repositories/"):
                return self._repository(site, path[len("/repositories/"):], query.get("tab", "about"),
                                        _int(query.get("page")))
            alias = f"/{self.settings.alias}"
            if path == alias or path.startswith(alias + "/"):  # gallery.ecr.aws/ALIAS/REPO addresses
                repo = path[len(alias):].strip("/")
                return Reply(302, {"Location": repo_url(repo) if repo else "/", "Content-Type": HTML}, b"")
            return self._not_found(f"Nothing is served at {path}.")
        except Exception:
            log.error("gallery page %s failed: %s", path, traceback.format_exc())
            return self._page(500, message_page(self.settings.alias, "This page failed",
                                                "The gallery could not render this page (the server log says why). "
                                                "The ECR API and /v2/ are unaffected."))

    def _page(self, status: int, text: str, extra: Optional[Dict[str, str]] = None) -> Reply:
        headers = {"Content-Type": HTML, "Cache-Control": "no-cache", **SECURITY_HEADERS, **(extra or {})}
        return Reply(status, headers, text.encode("utf-8"))

    def _not_found(self, text: str) -> Reply:
        return self._page(404, message_page(self.settings.alias, "Not found", text))

    def _front(self, site: Site, q: str, page: int, sort: str) -> Reply:
        cards = self.listing.cards()
        total = len(cards)
        if q:
            terms = q.lower().split()
            cards = [c for c in cards if c.matches(terms)]
        if sort == "pushed":  # newest first, never-pushed last, by name among equals
            cards = sorted(cards, key=lambda c: -(c.last_push or 0.0))
        else:
            sort = "name"
        return self._page(200, front_page(site, cards, total, q, page, sort))

    def _repository(self, site: Site, name: str, tab: str, page: int) -> Reply:
        name = name.strip("/")
        offset, limit = ((page - 1) * TAGS_PER_PAGE, TAGS_PER_PAGE) if tab == "tags" else (0, 1)
        repo = self.listing.repository(name, offset=offset, limit=limit)
        if repo is None:
            return self._not_found(f"There is no repository named {name!r} here.")
        return self._page(200, repo_page(site, repo, tab, page))

    def _logo(self, name: str) -> Reply:
        name = name.strip("/")
        data = self.listing.registry_logo() if name == REGISTRY_LOGO else self.listing.logo(name)
        kind = sniff_image_type(data) if data else None
        if data is None or kind is None:
            return Reply(404, {"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS},
                         b"no logo\n" if data is None else b"the logo is not a PNG, JPEG, GIF, WebP, BMP or ICO image\n")
        return Reply(200, {"Content-Type": kind, "Cache-Control": "no-cache", **SECURITY_HEADERS}, data)

    def _style_sheet(self) -> Reply:
        if self._style is None:
            self._style = resources.files("pypush.server.gallery").joinpath("style.css").read_bytes()
        return Reply(200, {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=300",
                           **SECURITY_HEADERS}, self._style)
