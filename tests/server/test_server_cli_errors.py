"""server.py's command line: bad values are clear errors, and http keeps DNS-rebinding protection."""

from __future__ import annotations

from pathlib import Path

import pytest

import server
from tests.hardening_helpers import run_script, subprocess_env
from utils.http_auth import ALLOWED_HOSTS_ENV


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_bad_port_is_a_usage_error(tmp_path: Path, port: str) -> None:
    result = run_script("server.py", "--transport", "http", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert "--port" in result.stderr and "Traceback" not in result.stderr


def test_root_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = run_script("server.py", "--root", str(not_a_folder), cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot use session root {not_a_folder}" in result.stderr and "Traceback" not in result.stderr
    assert not_a_folder.read_text() == "x"


def test_help_lists_the_environment_variables(tmp_path: Path) -> None:
    result = run_script("server.py", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("LLM_SESSIONS_DIR", "KIMI_SESSIONS_DIR", "LLM_UNIFIED", "LLM_MCP_CONFIG", "LLM_MCP_ALLOWED_HOSTS"):
        assert name in result.stdout


def test_http_security_is_on_for_every_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)
    wildcard = server.http_security("0.0.0.0")
    assert wildcard.enable_dns_rebinding_protection
    assert "0.0.0.0:*" not in wildcard.allowed_hosts and "localhost:*" in wildcard.allowed_hosts

    named = server.http_security("10.1.2.3")
    assert "10.1.2.3:*" in named.allowed_hosts and "http://10.1.2.3:*" in named.allowed_origins
    assert "[::2]:*" in server.http_security("::2").allowed_hosts

    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "box.lan:8765, box")
    extra = server.http_security("0.0.0.0")
    assert {"box.lan:8765", "box", "box:*"} <= set(extra.allowed_hosts)
    assert "box.lan:8765:*" not in extra.allowed_hosts
    assert "https://box.lan:8765" in extra.allowed_origins


@pytest.mark.parametrize("value", ["abc", "0", "-5", "2.5"])
def test_a_bad_rank_window_stops_the_server_at_start(tmp_path: Path, value: str) -> None:
    result = run_script("server.py", "--root", str(tmp_path / "root"), env=subprocess_env({"LLM_SEARCH_RANK_WINDOW": value}), cwd=tmp_path)
    assert result.returncode == 2
    assert f"LLM_SEARCH_RANK_WINDOW must be a positive whole number of matches (default 20000), got {value!r}" in result.stderr
    assert "Traceback" not in result.stderr
