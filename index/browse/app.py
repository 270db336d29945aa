"""Build the Datasette instance over ``index.sqlite`` and serve it (needs the ``browse`` extra).

The index is opened read-only: Datasette opens a mutable database file with ``?mode=ro``, so
no statement can write it, while the server and the watcher may keep writing it (a WAL reader
sees their commits). ``--immutable`` is not used: it would ignore the WAL (recent turns
missing) and hash the whole file at start.
"""

from __future__ import annotations

import asyncio
import threading
import webbrowser
from pathlib import Path
from typing import Any

from datasette.app import Datasette
from datasette.plugins import pm

from index.browse import plugin
from index.browse.metadata import build_metadata

TEMPLATES = Path(__file__).resolve().parent / "templates"
SETTINGS = {
    "default_page_size": 50,
    "truncate_cells_html": 240,
    "sql_time_limit_ms": 5000,  # a canned query over a million messages takes a few seconds
    "facet_time_limit_ms": 500,
    "allow_download": False,
    "suggest_facets": False,  # a dozen extra queries per table page; the useful facets are set in the metadata
}


def register_plugin() -> None:
    if not pm.is_registered(plugin):
        pm.register(plugin, name="llm_mcp_browse")


def make_datasette(index_path: Path, *, token_env: str | None = None) -> Datasette:
    """Datasette over ``index_path`` (read-only) with the metadata, templates and plugin of this
    package; ``token_env`` names the environment variable whose token every request must carry."""
    register_plugin()
    return Datasette(
        files=[str(index_path)],
        metadata=build_metadata(token_env),
        template_dir=str(TEMPLATES),
        settings=SETTINGS,
    )


def run(datasette: Datasette, host: str, port: int, open_browser: bool) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn  # a dependency of datasette

    asyncio.run(datasette.invoke_startup())
    if open_browser:
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    config: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "lifespan": "on"}
    uvicorn.run(datasette.app(), **config)
