"""Catalog markdown (About, Usage) to HTML with markdown-it-py: CommonMark plus tables and
strikethrough, raw HTML off (catalog text is user input, so ``<script>`` shows as text), and unsafe
link schemes (javascript:, vbscript:, file:, most data:) refused by markdown-it's link validation.

Without markdown-it-py, or if it fails on a text, the text is shown escaped and preformatted.
"""
from __future__ import annotations

import html
import logging
import threading
from typing import Any, Optional

log = logging.getLogger("pypush.server")

_renderer: Any = None
_lock = threading.Lock()


def _load() -> Optional[Any]:
    """The shared MarkdownIt instance, or False when the library is missing."""
    global _renderer
    with _lock:
        if _renderer is None:
            try:
                from markdown_it import MarkdownIt
            except ImportError:
                log.warning("markdown-it-py is not installed: catalog markdown is shown as plain text")
                _renderer = False
            else:
                _renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
        return _renderer or None


def plain(text: str) -> str:
    """``text`` escaped in a preformatted block."""
    return f'<pre class="plain">{html.escape(text)}</pre>'


def render_markdown(text: str) -> str:
    """Safe HTML for one markdown text ('' for an empty one)."""
    if not text.strip():
        return ""
    md = _load()
    if md is None:
        return plain(text)
    try:
        return str(md.render(text))
    except Exception:  # a library bug on odd input must not cost the page
        log.warning("markdown rendering failed; showing the text as is", exc_info=True)
        return plain(text)
