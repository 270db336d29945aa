"""Nothing secret leaves the machine (issue 30), end to end: server.py under the SDK's stdio
client, the loopback fakes' request logs, every file of the session root, the server's log.

The corpus (tests/secret_corpus.py) is put in an attached file, the prompt, the system prompt
and the replies; no value may reach a fake or a file. Then allow_secrets, the credential-file
denylist and the home-root rule through the same client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.attachment_helpers import write
from tests.fakes import FakeAnthropic, FakeOpenAI
from tests.hardening_helpers import mcp_server
from tests.secret_corpus import SHAPES, all_values, database_url, settings_py
from tests.server.test_mcp_stdio import base_env


def _leaks(data: bytes | str, where: str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.replace("\\n", "\n").replace("\\/", "/")  # JSON-escaped copies count too
    return [f"{value[:6]}... in {where}" for value in all_values() if value in text]


def _root_leaks(root: Path) -> list[str]:
    return [leak for path in sorted(root.rglob("*")) if path.is_file() for leak in _leaks(path.read_bytes(), str(path))]


def _result_text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content) + json.dumps(result.structured_content)


def test_secrets_in_files_prompts_system_and_replies_never_reach_a_provider_or_the_store(tmp_path: Path) -> None:
    project = tmp_path / "project"
    settings = write(project / "src" / "settings.py", settings_py())
    write(project / "src" / "app.py", "def main():\n    return 42\n")
    prompt = f"Why does login fail? my token is {SHAPES['github-token']} and the db is {database_url()}"
    system = f"You review code. Our Stripe key is '{SHAPES['stripe-key']}'."
    reply = f"Rotate it: AWS_ACCESS_KEY_ID={SHAPES['aws-access-key']}\n{SHAPES['private-key']}\nDone."
    root = tmp_path / "root"
    with FakeOpenAI() as openai, FakeAnthropic() as anthropic:
        env = {**base_env(tmp_path), **openai.env("OPENAI"), **anthropic.env("ANTHROPIC"), "LLM_MCP_FILE_ROOTS": str(project)}
        with mcp_server(root, env, tmp_path / "server.log") as client:
            openai.enqueue_reply(reply)
            raw = client.raw("chat", prompt=prompt, model="gpt-4o", system=system, files=[str(project / "src")])
            assert not raw.is_error, raw.content
            result = raw.structured_content
            assert "[REDACTED aws-access-key]" in result["reply"] and "[REDACTED private-key]" in result["reply"]
            warnings = "\n".join(result["warnings"])
            assert "prompt: 2 secret(s) redacted before sending and storing: line 1 (github-token), line 1 (url-password)" in warnings
            assert "system prompt: 1 secret(s) redacted before sending and storing: line 1 (stripe-key)" in warnings
            assert f"{settings}: 8 secret(s) redacted before sending and storing: line 2 (aws-access-key)" in warnings
            assert "reply: 2 secret(s) redacted before storing and returning" in warnings
            sent = openai.last_body
            assert sent["messages"][0]["content"].endswith("Our Stripe key is '[REDACTED stripe-key]'.")
            assert "[REDACTED github-token]" in json.dumps(sent)
            # A second turn sends the stored history back: still nothing.
            follow = client.call("chat", prompt="and now?", model="gpt-4o", session_id=result["session_id"])
            # Two models at once (Anthropic's wire format too), the same corpus in the prompt.
            anthropic.enqueue_reply(f"echoing {SHAPES['slack-token']}")
            both = client.call("ask_models", prompt=prompt + " " + SHAPES["anthropic-key"], models=["gpt-4o", "claude-sonnet-4-5"],
                               files=[str(settings)])
            assert [answer["error"] for answer in both["answers"]] == [None, None]
            assert "[REDACTED slack-token]" in both["answers"][1]["reply"]
            texts = [_result_text(raw), json.dumps(follow), json.dumps(both)]
            page = client.call("get_session", session_id=result["session_id"])
            hits = client.call("search_sessions", query="REDACTED")["hits"]
            assert hits, "the markers are stored (and searchable)"
        leaks = [leak for request in openai.requests + anthropic.requests for leak in _leaks(request.raw, f"request {request.path}")]
        assert leaks == []
        assert len(openai.accepted) == 3 and len(anthropic.accepted) == 1
    assert [leak for text in texts + [json.dumps(page)] for leak in _leaks(text, "a tool result")] == []
    assert _root_leaks(root) == []
    assert _leaks((tmp_path / "server.log").read_text(), "the server log") == []


def test_allow_secrets_sends_the_values_with_a_loud_warning_and_a_log_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "config.py", f'GITHUB_TOKEN = "{SHAPES["github-token"]}"\n')
    with FakeOpenAI() as openai:
        env = {**base_env(tmp_path), **openai.env("OPENAI"), "LLM_MCP_FILE_ROOTS": str(project)}
        with mcp_server(tmp_path / "root", env, tmp_path / "server.log") as client:
            openai.enqueue_reply(f"got {SHAPES['stripe-key']}")
            result = client.call("chat", prompt=f"use {SHAPES['github-token']}", model="gpt-4o", files=[str(project / "config.py")],
                                 allow_secrets=True)
            assert result["warnings"][0].startswith("allow_secrets=true: secret detection was OFF for this call")
            assert "[REDACTED stripe-key]" in result["reply"]  # replies are redacted whatever the call says
            body = json.dumps(openai.last_body)
            assert body.count(SHAPES["github-token"]) == 2  # the prompt and the file, as given
            plain = client.call("chat", prompt=f"again {SHAPES['github-token']}", model="gpt-4o")
            assert not any(w.startswith("allow_secrets") for w in plain["warnings"])  # per call, never sticky
            assert SHAPES["github-token"] not in json.dumps(openai.last_body["messages"][-1])
    assert "allow_secrets=true" in (tmp_path / "server.log").read_text()


def test_credential_files_are_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    names = [".claude/.credentials.json", ".codex/auth.json", ".gemini/oauth_creds.json", ".bash_history", ".zsh_history",
             ".python_history", ".psql_history", ".mysql_history", ".node_repl_history", ".vault-token", ".config/hub",
             ".terraform.d/credentials.tfrc.json", ".config/op/config", "keys/team.kdbx"]
    paths = [str(write(home / name, "export GITHUB_TOKEN=x\n")) for name in names]
    with FakeOpenAI() as openai:
        env = {**base_env(tmp_path), **openai.env("OPENAI"), "LLM_MCP_FILE_ROOTS": str(home)}
        with mcp_server(tmp_path / "root", env, tmp_path / "server.log") as client:
            message = client.error("chat", prompt="read these", model="gpt-4o", files=paths)
            assert f"{len(names)} attachment(s) refused" in message
            assert all(f"- {path}: refused as secret-looking" in message for path in paths)
            skipped = client.call("chat", prompt="the folder", model="gpt-4o", files=[str(home)])
            assert any(w.startswith(f"skipped {len(names)} file(s) under {home}") for w in skipped["warnings"])
        assert len(openai.requests) == 1 and "GITHUB_TOKEN" not in openai.requests[0].raw.decode()


def test_started_in_the_home_folder_without_file_roots_attachments_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    notes = write(home / "notes.txt", "my private notes\n")
    with FakeOpenAI() as openai:
        env = {**base_env(tmp_path), **openai.env("OPENAI"), "HOME": str(home)}
        with mcp_server(tmp_path / "root", env, tmp_path / "server.log", cwd=home) as client:
            message = client.error("chat", prompt="read", model="gpt-4o", files=[str(notes)])
            assert "LLM_MCP_FILE_ROOTS is not set" in message and "your home folder" in message
            assert "claude mcp add" in message and "claude_desktop_config.json" in message
            assert openai.requests == []
            assert not client.call("chat", prompt="no files: fine", model="gpt-4o")["warnings"]


def test_kimi_chat_redacts_in_both_modes(tmp_path: Path) -> None:
    prompt = f"deploy with {SHAPES['github-token']}"
    for unified in ("1", "0"):
        with FakeOpenAI() as moonshot:
            env = {**base_env(tmp_path), **moonshot.env("MOONSHOT"), "LLM_UNIFIED": unified}
            with mcp_server(tmp_path / f"root-{unified}", env, tmp_path / f"server-{unified}.log") as client:
                moonshot.enqueue_reply(f"use {SHAPES['slack-token']}")
                result = client.call("kimi_chat", prompt=prompt)
            assert "[REDACTED slack-token]" in result["reply"], unified
            assert any(w.startswith("prompt: 1 secret(s) redacted") for w in result["warnings"]), unified
            assert [leak for r in moonshot.requests for leak in _leaks(r.raw, "request")] == [], unified
    assert _root_leaks(tmp_path / "legacy") == [] and _root_leaks(tmp_path / "root-1") == []
    assert list((tmp_path / "legacy").glob("*.json")), "the legacy mode wrote its file"
