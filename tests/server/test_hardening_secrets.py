"""Hardening: API keys from the environment never reach a session file, an index row, the
server's stderr log or a tool result, even when a provider echoes them back.

The fakes are configured with distinctive keys; they echo the key in error bodies and in the
metadata of successful replies (usage details, reasoning fields, stop reasons, and the reply text).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.hardening_helpers import McpClient, index_strings, mcp_server, run_script, subprocess_env

OPENAI_KEY = "HARDSECRET-openai-5f1c2a9e7d3b4a60"
ANTHROPIC_KEY = "sk-ant-hardsecret-9c8b7a6d5e4f3a21"
GEMINI_KEY = "AIzaHARDSECRETgemini0123456789abcdef"
MOONSHOT_KEY = "kimi-hardsecret-31415926535897932"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY, MOONSHOT_KEY)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_no_key(text: str, where: str) -> None:
    for key in KEYS:
        assert key not in text, f"{key!r} leaked into {where}"


def _text_of(result: Any) -> str:
    parts = [getattr(block, "text", "") for block in result.content]
    return "\n".join(parts) + json.dumps(result.structured_content, default=str)


def _scenario(client: McpClient, openai: FakeOpenAI, moonshot: FakeOpenAI, anthropic: FakeAnthropic, gemini: FakeGemini) -> list[str]:
    results: list[str] = []

    def run(name: str, **arguments: Any) -> Any:
        result = client.raw(name, **arguments)
        results.append(_text_of(result))
        return result

    # Success whose metadata echoes the key: usage details, reasoning, refusal, finish reason, text.
    message = {"role": "assistant", "content": f"here is your key {OPENAI_KEY}", "reasoning_content": f"key={OPENAI_KEY}"}
    body = openai.completion(message, f"stop {OPENAI_KEY}", (3, 4), "gpt-4o")
    body["usage"]["echo"] = {"authorization": f"Bearer {OPENAI_KEY}", "raw": OPENAI_KEY}
    body["system_fingerprint"] = OPENAI_KEY
    openai.enqueue(body)
    ok = run("chat", prompt="tell me a secret", model="gpt-4o", session_id="secret-session")
    assert not ok.is_error, ok.content
    # Errors whose bodies echo the key, 4xx and 5xx, with and without retries.
    openai.enqueue({"error": {"message": f"Invalid key {OPENAI_KEY} for org", "key": OPENAI_KEY}}, status=400)
    assert run("chat", prompt="again", model="gpt-4o", session_id="secret-session").is_error
    openai.enqueue(f"upstream failure, your key was {OPENAI_KEY}", status=500)
    openai.enqueue(f"<html>{OPENAI_KEY}</html>", status=502)
    assert run("chat", prompt="and again", model="gpt-4o", session_id="secret-session").is_error
    openai.enqueue(f"not json {OPENAI_KEY}", status=200)
    assert run("chat", prompt="bad body", model="gpt-4o").is_error
    # A successful answer from Kimi echoing its key, then an OpenAI answer (a model switch).
    moonshot.enqueue(moonshot.completion({"role": "assistant", "content": "ok", "refusal": MOONSHOT_KEY}, "stop", (1, 1), "k"))
    assert not run("kimi_chat", prompt="kimi, the key?").is_error
    # Anthropic: error echo and a success whose usage and stop reason carry the key.
    anthropic.enqueue({"type": "error", "error": {"type": "invalid_request_error", "message": f"x-api-key {ANTHROPIC_KEY} bad"}}, status=400)
    assert run("chat", prompt="claude?", model="claude-sonnet-4-5", session_id="secret-session").is_error
    anthropic.enqueue(
        {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": f"fine {ANTHROPIC_KEY}"}, {"type": "thinking", "thinking": ANTHROPIC_KEY, "signature": "s"}],
            "stop_reason": ANTHROPIC_KEY,
            "usage": {"input_tokens": 1, "output_tokens": 1, "note": ANTHROPIC_KEY},
        }
    )
    assert not run("chat", prompt="claude now", model="claude-sonnet-4-5", session_id="secret-session").is_error
    # Gemini: 403 echo, and a success with the key in the metadata.
    gemini.enqueue({"error": {"code": 403, "message": f"API key {GEMINI_KEY} not valid", "status": "PERMISSION_DENIED"}}, status=403)
    assert run("chat", prompt="gemini?", model="gemini-2.0-flash").is_error
    gemini.enqueue(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": f"g {GEMINI_KEY}"}, {"text": GEMINI_KEY, "thought": True}]}, "finishReason": GEMINI_KEY}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "echo": GEMINI_KEY},
            "modelVersion": GEMINI_KEY,
        }
    )
    assert not run("chat", prompt="gemini now", model="gemini-2.0-flash", session_id="gemini-secret").is_error
    # Every read tool over what was stored.
    for name, arguments in (
        ("get_session", {"session_id": "secret-session"}),
        ("get_session", {"session_id": "gemini-secret"}),
        ("list_sessions", {}),
        ("list_models", {}),
        ("search_sessions", {"query": "key"}),
        ("search_sessions", {"query": "secret"}),
        ("model_switch_history", {}),
    ):
        assert not run(name, **arguments).is_error
    return results


def test_keys_never_reach_files_index_log_or_tool_results(tmp_path: Path) -> None:
    root = tmp_path / "root"
    legacy = tmp_path / "legacy"
    with (
        FakeOpenAI(api_key=OPENAI_KEY) as openai,
        FakeOpenAI(api_key=MOONSHOT_KEY) as moonshot,
        FakeAnthropic(api_key=ANTHROPIC_KEY) as anthropic,
        FakeGemini(api_key=GEMINI_KEY) as gemini,
    ):
        env = subprocess_env(
            {
                "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": openai.base_url,
                "MOONSHOT_API_KEY": MOONSHOT_KEY, "MOONSHOT_BASE_URL": moonshot.base_url,
                "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": anthropic.base_url,
                "GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": gemini.base_url,
                # A provider that cannot be reached: the connection error must not show the key.
                "DEEPSEEK_API_KEY": OPENAI_KEY, "DEEPSEEK_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
                "KIMI_SESSIONS_DIR": str(legacy), "LLM_MAX_RETRIES": "1", "LLM_LOG_LEVEL": "DEBUG",
            }
        )
        with mcp_server(root, env, tmp_path / "server.log") as client:
            results = _scenario(client, openai, moonshot, anthropic, gemini)
            unreachable = client.raw("chat", prompt="deepseek?", model="deepseek-chat")
            assert unreachable.is_error
            results.append(_text_of(unreachable))
            log = client.log()
        # The wrong key was really sent where the fake expected it: the requests were accepted.
        assert any(r.rejected is None for r in anthropic.requests) and any(r.rejected is None for r in gemini.requests)
    for index, text in enumerate(results):
        _assert_no_key(text, f"tool result #{index}")
    _assert_no_key(log, "the server's stderr log")
    assert "DEBUG" in log or "INFO" in log  # the log is real, not empty
    stored = [path for path in root.rglob("*") if path.is_file() and not path.name.startswith("index.sqlite")]
    assert any(path.suffix == ".json" for path in stored)
    for path in stored:
        _assert_no_key(path.read_bytes().decode("utf-8", errors="replace"), str(path))
    assert run_script("reindex.py", "--root", str(root)).returncode == 0
    rows = list(index_strings(root / "index.sqlite"))
    assert any("tell me a secret" in text for _, text in rows)
    for table, text in rows:
        _assert_no_key(text, f"index table {table}")
    for path in root.glob("index.sqlite*"):
        _assert_no_key(path.read_bytes().decode("utf-8", errors="replace"), str(path))
    # The echoes were really there and were replaced, not dropped with the whole reply.
    session = json.loads((root / "sessions" / "secret-session.json").read_text(encoding="utf-8"))
    replies = [m for m in session["messages"] if m["role"] == "assistant"]
    assert replies[0]["content"] == "here is your key [REDACTED]"
    assert replies[0]["usage"]["extra"]["echo"]["authorization"] == "Bearer [REDACTED]"


def test_scrub_reply_replaces_only_whole_key_values(monkeypatch: Any) -> None:
    from adapters.base import ChatReply
    from adapters.redact import scrub_reply
    from store import ToolCall, Usage

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    clean = ChatReply(text="api_key = 'abcdefgh1234' is an example", model="m", provider="openai")
    assert scrub_reply(clean) is clean  # nothing to replace: the same object
    dirty = ChatReply(
        text=f"a {OPENAI_KEY} b",
        tool_calls=[ToolCall(id="c1", name="f", arguments={"k": [OPENAI_KEY, 1]})],
        usage=Usage(input_tokens=1, output_tokens=2, extra={OPENAI_KEY: OPENAI_KEY}),
        finish_reason=OPENAI_KEY,
        model="m",
        provider="openai",
        provider_extra={"reasoning_content": OPENAI_KEY},
    )
    scrubbed = scrub_reply(dirty)
    _assert_no_key(scrubbed.model_dump_json(), "the scrubbed reply")
    assert scrubbed.text == "a [REDACTED] b" and scrubbed.tool_calls[0].arguments == {"k": ["[REDACTED]", 1]}
    assert scrubbed.usage is not None and scrubbed.usage.input_tokens == 1
