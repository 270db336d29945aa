"""The index in a web browser: Datasette over ``index.sqlite``, read-only (``sessions.py browse``).

``serve(root, host, port, ...)`` checks what it can before anything starts (the optional extra,
the index file, the token rule of ``utils.http_auth``) and then serves until interrupted.
Modules: ``app`` (the Datasette instance), ``metadata`` (descriptions, facets, hidden tables,
full-text search), ``queries`` and ``charts`` (canned queries drawn as SVG bar charts),
``plugin`` (session page, links, percentile aggregate, token and CJK-search wrappers),
``conversation`` (a session's rows -> the conversation page), ``markdown`` (safe rendering),
``auth`` (the token form), ``search`` (CJK searches to the trigram tables). Everything but this
file needs the ``browse`` extra: ``pip install -e '.[browse]'`` (``make browse``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from store.errors import UserFacingError
from store.paths import Layout
from utils.http_auth import TOKEN_ENV, http_auth

INSTALL_HINT = "pip install -e '.[browse]' (or `make browse`, which installs it into .venv and starts it)"
REQUIRED_MODULES = ("datasette", "markdown_it")


class BrowseUnavailable(UserFacingError):
    """The ``browse`` extra (Datasette, markdown-it-py) is not installed."""


class NoIndex(UserFacingError):
    """There is no ``index.sqlite`` to browse yet."""


def check_installed() -> None:
    missing = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise BrowseUnavailable(f"the browser view needs the optional extra 'browse' ({', '.join(missing)} not installed): {INSTALL_HINT}")


def index_file(root: Path) -> Path:
    path = Layout(root).index
    if not path.is_file():
        raise NoIndex(
            f"no index at {path}: build it with `scripts/reindex.py --root {root}` "
            "(the MCP server and `sessions.py search` build it too), then run browse again"
        )
    return path


def serve(root: Path, host: str = "127.0.0.1", port: int = 8001, *, open_browser: bool = False,
          no_auth: bool = False, announce: Callable[[str], None] | None = None) -> None:
    """Serve ``<root>/index.sqlite`` read-only at http://host:port/ until interrupted.

    Raises ``BrowseUnavailable`` (extra missing), ``NoIndex``, or ``utils.http_auth.AuthConfigError``
    (a non-loopback ``host`` without ``LLM_MCP_TOKEN``, or a blank token), all before binding;
    then ``announce`` gets a line saying what is served where.
    """
    check_installed()
    path = index_file(root)
    # The plugin reads the token from the environment itself ({"$env": ...}), so the rule does too.
    token_env = TOKEN_ENV if http_auth(host, port, no_auth=no_auth, environ=os.environ) is not None else None
    from index.browse.app import make_datasette, run

    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        guard = f"; every page asks for ${TOKEN_ENV}" if token_env else ""
        announce(f"serving {path} read-only at http://{shown}:{port}/{guard} (Ctrl-C stops)")
    run(make_datasette(path, token_env=token_env), host, port, open_browser)


__all__ = ["BrowseUnavailable", "NoIndex", "check_installed", "index_file", "serve"]
