"""The one way tests call the MCP tools.

In-process (``server.build_server``'s ``MCPServer``, no transport): :func:`call` returns the
structured result and fails the test on a tool error; :func:`call_error` returns the tool
error's text. Through the SDK's real stdio client against ``python server.py``:
:class:`McpClient` from :func:`mcp_server` (re-exported from ``tests.hardening_helpers``).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from tests.hardening_helpers import McpClient, mcp_server, subprocess_env

__all__ = ["McpClient", "call", "call_error", "call_raw", "mcp_server", "subprocess_env"]


def call_raw(mcp: Any, name: str, **arguments: Any) -> Any:
    """The ``CallToolResult`` of ``name(**arguments)`` on the in-process server ``mcp``."""
    return anyio.run(lambda: mcp.call_tool(name, arguments))


def call(mcp: Any, name: str, **arguments: Any) -> dict[str, Any]:
    result = call_raw(mcp, name, **arguments)
    assert not result.is_error, result
    return result.structured_content


def call_error(mcp: Any, name: str, **arguments: Any) -> str:
    with pytest.raises(ToolError) as caught:
        call_raw(mcp, name, **arguments)
    return str(caught.value)
