"""Message text -> safe HTML: CommonMark by markdown-it-py with raw HTML off and links checked.

Message text comes from models and from whatever a user pasted, so it is hostile input: raw
HTML is never passed through (``html: False`` escapes ``<script>`` and every other tag), images
are not rendered (a remote image would report that the page was opened), and a link keeps its
``href`` only for ``http``, ``https`` and ``mailto`` URLs — ``javascript:``, ``data:``,
``vbscript:`` and the like stay plain text. markdown-it-py escapes every text node itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

SAFE_SCHEMES = ("http://", "https://", "mailto:")


def is_safe_link(url: str) -> bool:
    """True for the URLs a rendered link may point to (case and surrounding blanks ignored)."""
    return url.strip().lower().startswith(SAFE_SCHEMES)


def _link_open(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
    tokens[index].attrSet("rel", "nofollow noopener noreferrer")
    return str(renderer.renderToken(tokens, index, options, env))


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.disable("image")
    parser.validateLink = is_safe_link  # type: ignore[method-assign]
    parser.add_render_rule("link_open", _link_open)
    return parser


def render_markdown(text: str) -> str:
    """The HTML of ``text`` read as Markdown; safe to insert into a page as is."""
    return _parser().render(text)
