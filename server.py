"""llm-mcp-server: an MCP server over one model-agnostic, searchable session store.

Run ``python server.py --help`` for options. stdio is the default transport.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer

from store import SessionStore, resolve_root


def build_server(store: SessionStore) -> MCPServer:
    server = MCPServer(name="llm-mcp-server", instructions="Consult many LLMs through one searchable session store.")

    @server.tool()
    def list_sessions(model: str | None = None, tag: str | None = None) -> dict[str, Any]:
        """List stored sessions, newest first, optionally only those that used `model` or carry `tag`."""
        listing = store.list(model=model, tag=tag)
        return listing.model_dump(mode="json")

    return server


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="Start the llm-mcp-server MCP server (stdio by default, as MCP clients such as Claude Code expect).",
    )
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="MCP transport (default: stdio)")
    parser.add_argument("--host", default="127.0.0.1", help="address for --transport http (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port for --transport http (default: 8765)")
    parser.add_argument("--root", default=None, help="session root (default: $LLM_SESSIONS_DIR or ./.llm_sessions)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    store = SessionStore(resolve_root(args.root))
    server = build_server(store)
    if args.transport == "http":
        server.run("streamable-http", host=args.host, port=args.port, streamable_http_path="/mcp")
    else:
        server.run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
