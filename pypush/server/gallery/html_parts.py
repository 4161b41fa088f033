"""Small HTML pieces the gallery pages share: the page shell, badges, logos, sizes and times.

Everything that comes from the store goes through ``esc`` (or the markdown renderer); nothing here
emits script.
"""
from __future__ import annotations

import hashlib
import html
import time
from datetime import datetime, timezone
from typing import Iterable, Optional
from urllib.parse import quote, urlencode

esc = html.escape


def repo_url(name: str, premium: bool = False, **query: object) -> str:
    """The gallery path of repository ``name``, ``/premium/NAME`` for a premium one (query values that are
    falsy are left out)."""
    params = {k: v for k, v in query.items() if v}
    base = "/premium/" if premium else "/repositories/"
    return f"{base}{quote(name, safe='/')}" + (f"?{urlencode(params)}" if params else "")


def logo_url(key: str) -> str:
    """The logo of the repository whose store key is ``key``."""
    return f"/logos/{quote(key, safe='/~')}"


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB' (binary units, as registries report them)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} TiB"  # pragma: no cover - loop always returns


def ago(when: float, now: Optional[float] = None) -> str:
    """'3 minutes ago', 'yesterday', '5 days ago', else the date."""
    delta = max(0.0, (time.time() if now is None else now) - when)
    for limit, unit, size in ((60, None, 1), (3600, "minute", 60), (86400, "hour", 3600), (86400 * 30, "day", 86400)):
        if delta < limit:
            if unit is None:
                return "just now"
            n = int(delta // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return datetime.fromtimestamp(when, timezone.utc).strftime("%b %d, %Y").replace(" 0", " ")


def time_tag(when: Optional[float], prefix: str = "") -> str:
    """A <time> with the UTC date in its title and a relative text."""
    if when is None:
        return '<span class="muted">never pushed</span>'
    stamp = datetime.fromtimestamp(when, timezone.utc)
    return (f'<time datetime="{stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}" '
            f'title="{stamp.strftime("%Y-%m-%d %H:%M:%S UTC")}">{esc(prefix)}{esc(ago(when))}</time>')


def date_tag(when: float) -> str:
    """A <time> showing the UTC date (``2027-03-01``), the full time in its title."""
    stamp = datetime.fromtimestamp(when, timezone.utc)
    return (f'<time datetime="{stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}" '
            f'title="{stamp.strftime("%Y-%m-%d %H:%M:%S UTC")}">{stamp.strftime("%Y-%m-%d")}</time>')


def badges(values: Iterable[str], kind: str) -> str:
    return "".join(f'<span class="badge {kind}">{esc(v)}</span>' for v in values)


LABELS = {"BASE_IMAGES": "Base images", "APPLICATION_RUNTIMES": "Application runtimes", "DATABASES": "Databases",
          "AI_ML": "AI & ML", "NETWORKING": "Networking", "SECURITY": "Security", "MONITORING": "Monitoring",
          "CI_CD_TOOLS": "CI/CD tools", "KUBERNETES_EXTENSIONS": "Kubernetes extensions", "WEB_SERVERS": "Web servers",
          "STREAMING": "Streaming", "IMAGE": "Image", "HELM": "Helm chart"}
"""How the gallery names catalog categories and artifact types (badges show as they are: SBOM, SIGNED)."""


def labelled(values: Iterable[str], kind: str) -> str:
    """Badges of enum values (categories, artifact types, badges) with their readable names."""
    return "".join(f'<span class="badge {kind}" title="{esc(v)}">{esc(LABELS.get(v, v))}</span>' for v in values)


TILE_COLOURS = 8
"""Lettered tiles use the classes c0..c7 of the stylesheet."""


def logo(name: str, has_logo: bool, size: str = "", key: str = "") -> str:
    """The repository's logo (``key``: its store key, default ``name``), or a lettered tile coloured by its name."""
    css = f"logo {size}".strip()
    if has_logo:
        return f'<img class="{css}" src="{esc(logo_url(key or name))}" alt="{esc(name)} logo">'
    short = name.rsplit("/", 1)[-1] or name
    colour = hashlib.sha256(name.encode()).digest()[0] % TILE_COLOURS
    return f'<span class="{css} tile c{colour}" aria-hidden="true">{esc(short[:1].upper())}</span>'


def shell(title: str, body: str, query: str = "", alias: str = "") -> str:
    """The whole page: head, top bar with the search box, body, footer."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header class="topbar">
  <a class="brand" href="/"><span class="brand-mark">◆</span> pypush <span class="brand-sub">gallery</span></a>
  <form class="search" method="get" action="/" role="search">
    <input type="search" name="q" value="{esc(query)}" placeholder="Search repositories" aria-label="Search repositories">
    <button type="submit">Search</button>
  </form>
</header>
<main>
{body}
</main>
<footer>A local preview of what the Amazon ECR Public Gallery shows for <code>public.ecr.aws/{esc(alias)}</code>, served by <code>pypush serve</code>.</footer>
</body>
</html>
"""
