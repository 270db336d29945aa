"""The HTTP transport behind ``LLM_MCP_TOKEN``: a real ``server.py`` process on 127.0.0.1.

No token, a wrong token and the right one (through the SDK's streamable-HTTP client, with a
chat answered by the loopback OpenAI fake); a non-loopback ``--host`` without a token does not
start; ``--no-auth`` starts with a loud warning. The unauthenticated loopback default is
covered by ``test_mcp_stdio.test_http_transport_serves_mcp_at_slash_mcp``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared._httpx_utils import create_mcp_http_client

import server
from tests.conftest import REPO_ROOT
from tests.fakes import FakeOpenAI
from tests.hardening_helpers import INITIALIZE, MCP_HEADERS as HEADERS, http_server, subprocess_env
from utils.http_auth import TOKEN_ENV, AuthConfigError, StaticTokenVerifier, http_auth, is_loopback

SERVER = str(REPO_ROOT / "server.py")
TOKEN = "team-secret-0123456789abcdef"
def test_the_token_is_required_on_mcp_and_the_right_one_is_served(tmp_path: Path) -> None:
    with FakeOpenAI() as openai:
        env = subprocess_env({**openai.env("OPENAI"), TOKEN_ENV: TOKEN, "LLM_LOG_LEVEL": "DEBUG"})
        with http_server(tmp_path, env) as (url, log):
            missing = httpx.post(url, headers=HEADERS, json=INITIALIZE)
            assert missing.status_code == 401, missing.text
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = httpx.post(url, headers={**HEADERS, "Authorization": "Bearer not-the-token"}, json=INITIALIZE)
            assert wrong.status_code == 401
            assert wrong.headers["www-authenticate"].startswith("Bearer")
            # A token that only starts like the right one is no better (compared in full).
            prefix = httpx.post(url, headers={**HEADERS, "Authorization": f"Bearer {TOKEN[:-1]}"}, json=INITIALIZE)
            assert prefix.status_code == 401
            not_bearer = httpx.post(url, headers={**HEADERS, "Authorization": f"Basic {TOKEN}"}, json=INITIALIZE)
            assert not_bearer.status_code == 401
            # No OAuth metadata for a client to chase.
            assert httpx.get(url.replace("/mcp", "/.well-known/oauth-protected-resource")).status_code == 404

            async def scenario() -> dict[str, Any]:
                client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
                async with client, streamable_http_client(url, http_client=client) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        result = await session.call_tool("chat", {"prompt": "with a token", "model": "gpt-4o"})
                        return dict(result.structured_content or {})

            assert anyio.run(scenario)["reply"] == "echo: with a token"
        text = log.read_text()
    assert "bearer token from $LLM_MCP_TOKEN required" in text
    assert TOKEN not in text  # not even at DEBUG


def test_a_non_loopback_host_without_a_token_does_not_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, SERVER, "--transport", "http", "--host", "0.0.0.0", "--root", str(tmp_path / "root")],
        env=subprocess_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert TOKEN_ENV in result.stderr and "--no-auth" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "root").exists()  # refused before touching anything


def test_a_blank_token_is_refused_not_taken_as_no_auth(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, SERVER, "--transport", "http", "--root", str(tmp_path / "root")],
        env=subprocess_env({TOKEN_ENV: "  "}), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert f"{TOKEN_ENV} is set but empty" in result.stderr


def _run_main(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(self: MCPServer, transport: str = "stdio", **kwargs: Any) -> None:
        seen["server"], seen["kwargs"] = self, kwargs
        raise KeyboardInterrupt

    monkeypatch.setattr(MCPServer, "run", fake_run)
    assert server.main(argv) == 0
    return seen


def test_no_auth_on_a_public_host_starts_with_a_loud_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    seen = _run_main(monkeypatch, ["--transport", "http", "--host", "0.0.0.0", "--no-auth", "--root", str(tmp_path / "r")])
    assert seen["kwargs"]["host"] == "0.0.0.0"
    assert seen["server"].settings.auth is None
    err = capfd.readouterr().err
    assert "--no-auth: NO AUTHENTICATION on http://0.0.0.0:8765/mcp" in err
    logging.getLogger().handlers.clear()


def test_a_token_on_a_public_host_is_required_by_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    seen = _run_main(monkeypatch, ["--transport", "http", "--host", "0.0.0.0", "--root", str(tmp_path / "r")])
    assert seen["server"].settings.auth is not None
    assert seen["server"].settings.auth.resource_server_url is None
    assert TOKEN not in capfd.readouterr().err
    logging.getLogger().handlers.clear()


def test_no_auth_while_a_token_is_set_says_the_token_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    seen = _run_main(monkeypatch, ["--transport", "http", "--no-auth", "--root", str(tmp_path / "r")])
    assert seen["server"].settings.auth is None
    err = capfd.readouterr().err
    assert "$LLM_MCP_TOKEN is set but ignored" in err and TOKEN not in err
    logging.getLogger().handlers.clear()


def test_stdio_ignores_the_http_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "")
    seen = _run_main(monkeypatch, ["--root", str(tmp_path / "r")])
    assert seen["server"].settings.auth is None
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.8.7", True), ("localhost", True), ("LOCALHOST", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False), ("", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_http_auth_rules() -> None:
    assert http_auth("127.0.0.1", 8765, no_auth=False, environ={}) is None
    assert http_auth("0.0.0.0", 8765, no_auth=True, environ={}) is None
    with pytest.raises(AuthConfigError, match=TOKEN_ENV):
        http_auth("10.0.0.1", 8765, no_auth=False, environ={})
    with pytest.raises(AuthConfigError, match="set but empty"):
        http_auth("127.0.0.1", 8765, no_auth=True, environ={TOKEN_ENV: ""})
    auth = http_auth("127.0.0.1", 8765, no_auth=False, environ={TOKEN_ENV: TOKEN})
    assert auth is not None and auth.settings.resource_server_url is None


def test_the_verifier_accepts_only_the_exact_token() -> None:
    verifier = StaticTokenVerifier(TOKEN)

    async def check(candidate: str) -> bool:
        return await verifier.verify_token(candidate) is not None

    assert anyio.run(check, TOKEN)
    for candidate in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f" {TOKEN}", "ünïcode"):
        assert not anyio.run(check, candidate)
    accepted = anyio.run(verifier.verify_token, TOKEN)
    assert accepted is not None and TOKEN not in accepted.model_dump_json()


def test_help_documents_the_token_and_no_auth() -> None:
    result = subprocess.run([sys.executable, SERVER, "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, TOKEN_ENV: TOKEN})
    assert result.returncode == 0
    assert TOKEN_ENV in result.stdout and "--no-auth" in result.stdout and TOKEN not in result.stdout
