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
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pypush.server.gallery.platform_reader import PlatformReader
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

    def matches(self, terms: Sequence[str]) -> bool:
        """Every search term occurs in the name, description, architectures or operating systems."""
        hay = " ".join((self.name, self.description, *self.architectures, *self.operating_systems)).lower()
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


@dataclass
class RepoPage:
    """One repository's catalog data and a page of its tags (newest first)."""

    card: RepoCard
    about: str
    usage: str
    tags: List[TagRow] = field(default_factory=list)
    tag_total: int = 0
    newest: Optional[TagRow] = None


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


_CARD_STATS = ("(SELECT MAX(pushed_at) FROM images i WHERE i.repo=r.name), "
               "(SELECT MAX(created_at) FROM image_tags t WHERE t.repo=r.name), "
               "(SELECT COUNT(*) FROM image_tags t WHERE t.repo=r.name)")
_CARDS_JSON = ("SELECT r.name, r.created_at, json_extract(r.catalog, '$.description'), "
               "json_extract(r.catalog, '$.architectures'), json_extract(r.catalog, '$.operatingSystems'), "
               f"json_type(r.catalog, '$.logoImageBlob') = 'text', {_CARD_STATS} FROM repositories r")
_TAG_ROWS = ("SELECT t.tag, t.created_at, i.digest, i.media_type, i.artifact_type, i.size, i.manifest "
             "FROM image_tags t JOIN images i ON i.repo=t.repo AND i.digest=t.digest WHERE t.repo=? "
             "ORDER BY t.created_at DESC, t.tag LIMIT ? OFFSET ?")
_CARDS_PLAIN = f"SELECT r.name, r.created_at, r.catalog, {_CARD_STATS} FROM repositories r"


def _version(db: Db) -> Tuple[int, int]:
    """What changes whenever the database does: rows this connection changed, and SQLite's data_version
    (commits of other connections)."""
    return db.conn.total_changes, db.execute("PRAGMA data_version")[0][0]


class Listing:
    """Read-only queries over one Store (safe to share between request threads)."""

    def __init__(self, store: Store):
        self.store = store
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

    def card(self, name: str) -> Optional[RepoCard]:
        """One repository's card, None for an unknown name."""
        with self.store.read() as db:
            found = self._query(db, " WHERE r.name=?", (name,))
        return found[0] if found else None

    def _query(self, db: Any, where: str, args: Tuple[Any, ...]) -> List[RepoCard]:
        order = " ORDER BY r.name"
        if self._json_functions is not False:
            try:
                rows = db.execute(_CARDS_JSON + where + order, args).fetchall()
                self._json_functions = True
                return [self._card(*row) for row in rows]
            except sqlite3.OperationalError:
                if self._json_functions:
                    raise
                self._json_functions = False  # an SQLite built without JSON1: parse in Python
        out = []
        for name, created, catalog, *stats in db.execute(_CARDS_PLAIN + where + order, args).fetchall():
            data = json.loads(catalog or "{}")
            out.append(self._card(name, created, data.get("description"), data.get("architectures"),
                                  data.get("operatingSystems"), isinstance(data.get("logoImageBlob"), str), *stats))
        return out

    @staticmethod
    def _card(name: str, created: float, description: Any, archs: Any, oses: Any, has_logo: Any,
              pushed: Optional[float], tagged: Optional[float], tag_count: int) -> RepoCard:
        pushes = [t for t in (pushed, tagged) if t is not None]
        return RepoCard(name=name, description=_text(description), architectures=_strings(archs),
                        operating_systems=_strings(oses), has_logo=bool(has_logo), created_at=created,
                        last_push=max(pushes) if pushes else None, tag_count=tag_count)

    def catalog(self, name: str) -> Optional[Dict[str, Any]]:
        """The stored catalog data of ``name`` ({} without any), None for an unknown repository."""
        with self.store.read() as db:
            row = db.execute("SELECT catalog FROM repositories WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0] or "{}")
        return data if isinstance(data, dict) else {}

    def logo(self, name: str) -> Optional[bytes]:
        """The logo bytes of ``name``, None without one."""
        return _decoded((self.catalog(name) or {}).get("logoImageBlob"))

    def repository(self, name: str, offset: int = 0, limit: int = 50) -> Optional[RepoPage]:
        """``name``'s catalog data, tags ``offset``..``offset+limit`` (newest push first) and the newest tag."""
        card = self.card(name)
        data = self.catalog(name)
        if card is None or data is None:
            return None
        page = RepoPage(card, about=_text(data.get("aboutText")), usage=_text(data.get("usageText")),
                        tag_total=card.tag_count)
        with self.store.read() as db:
            rows = db.execute(_TAG_ROWS, (name, limit, offset)).fetchall()
            first = rows[:1] if offset == 0 else db.execute(_TAG_ROWS, (name, 1, 0)).fetchall()
        page.tags = [self._tag(name, *row) for row in rows]
        page.newest = self._tag(name, *first[0]) if first else None
        return page

    def _tag(self, repo: str, tag: str, tagged_at: float, digest: str, media_type: str, artifact: Optional[str],
             size: int, manifest: bytes) -> TagRow:
        platforms, is_index = self.platforms.of(repo, digest, media_type, manifest)
        return TagRow(tag=tag, digest=digest, media_type=media_type, artifact_type=artifact, size=size,
                      pushed_at=tagged_at, platforms=platforms, is_index=is_index)
