"""Upkeep of a store that scales with its size: run off the start-up path (a server runs it
in a background thread), never on a tool's path."""

from __future__ import annotations

import logging

from store import casefold
from store.session_store import SessionStore

log = logging.getLogger("llm_mcp_server")


def tidy(store: SessionStore) -> None:
    """Remove temp files left by crashed writers, and give a store made before 0.3 its
    case-insensitive id view (built from the file names: no session file is read)."""
    try:
        removed = store.clean_stale_temp_files()
    except OSError as exc:
        log.warning("could not clean stale temp files: %s", exc)
    else:
        if removed:
            log.info("removed %d stale temp file(s) left by crashed writers", len(removed))
    try:
        casefold.ensure(store.layout)
    except OSError as exc:
        log.warning("could not build the case-insensitive id view %s: %s", casefold.folder(store.layout), exc)
