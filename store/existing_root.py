"""For commands that only read: find the session store, never create one.

``SessionStore(root)`` and the index create what is missing (the MCP server's first run makes
the store). A command that only reads (``sessions.py list``, ``search``, ``export``, ``stats``,
``reindex.py --check``...) run from the wrong folder would then print "0 session(s)" and
leave an empty ``.llm_sessions/`` behind. :func:`require_store` refuses instead, naming the
folder it looked at and where that came from.
"""

from __future__ import annotations

import os
from pathlib import Path

from store.errors import StoreError
from store.paths import DEFAULT_ROOT, SESSIONS_DIR_ENV, Layout, resolve_root


class NoStore(StoreError):
    """The session root a read-only command was pointed at holds no session store."""

    def __init__(self, root: Path, source: str, why: str) -> None:
        super().__init__(
            f"no session store at {root} ({source}): {why}. Pass --root DIR or set {SESSIONS_DIR_ENV} to the "
            f"folder that holds sessions/ (the MCP server creates the store on its first run)"
        )
        self.root = root
        self.source = source


def root_source(cli_value: str | os.PathLike[str] | None) -> str:
    """Where :func:`store.paths.resolve_root` took the root from, in words."""
    if cli_value:
        return "from --root"
    if os.environ.get(SESSIONS_DIR_ENV):
        return f"from ${SESSIONS_DIR_ENV}"
    return f"the default ./{DEFAULT_ROOT} in the working folder {Path.cwd()}"


def require_store(cli_value: str | os.PathLike[str] | None) -> Path:
    """The session root, resolved as everywhere; ``NoStore`` unless it holds a ``sessions/`` folder.

    Nothing is created. Reads only the two folder entries, never the session files.
    """
    root = resolve_root(cli_value)
    source = root_source(cli_value)
    absolute = root.absolute()
    if not root.exists():
        raise NoStore(absolute, source, "the folder does not exist")
    if not root.is_dir():
        raise NoStore(absolute, source, "it is a file, not a directory")
    if not Layout(root).sessions.is_dir():
        raise NoStore(absolute, source, "the folder has no sessions/ in it")
    return root
