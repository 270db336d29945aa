"""Turning what a person typed into FTS5 queries, and choosing the word or trigram table.

Strategy (documented in docs/search-index.md): the word table (``unicode61``) serves ordinary
queries, including FTS5 syntax (``"exact phrase"``, ``a OR b``, ``prefix*``, ``NEAR``). A
query that uses that syntax (a double quote, a parenthesis, or AND/OR/NOT/NEAR in capitals)
must be valid FTS5: a broken one (``AND OR (``, ``"unbalanced``) is refused with
``InvalidQuery`` quoting FTS5's complaint and the query that searches the literal text, so a
bad query never looks like an empty result. Any other query FTS5 rejects (plain text with
punctuation: ``foo-bar``, ``file.py``, ``what's``) is searched as one quoted phrase. unicode61 does not split
Chinese/Japanese/Korean text into words, so a query containing CJK characters goes to the
trigram table (substring match; it holds the messages with CJK text, the only ones such a
query can match); a term shorter than three characters, which trigram cannot match, is
matched with ``instr`` instead. A word query that finds nothing is retried with every word
as a prefix (``sess`` finds ``session``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field

from index.models import InvalidQuery

MAX_QUERY_LENGTH = 1000
_CJK = re.compile(
    "[\u2e80-\u2fff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
_WORD = re.compile(r"\w", re.UNICODE)
# What says "this is FTS5 syntax, not plain text": quotes, brackets, the operators in capitals.
_SYNTAX = re.compile(r'["()]|(?<![\w])(?:AND|OR|NOT|NEAR)(?![\w])')
_parser = threading.local()


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
    if not has_cjk(text):  # CJK queries are matched as substrings: their syntax is not used
        check_syntax(text)
    return text


def _syntax_problem(text: str) -> str | None:
    """FTS5's complaint about ``text`` as a query of the word table (``text : (...)``), or None."""
    connection = getattr(_parser, "connection", None)
    if connection is None:
        # An empty table with the word table's columns: parsing the query is all it is for.
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.execute("CREATE VIRTUAL TABLE words USING fts5(text, meta)")
        _parser.connection = connection
    try:
        connection.execute("SELECT rowid FROM words WHERE words MATCH ?", (f"text : ({text})",)).fetchall()
    except sqlite3.OperationalError as exc:
        return str(exc)
    return None


def check_syntax(text: str) -> None:
    """``InvalidQuery`` when ``text`` uses FTS5 syntax and FTS5 cannot parse it.

    The message quotes FTS5's complaint and gives the query that finds the literal text (the
    whole query as one phrase). Plain text that merely holds punctuation is not checked here:
    it is searched as a phrase.
    """
    if not _SYNTAX.search(text):
        return
    problem = _syntax_problem(text)
    if problem is None:
        return
    problem = problem.removeprefix("fts5: ")
    near = re.fullmatch(r'syntax error near "(.*)"', problem)
    if near and (not near.group(1) or near.group(1) not in text):  # past the end (our own closing bracket)
        problem = "the query ends too early: an operator, quote or bracket lacks its other side"
    if problem.startswith("no such column"):
        problem += " (a word followed by ':' or '-' is read as a column filter)"
    raise InvalidQuery(
        f"the query {text!r} is not valid search syntax ({problem}). Search syntax: \"exact phrase\", "
        f"a OR b, a NOT b, (a OR b) AND c, prefix*. To search for the text itself, put it in double "
        f"quotes, a quote inside written twice: {quote_phrase(text)}"
    )


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
