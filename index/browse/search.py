"""CJK searches from a table's search box: to the trigram table, as the project's search does.

Datasette's search box runs ``?_search=`` against one full-text table per table. The word
tables (``unicode61``) do not split Chinese, Japanese or Korean text into words, so such a
query is redirected to the same page with ``_fts_table`` set to the trigram table (any
substring of three or more characters). A term shorter than three characters, which trigram
cannot match, becomes an ``instr`` condition (``_where``) instead, as in ``index.fts_query``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from index.fts_query import has_cjk

# table path -> (trigram table, column it covers)
TRIGRAM_TABLES = {
    "/index/messages": ("messages_trigram", "text"),
    "/index/sessions": ("sessions_trigram", "title"),
}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def cjk_redirect(path: str, query_string: str) -> str | None:
    """The URL to send a CJK ``_search`` of a table page to, or None to serve it as it is."""
    base = path[: -len(".json")] if path.endswith(".json") else path
    target = TRIGRAM_TABLES.get(base)
    if target is None:
        return None
    params = parse_qsl(query_string, keep_blank_values=True)
    keys = {key for key, _ in params}
    search = next((value for key, value in params if key == "_search"), "")
    if "_fts_table" in keys or not has_cjk(search):
        return None
    table, column = target
    terms = [term for term in (raw.strip('"') for raw in search.split()) if term]
    long_terms = [term for term in terms if len(term) >= 3]
    short_terms = [term for term in terms if len(term) < 3]
    kept = [(key, value) for key, value in params if key != "_search"]
    if long_terms:
        kept += [("_search", " ".join(long_terms)), ("_fts_table", table)]
    kept += [("_where", f'instr("{column}", {_sql_string(term)}) > 0') for term in short_terms]
    return path + "?" + urlencode(kept)
