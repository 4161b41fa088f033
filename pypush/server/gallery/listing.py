"""What the gallery shows, read from the endpoint's store: repository cards, one repository's catalog
data and tags, and logos.

The front page reads only the small catalog fields (SQLite's JSON functions pick them out of the
stored catalog data, so logos and About texts are not copied per request), which keeps it fast for
thousands of repositories.
"""
from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from pypush.server.gallery.platform_reader import PlatformReader
from pypush.server.store.catalog_facts import Facts, all_catalog_facts, catalog_facts
from pypush.server.store.store import Db, Store


@dataclass(frozen=True)
class RepoCard:
    """One repository as the front page lists it."""

    name: str
    description: str
    architectures: Tuple[str, ...]
    operating_systems: Tuple[str, ...]
    has_logo: bool
    created_at: float
    last_push: Optional[float]
    tag_count: int
    key: str = ""
    """The store key (``~premium/<name>`` for a premium repository)."""
    premium: bool = False
    categories: Tuple[str, ...] = ()
    badges: Tuple[str, ...] = ()
    artifact_types: Tuple[str, ...] = ()

    def matches(self, terms: Sequence[str]) -> bool:
        """Every search term occurs in the name, description, architectures, operating systems or categories."""
        hay = " ".join((self.name, self.description, *self.architectures, *self.operating_systems,
                        *self.categories, *(c.replace("_", " ") for c in self.categories))).lower()
        return all(t in hay for t in terms)


@dataclass(frozen=True)
class TagRow:
    """One tag of a repository: the image it names and where it runs."""

    tag: str
    digest: str
    media_type: str
    artifact_type: Optional[str]
    size: int
    pushed_at: float
    platforms: Tuple[str, ...]
    is_index: bool
    deletion_at: Optional[float] = None
    """When a deprecated premium image is deleted (None: not deprecated)."""


@dataclass
class RepoPage:
    """One repository's catalog data and a page of its tags (newest first)."""

    card: RepoCard
    about: str
    usage: str
    tags: List[TagRow] = field(default_factory=list)
    tag_total: int = 0
    pull: Optional[TagRow] = None
    """The tag the side panel offers: ``latest`` when it exists (what ``docker pull`` assumes), else the
    newest push."""


def _strings(value: Any) -> Tuple[str, ...]:
    """A tuple of the strings of a JSON array (text or parsed), anything else empty."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ()
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _decoded(blob: Any) -> Optional[bytes]:
    """The bytes of stored base64 text; None for anything else."""
    if not isinstance(blob, str) or not blob:
        return None
    try:
        return base64.b64decode(blob)
    except (binascii.Error, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


_SOURCES = ("(SELECT name AS key, name, 0 AS premium, created_at, catalog, NULL AS products FROM repositories "
            "UNION ALL SELECT '~premium/' || name, name, 1, created_at, catalog, products FROM premium_repositories "
            "WHERE state='AVAILABLE') r")
"""Every repository the gallery may list: the FREE ones, and the premium ones while AVAILABLE (never in DRAFT
or HIDDEN), each with its store key."""
_CARD_STATS = ("(SELECT MAX(pushed_at) FROM images i WHERE i.repo=r.key), "
               "(SELECT MAX(created_at) FROM image_tags t WHERE t.repo=r.key), "
               "(SELECT COUNT(*) FROM image_tags t WHERE t.repo=r.key)")
_CARDS_JSON = ("SELECT r.key, r.premium, r.products, r.name, r.created_at, json_extract(r.catalog, '$.description'), "
               "json_extract(r.catalog, '$.architectures'), json_extract(r.catalog, '$.operatingSystems'), "
               "json_extract(r.catalog, '$.categories'), "
               f"json_type(r.catalog, '$.logoImageBlob') = 'text', {_CARD_STATS} FROM {_SOURCES}")
_TAG_ROWS = ("SELECT t.tag, t.created_at, i.digest, i.media_type, i.artifact_type, i.size, i.manifest, s.scheduled_at "
             "FROM image_tags t JOIN images i ON i.repo=t.repo AND i.digest=t.digest LEFT JOIN image_status s "
             "ON s.repo=t.repo AND s.digest=t.digest AND s.status='DEPRECATED' WHERE t.repo=? "
             "ORDER BY t.created_at DESC, t.tag LIMIT ? OFFSET ?")
_LATEST_ROW = _TAG_ROWS.replace("WHERE t.repo=?", "WHERE t.repo=? AND t.tag='latest'").replace(
    " LIMIT ? OFFSET ?", "")
_CARDS_PLAIN = f"SELECT r.key, r.premium, r.products, r.name, r.created_at, r.catalog, {_CARD_STATS} FROM {_SOURCES}"


def _version(db: Db) -> Tuple[int, int]:
    """What changes whenever the database does: rows this connection changed, and SQLite's data_version
    (commits of other connections)."""
    return db.conn.total_changes, db.execute("PRAGMA data_version")[0][0]


class Listing:
    """Read-only queries over one Store (safe to share between request threads)."""

    def __init__(self, store: Store, public_products: Optional[FrozenSet[str]] = None):
        self.store = store
        self.public_products = public_products
        """The Marketplace stub's PUBLIC products (None: all): a premium repository is listed only with one."""
        self.platforms = PlatformReader(store)
        self._json_functions: Optional[bool] = None
        self._cards: Optional[Tuple[Tuple[int, int], List[RepoCard]]] = None

    def display_name(self) -> str:
        """The registry's display name (PutRegistryCatalogData), or ''."""
        return self.store.meta("displayName", "") or ""

    def registry_description(self) -> str:
        """The registry's description (PutRegistryCatalogData), or ''."""
        return self.store.meta("registryDescription", "") or ""

    def registry_logo(self) -> Optional[bytes]:
        """The registry's logo bytes, None without one."""
        return _decoded(self.store.meta("registryLogo"))

    def cards(self) -> List[RepoCard]:
        """Every repository, by name; kept until the store next changes (reading the catalog data of
        thousands of repositories with their logos takes a noticeable fraction of a second)."""
        with self.store.read() as db:
            version = _version(db)
            cached = self._cards
            if cached is not None and cached[0] == version:
                return cached[1]
            cards = self._query(db, "", ())
        self._cards = (version, cards)
        return cards

    def card(self, key: str) -> Optional[RepoCard]:
        """One listed repository's card by store key, None for an unknown or unlisted one."""
        with self.store.read() as db:
            found = self._query(db, " WHERE r.key=?", (key,))
        return found[0] if found else None

    def _query(self, db: Any, where: str, args: Tuple[Any, ...]) -> List[RepoCard]:
        order = " ORDER BY r.name, r.premium"
        facts = all_catalog_facts(db) if not args else {args[0]: catalog_facts(db, args[0])}
        rows: List[Tuple[Any, ...]] = []
        if self._json_functions is not False:
            try:
                rows = db.execute(_CARDS_JSON + where + order, args).fetchall()
                self._json_functions = True
            except sqlite3.OperationalError:
                if self._json_functions:
                    raise
                self._json_functions = False  # an SQLite built without JSON1: parse in Python
        if self._json_functions is False:
            for key, premium, products, name, created, catalog, *stats in db.execute(
                    _CARDS_PLAIN + where + order, args).fetchall():
                data = json.loads(catalog or "{}")
                rows.append((key, premium, products, name, created, data.get("description"), data.get("architectures"),
                             data.get("operatingSystems"), data.get("categories"),
                             isinstance(data.get("logoImageBlob"), str), *stats))
        return [self._card(facts, *row) for row in rows if self._listed(row[1], row[2])]

    def _listed(self, premium: int, products: Optional[str]) -> bool:
        """A premium repository is listed only with a PUBLIC product, when the Marketplace stub names them."""
        if not premium or self.public_products is None:
            return True
        return any(p in self.public_products for p in json.loads(products or "[]"))

    @staticmethod
    def _card(facts: Dict[str, Facts], key: str, premium: int, products: Optional[str], name: str, created: float,
              description: Any, archs: Any, oses: Any, categories: Any, has_logo: Any, pushed: Optional[float],
              tagged: Optional[float], tag_count: int) -> RepoCard:
        pushes = [t for t in (pushed, tagged) if t is not None]
        badges, kinds = facts.get(key, ([], []))
        return RepoCard(name=name, description=_text(description), architectures=_strings(archs),
                        operating_systems=_strings(oses), has_logo=bool(has_logo), created_at=created,
                        last_push=max(pushes) if pushes else None, tag_count=tag_count, key=key,
                        premium=bool(premium), categories=_strings(categories), badges=tuple(badges),
                        artifact_types=tuple(kinds))

    def catalog(self, key: str) -> Optional[Dict[str, Any]]:
        """The stored catalog data of a listed repository by store key ({} without any), None for another."""
        with self.store.read() as db:
            row = db.execute(f"SELECT r.catalog FROM {_SOURCES} WHERE r.key=?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0] or "{}")
        return data if isinstance(data, dict) else {}

    def logo(self, key: str) -> Optional[bytes]:
        """The logo bytes of a listed repository by store key, None without one."""
        card = self.card(key)
        return _decoded((self.catalog(key) or {}).get("logoImageBlob")) if card is not None else None

    def repository(self, key: str, offset: int = 0, limit: int = 50) -> Optional[RepoPage]:
        """A listed repository's catalog data (by store key), tags ``offset``..``offset+limit`` (newest push
        first) and the tag to pull (``latest``, else the newest)."""
        card = self.card(key)
        data = self.catalog(key)
        if card is None or data is None:
            return None
        page = RepoPage(card, about=_text(data.get("aboutText")), usage=_text(data.get("usageText")),
                        tag_total=card.tag_count)
        with self.store.read() as db:
            rows = db.execute(_TAG_ROWS, (key, limit, offset)).fetchall()
            first = db.execute(_LATEST_ROW, (key,)).fetchall() or (
                rows[:1] if offset == 0 else db.execute(_TAG_ROWS, (key, 1, 0)).fetchall())
        page.tags = [self._tag(key, *row) for row in rows]
        page.pull = self._tag(key, *first[0]) if first else None
        return page

    def _tag(self, repo: str, tag: str, tagged_at: float, digest: str, media_type: str, artifact: Optional[str],
             size: int, manifest: bytes, deletion_at: Optional[float]) -> TagRow:
        platforms, is_index = self.platforms.of(repo, digest, media_type, manifest)
        return TagRow(tag=tag, digest=digest, media_type=media_type, artifact_type=artifact, size=size,
                      pushed_at=tagged_at, platforms=platforms, is_index=is_index, deletion_at=deletion_at)
