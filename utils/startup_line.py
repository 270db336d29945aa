"""The one line ``server.py`` prints on stderr when it is ready, so a person who runs it in a
terminal sees that it waits for a client rather than hangs (stdout is the MCP channel).

It names the session root but does not count its sessions: nothing on the start-up path may
grow with the store (``scripts/sessions.py status`` counts them)."""

from __future__ import annotations

from pathlib import Path

from utils.version import package_version


def startup_line(root: Path, transport: str, where: str | None = None) -> str:
    """``llm-mcp-server 0.3.0: MCP over stdio, sessions in /abs/root, waiting for a client``."""
    over = f"MCP over {transport}" + (f" at {where}" if where else "")
    return f"llm-mcp-server {package_version()}: {over}, sessions in {root.absolute()}, waiting for a client"
