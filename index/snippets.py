"""Snippets cut in Python (for substring matches) and the attached file a match lies in."""

from __future__ import annotations

import re

from index.rows import ATTACHMENT_MARK

_SNIPPET_CONTEXT = 40


def make_snippet(text: str, terms: list[str]) -> str:
    """A snippet around the first term found, every term in [brackets] (for ``instr`` matches)."""
    lowered = text.lower()
    found = [(lowered.find(term.lower()), term) for term in terms]
    found = [(at, term) for at, term in found if at >= 0]
    if not found:
        return text[: 2 * _SNIPPET_CONTEXT]
    first = min(at for at, _ in found)
    start = max(0, first - _SNIPPET_CONTEXT)
    end = min(len(text), first + _SNIPPET_CONTEXT)
    window = text[start:end]
    out = []
    i = 0
    low_window = window.lower()
    while i < len(window):
        for term in sorted(terms, key=len, reverse=True):
            if term and low_window.startswith(term.lower(), i):
                out.append("[" + window[i : i + len(term)] + "]")
                i += len(term)
                break
        else:
            out.append(window[i])
            i += 1
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(text) else "")


def _unmarked(text: str) -> str:
    return text.replace("[", "").replace("]", "")


def file_of_match(text: str, snippet: str) -> str | None:
    """The attached file (its path) whose section of a message's ``text`` holds the ``snippet``.

    A snippet is an excerpt of the text with the matches in [brackets]: the section holding
    the excerpt decides; if it spans sections, the one holding its first highlighted term.
    None when the match is in the message's own text.
    """
    sections = text.split(ATTACHMENT_MARK)
    core = _unmarked(snippet.strip("…"))
    candidates = [index for index, section in enumerate(sections) if core and core in _unmarked(section)]
    if not candidates:
        terms = re.findall(r"\[([^\[\]]+)\]", snippet)
        for term in terms:
            candidates = [index for index, section in enumerate(sections) if term.lower() in section.lower()]
            if candidates:
                break
    if not candidates or candidates[0] == 0:
        return None
    head = sections[candidates[0]].split("\n", 1)[0]
    return head.removeprefix("file ")
