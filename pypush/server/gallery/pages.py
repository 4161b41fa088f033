"""The gallery's HTML pages: the front page (registry, search, repository cards, paging) and one
repository (header, About / Usage / Image tags, pull commands), plus the error pages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence
from urllib.parse import urlencode

from pypush.server.gallery.html_parts import (badges, date_tag, esc, human_size, labelled, logo, repo_url,
                                              shell, time_tag)
from pypush.server.gallery.listing import RepoCard, RepoPage, TagRow
from pypush.server.gallery.markdown_render import render_markdown

CARDS_PER_PAGE = 24
TAGS_PER_PAGE = 50
TABS = (("about", "About"), ("usage", "Usage"), ("tags", "Image tags"))


@dataclass(frozen=True)
class Site:
    """What every page needs to know about the registry and how the browser reached it."""

    alias: str
    display_name: str
    host_port: str
    description: str = ""
    logo: str = ""
    """The registry logo's URL, '' without one."""
    premium_host_port: str = ""
    """The premium registry door (premiumRegistryUri's host)."""

    def public_ref(self, repo: str, tag: str) -> str:
        return f"public.ecr.aws/{self.alias}/{repo}:{tag}"

    def local_ref(self, repo: str, tag: str) -> str:
        return f"{self.host_port}/{repo}:{tag}"

    def premium_uri(self, repo: str) -> str:
        """A premium repository's repositoryUri (on the premium registry door)."""
        return f"{self.premium_host_port}/{self.alias}/{repo}"


def _pager(base: str, params: dict, page: int, pages: int) -> str:
    """Previous / numbered / next links (numbers around the current page)."""
    if pages <= 1:
        return ""

    def href(n: int) -> str:
        query = {k: v for k, v in params.items() if v}
        if n > 1:
            query["page"] = n
        return base + (f"?{urlencode(query)}" if query else "")

    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    parts: List[str] = []
    parts.append(f'<a rel="prev" href="{esc(href(page - 1))}">‹ Previous</a>' if page > 1
                 else '<span class="off">‹ Previous</span>')
    last = 0
    for n in shown:
        if n > last + 1:
            parts.append('<span class="gap">…</span>')
        parts.append(f'<span class="current" aria-current="page">{n}</span>' if n == page
                     else f'<a href="{esc(href(n))}">{n}</a>')
        last = n
    parts.append(f'<a rel="next" href="{esc(href(page + 1))}">Next ›</a>' if page < pages
                 else '<span class="off">Next ›</span>')
    return f'<nav class="pager" aria-label="Pages">{"".join(parts)}</nav>'


def _facts_badges(card: RepoCard) -> str:
    """Premium, categories, badges (SBOM, SIGNED) and artifact types."""
    premium = '<span class="badge premium">Premium</span>' if card.premium else ""
    return (premium + labelled(card.categories, "category") + labelled(card.badges, "trust")
            + labelled(card.artifact_types, "artifact"))


def _card(site: Site, card: RepoCard) -> str:
    description = (f'<p class="description">{esc(card.description)}</p>' if card.description
                   else '<p class="description muted">No description</p>')
    meta = [time_tag(card.last_push, "Pushed ") if card.last_push else '<span class="muted">No images yet</span>',
            f'{card.tag_count} tag{"s" if card.tag_count != 1 else ""}']
    return f"""<li class="card">
  <a class="card-link" href="{esc(repo_url(card.name, card.premium))}">
    {logo(card.name, card.has_logo, key=card.key)}
    <span class="card-head"><span class="card-name">{esc(card.name)}</span>
    <span class="card-alias">{esc(site.alias)}/{esc(card.name)}</span></span>
  </a>
  {description}
  <div class="badges">{_facts_badges(card)}{badges(card.operating_systems, "os")}{badges(card.architectures, "arch")}</div>
  <div class="card-meta">{" · ".join(meta)}</div>
</li>"""


SORTS = (("name", "Name"), ("pushed", "Recently pushed"))


def _sort_links(query: str, sort: str) -> str:
    links = []
    for key, label in SORTS:
        params = {k: v for k, v in (("q", query), ("sort", key if key != "name" else "")) if v}
        href = "/" + (f"?{urlencode(params)}" if params else "")
        links.append(f'<span class="current">{label}</span>' if key == sort else f'<a href="{esc(href)}">{label}</a>')
    return f'<span class="sort">Sort: {" · ".join(links)}</span>'


def front_page(site: Site, cards: Sequence[RepoCard], total: int, query: str, page: int, sort: str = "name") -> str:
    """The registry header and one page of the (matching) repositories, in the order ``cards`` has
    (``sort`` names it: name or pushed)."""
    pages = max(1, -(-len(cards) // CARDS_PER_PAGE))
    page = min(max(1, page), pages)
    shown = cards[(page - 1) * CARDS_PER_PAGE: page * CARDS_PER_PAGE]
    title = site.display_name or site.alias
    if shown:
        first = (page - 1) * CARDS_PER_PAGE + 1
        what = f"matching “{esc(query)}”" if query else ""
        count = (f'<p class="count"><span>{first}–{first + len(shown) - 1} of {len(cards)} repositories {what}</span>'
                 f'{_sort_links(query, sort)}</p>')
        grid = '<ul class="cards">' + "\n".join(_card(site, c) for c in shown) + "</ul>"
    elif query:
        count = ""
        grid = (f'<div class="empty"><h2>No repositories match “{esc(query)}”</h2>'
                f'<p><a href="/">Show all {total} repositories</a></p></div>')
    else:
        count = ""
        grid = ('<div class="empty"><h2>No repositories yet</h2><p>Push an image here with '
                f'<code>pypush push IMAGE public.ecr.aws/{esc(site.alias)}/REPO:TAG --endpoint-url '
                f'http://{esc(site.host_port)} --create-repository</code></p></div>')
    registry_logo = f'<img class="logo large" src="{esc(site.logo)}" alt="{esc(title)} logo">' if site.logo else ""
    about = f'<p class="description">{esc(site.description)}</p>' if site.description else ""
    body = f"""<section class="registry">
  {registry_logo}
  <h1>{esc(title)}</h1>
  {about}
  <p class="alias"><code>public.ecr.aws/{esc(site.alias)}</code> · {total} repositor{"y" if total == 1 else "ies"}</p>
</section>
{count}
{grid}
{_pager("/", {"q": query, "sort": sort if sort != "name" else ""}, page, pages)}"""
    return shell(f"{title} · pypush gallery", body, query=query, alias=site.alias)


def _pull(site: Site, repo: str, tag: str, premium: bool = False) -> str:
    if premium:
        return f"""<dl class="pull">
  <dt>Subscribers</dt><dd><code class="copy">docker pull {esc(site.premium_uri(repo))}:{esc(tag)}</code></dd>
</dl>"""
    return f"""<dl class="pull">
  <dt>Public</dt><dd><code class="copy">docker pull {esc(site.public_ref(repo, tag))}</code></dd>
  <dt>Local</dt><dd><code class="copy">docker pull {esc(site.local_ref(repo, tag))}</code></dd>
</dl>"""


def _deprecation(row: TagRow) -> str:
    if row.deletion_at is None:
        return ""
    return (f'<span class="deprecated" title="deprecated: deleted at the scheduled time">Deprecated · deleted on '
            f'{date_tag(row.deletion_at)}</span>')


def _tag_row(site: Site, repo: str, row: TagRow, premium: bool = False) -> str:
    if row.is_index:
        kind = "Image index"
    elif row.artifact_type and "image.config" not in row.artifact_type and "container.image" not in row.artifact_type:
        kind = "Artifact"
    else:
        kind = "Image"
    platforms = _badge_list(row.platforms, "arch")
    artifact = (f'<span class="muted" title="artifact type">{esc(row.artifact_type)}</span>'
                if kind == "Artifact" and row.artifact_type else "")
    return f"""<li class="tag">
  <div class="tag-head"><span class="tag-name">{esc(row.tag)}</span><span class="kind">{kind}</span>{artifact}{_deprecation(row)}</div>
  <div class="tag-facts">
    <span>{time_tag(row.pushed_at, "Pushed ")}</span>
    <span>{esc(human_size(row.size))}</span>
    <span class="platforms">{platforms}</span>
    <code class="digest" title="{esc(row.digest)}">{esc(row.digest)}</code>
  </div>
  {_pull(site, repo, row.tag, premium)}
</li>"""


def _tags(site: Site, repo: RepoPage, page: int) -> str:
    if not repo.tags:
        return ('<div class="empty"><h2>No tagged images</h2><p>Push one with <code>pypush push IMAGE '
                f'public.ecr.aws/{esc(site.alias)}/{esc(repo.card.name)}:TAG --endpoint-url '
                f'http://{esc(site.host_port)}</code></p></div>')
    pages = max(1, -(-repo.tag_total // TAGS_PER_PAGE))
    rows = "\n".join(_tag_row(site, repo.card.name, t, repo.card.premium) for t in repo.tags)
    return f'<ul class="tags">{rows}</ul>' + _pager(repo_url(repo.card.name, repo.card.premium), {"tab": "tags"},
                                                     page, pages)


def _badge_list(values: Sequence[str], kind: str) -> str:
    return f'<span class="badges">{badges(values, kind)}</span>' if values else '<span class="muted">—</span>'


def _markdown_section(text: str, what: str, name: str, option: str) -> str:
    rendered = render_markdown(text)
    if rendered:
        return f'<article class="markdown">{rendered}</article>'
    return (f'<div class="empty"><h2>No {what} yet</h2><p>Add it with '
            f'<code>pypush catalog set {esc(name)} {option} FILE.md</code></p></div>')


def repo_page(site: Site, repo: RepoPage, tab: str, page: int) -> str:
    """One repository: header, the tab asked for, and a side panel with the pull commands of ``latest`` (else
    the newest tag)."""
    card = repo.card
    tab = tab if tab in {t for t, _ in TABS} else "about"
    if tab == "about":
        content = _markdown_section(repo.about, "About text", card.name, "--about")
    elif tab == "usage":
        content = _markdown_section(repo.usage, "Usage text", card.name, "--usage")
    else:
        content = _tags(site, repo, page)
    nav = "".join(
        f'<a class="tab{" active" if key == tab else ""}" href="{esc(repo_url(card.name, card.premium, tab=key if key != "about" else None))}"'
        f'{" aria-current=page" if key == tab else ""}>{label}'
        f'{f" <span class=count-pill>{repo.tag_total}</span>" if key == "tags" else ""}</a>'
        for key, label in TABS)
    shown = repo.pull
    which = "" if shown is not None and shown.tag == "latest" else " the newest tag"
    side = (f'<h3>Pull{which} <span class="tag-name small">{esc(shown.tag)}</span></h3>'
            + _pull(site, card.name, shown.tag, card.premium)
            if shown else '<h3>Pull</h3><p class="muted">No tagged images yet.</p>')
    description = (f'<p class="description">{esc(card.description)}</p>' if card.description
                   else '<p class="description muted">No description</p>')
    facts = [("Tags", str(repo.tag_total)),
             ("Last pushed", time_tag(card.last_push)),
             ("Created", time_tag(card.created_at)),
             ("Operating systems", _badge_list(card.operating_systems, "os")),
             ("Architectures", _badge_list(card.architectures, "arch"))]
    body = f"""<nav class="crumbs"><a href="/">{esc(site.display_name or site.alias)}</a> › <span>{esc(card.name)}</span></nav>
<section class="repo-head">
  {logo(card.name, card.has_logo, "large", key=card.key)}
  <div>
    <h1>{esc(card.name)}</h1>
    <p class="alias"><code>{esc(site.premium_uri(card.name) if card.premium else f"public.ecr.aws/{site.alias}/{card.name}")}</code></p>
    {description}
    <div class="badges">{_facts_badges(card)}{badges(card.operating_systems, "os")}{badges(card.architectures, "arch")}</div>
  </div>
</section>
<div class="repo-body">
  <div class="repo-main">
    <nav class="tabs">{nav}</nav>
    {content}
  </div>
  <aside class="repo-side">
    {side}
    <h3>Repository</h3>
    <dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>
  </aside>
</div>"""
    return shell(f"{card.name} · {site.display_name or site.alias} · pypush gallery", body, alias=site.alias)


def message_page(site_alias: str, heading: str, text: str) -> str:
    """A 404 or 500 page."""
    body = f'<div class="empty"><h1>{esc(heading)}</h1><p>{esc(text)}</p><p><a href="/">Back to the gallery</a></p></div>'
    return shell(f"{heading} · pypush gallery", body, alias=site_alias)
