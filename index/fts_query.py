"""Turning what a person typed into FTS5 queries, and choosing the word or trigram table.

Strategy (documented in docs/search-index.md): the word table (``unicode61``) serves ordinary
queries, including FTS5 syntax (``"exact phrase"``, ``a OR b``, ``prefix*``, ``NEAR``). A
query FTS5 rejects is retried as one quoted phrase. unicode61 does not split
Chinese/Japanese/Korean text into words, so a query containing CJK characters goes to the
trigram table (substring match; it holds the messages with CJK text, the only ones such a
query can match); a term shorter than three characters, which trigram cannot match, is
matched with ``instr`` instead. A word query that finds nothing is retried with every word
as a prefix (``sess`` finds ``session``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.models import InvalidQuery

MAX_QUERY_LENGTH = 1000
_CJK = re.compile(
    "[\u2e80-\u2fff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
_WORD = re.compile(r"\w", re.UNICODE)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def quote_phrase(text: str) -> str:
    """``text`` as one FTS5 string (a phrase): double quotes are doubled."""
    return '"' + text.replace('"', '""') + '"'


def clean(query: str) -> str:
    """Validate and normalise a user query; ``InvalidQuery`` if there is nothing to search for."""
    if not isinstance(query, str):
        raise InvalidQuery("the query must be a string")
    text = query.replace("\x00", " ").strip()
    if not text:
        raise InvalidQuery("the query is empty: give one or more words to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidQuery(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_LENGTH}")
    if not _WORD.search(text):
        raise InvalidQuery(f"the query {query!r} has no letters or digits to search for")
    return text


def phrase_fallback(text: str) -> str:
    """The whole query as one phrase (what a rejected FTS5 expression is retried as)."""
    return quote_phrase(text)


def _terms(text: str) -> list[str]:
    """The whitespace-separated terms of ``text`` that hold a letter or digit (quotes dropped)."""
    terms = [term for term in (raw.strip('"') for raw in text.split()) if term and _WORD.search(term)]
    if not terms:
        raise InvalidQuery(f"the query {text!r} has no letters or digits to search for")
    return terms


def prefix_query(text: str) -> str:
    """Every term as a phrase whose last word is a prefix, all required: ``sess`` -> ``"sess"*``."""
    return " AND ".join(quote_phrase(term) + "*" for term in _terms(text))


@dataclass
class SubstringQuery:
    """A trigram MATCH for the terms of 3+ characters and ``instr`` checks for the shorter ones."""

    match: str | None
    short_terms: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)


def substring_query(text: str) -> SubstringQuery:
    """Split on whitespace (quotes dropped): every term must occur as a substring."""
    terms = _terms(text)
    long_terms = [term for term in terms if len(term) >= 3]
    short_terms = [term for term in terms if len(term) < 3]
    match = " AND ".join(quote_phrase(term) for term in long_terms) if long_terms else None
    return SubstringQuery(match=match, short_terms=short_terms, terms=terms)
