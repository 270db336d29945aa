"""Titles and tags: the title a new session gets from its first prompt, and what a title or tag may be."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from store.errors import InvalidTag, InvalidTitle

AUTO_TITLE_LENGTH = 80
MAX_TITLE_LENGTH = 200
MAX_TAG_LENGTH = 64
ELLIPSIS = "…"

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# Block markers at the start of a line: headings, quotes, list bullets, numbered items.
_LINE_MARKERS = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d{1,3}[.)]\s+)+")
_HEADING_ONLY = re.compile(r"^\s*#{1,6}\s*$")
_RULE = re.compile(r"^\s*([-*_=])(\s*\1){2,}\s*$")
# Inline emphasis and code marks; the words between them are kept.
_INLINE = re.compile(r"(\*\*|__|`+|~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _clean(line: str) -> str:
    if _RULE.match(line) or _HEADING_ONLY.match(line):
        return ""
    text = _LINE_MARKERS.sub("", line)
    text = _LINK.sub(r"\1", text)
    text = _INLINE.sub("", text)
    text = "".join(" " if unicodedata.category(char)[0] in "CZ" else char for char in text)
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rfind(" ")
    # A word boundary is used only when it keeps most of the line (Chinese has no spaces).
    if cut >= limit // 2:
        head = head[:cut]
    return head.rstrip(" ,;:.-") + ELLIPSIS


def title_from_prompt(prompt: str) -> str | None:
    """A title from a first prompt: its first meaningful line, at most 80 characters; None if none.

    Markdown markers (headings, quotes, bullets, emphasis, code fences, link syntax) are
    dropped and whitespace is collapsed; lines outside code blocks are preferred. A longer
    line is cut at a word boundary (or at 79 characters when the line has no spaces, as in
    Chinese) and ends with '…'. Never calls a model.
    """
    inside = False
    in_code: str | None = None
    for line in prompt.splitlines():
        if _FENCE.match(line):
            inside = not inside
            continue
        text = _clean(line)
        if not text:
            continue
        if not inside:
            return _shorten(text, AUTO_TITLE_LENGTH)
        if in_code is None:
            in_code = text
    return _shorten(in_code, AUTO_TITLE_LENGTH) if in_code is not None else None


def validate_title(title: str | None) -> str | None:
    """``title`` stripped, or None to clear it (None or blank); ``InvalidTitle`` if not one short line."""
    if title is None:
        return None
    if not isinstance(title, str):
        raise InvalidTitle(f"expected text, got {type(title).__name__}")
    text = title.strip()
    if not text:
        return None
    if any(char in "\r\n\u2028\u2029\x85" for char in text):
        raise InvalidTitle("it has more than one line")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidTitle("it contains a control character")
    if len(text) > MAX_TITLE_LENGTH:
        raise InvalidTitle(f"it is {len(text)} characters long (limit {MAX_TITLE_LENGTH})")
    return text


def validate_tag(tag: object) -> str:
    """``tag`` unchanged if it is a valid tag, else ``InvalidTag``."""
    if not isinstance(tag, str):
        raise InvalidTag(tag, f"expected text, got {type(tag).__name__}")
    if not tag:
        raise InvalidTag(tag, "it is empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidTag(tag, f"it is {len(tag)} characters long (limit {MAX_TAG_LENGTH})")
    if "," in tag:
        raise InvalidTag(tag, "it contains a comma (give several tags separately)")
    if any(char.isspace() for char in tag):
        raise InvalidTag(tag, "it contains whitespace")
    if any(unicodedata.category(char)[0] == "C" for char in tag):
        raise InvalidTag(tag, "it contains a control character")
    if tag[0] in "+-":
        raise InvalidTag(tag, "it starts with '+' or '-' (the CLI's add/remove marks)")
    return tag


def validate_tags(tags: Iterable[object]) -> list[str]:
    """The tags validated, duplicates dropped, order kept."""
    return list(dict.fromkeys(validate_tag(tag) for tag in tags))
