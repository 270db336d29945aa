"""Model-name resolution, config file, overrides, list_models, context windows, scripted adapter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import ChatRequest, ConfigError, MissingApiKey, ProviderError, UnknownModel, adapter_override, list_models, resolve
from adapters.anthropic import AnthropicAdapter
from adapters.base import ChatReply
from adapters.context_windows import (
    DEFAULT_CONTEXT_WINDOW,
    OLLAMA_CONTEXT_WINDOW,
    context_window,
    estimate_text_tokens,
    estimate_tokens,
)
from adapters.gemini import GeminiAdapter
from adapters.openai_compat import OpenAICompatAdapter
from adapters.registry import BUILTIN_PROVIDERS, clear_overrides, register_adapter, supported_patterns, unregister_adapter
from adapters.scripted import ScriptedAdapter, echo_reply_text
from store.schema import Message, ToolCall
from tests.fakes import FakeAnthropic, FakeOpenAI, clean_provider_env, echo_text, fake_anthropic, fake_openai  # noqa: F401

pytestmark = pytest.mark.usefixtures("clean_provider_env")
REPO = Path(__file__).resolve().parents[2]

KEYS = {
    "kimi-k2": ("moonshot", "MOONSHOT_API_KEY", OpenAICompatAdapter, "https://api.moonshot.ai/v1"),
    "moonshot-v1-8k": ("moonshot", "MOONSHOT_API_KEY", OpenAICompatAdapter, "https://api.moonshot.ai/v1"),
    "gpt-4o": ("openai", "OPENAI_API_KEY", OpenAICompatAdapter, "https://api.openai.com/v1"),
    "o1-preview": ("openai", "OPENAI_API_KEY", OpenAICompatAdapter, "https://api.openai.com/v1"),
    "o3": ("openai", "OPENAI_API_KEY", OpenAICompatAdapter, "https://api.openai.com/v1"),
    "o4-mini": ("openai", "OPENAI_API_KEY", OpenAICompatAdapter, "https://api.openai.com/v1"),
    "claude-sonnet-4-5": ("anthropic", "ANTHROPIC_API_KEY", AnthropicAdapter, "https://api.anthropic.com"),
    "gemini-2.5-pro": ("gemini", "GEMINI_API_KEY", GeminiAdapter, "https://generativelanguage.googleapis.com"),
    "deepseek-chat": ("deepseek", "DEEPSEEK_API_KEY", OpenAICompatAdapter, "https://api.deepseek.com/v1"),
    "openrouter/meta-llama/llama-3-70b": ("openrouter", "OPENROUTER_API_KEY", OpenAICompatAdapter, "https://openrouter.ai/api/v1"),
}


@pytest.mark.parametrize("model", sorted(KEYS))
def test_builtin_patterns_resolve_with_their_key_and_default_base_url(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, variable, kind, base = KEYS[model]
    with pytest.raises(MissingApiKey) as missing:
        resolve(model)
    assert missing.value.variable == variable and variable in str(missing.value)
    monkeypatch.setenv(variable, "sk-test-value-123")
    resolved = resolve(model)
    assert (resolved.provider, resolved.model, resolved.base_url) == (provider, model, base)
    assert isinstance(resolved.adapter, kind) and resolved.adapter.api_key == "sk-test-value-123"
    assert resolved.upstream_model == (model.split("/", 1)[1] if model.startswith("openrouter/") else model)


def test_env_is_read_at_call_time_and_base_url_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    first = resolve("claude-x")
    assert first.adapter.url == "http://127.0.0.1:9/v1/messages"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k2")
    assert resolve("claude-x").adapter.api_key == "k2"
    monkeypatch.setenv("GEMINI_API_KEY", "g")
    assert resolve("gemini-2.5-flash").adapter.url("gemini-2.5-flash") == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )


def test_ollama_needs_no_key_but_uses_one_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = resolve("ollama/llama3.1:8b")
    assert resolved.upstream_model == "llama3.1:8b" and resolved.adapter.api_key is None
    assert resolved.base_url == "http://127.0.0.1:11434/v1"
    monkeypatch.setenv("OLLAMA_API_KEY", "secret-ollama")
    assert resolve("ollama/llama3").adapter.api_key == "secret-ollama"


@pytest.mark.parametrize("model", ["", "llama3", "openrouter/", "ollama/", "mistral-large", "GPT-4"])
def test_unknown_models_list_the_supported_patterns(model: str) -> None:
    with pytest.raises(UnknownModel) as error:
        resolve(model)
    message = str(error.value)
    for pattern in ("kimi-*", "gpt-*", "claude-*", "gemini-*", "deepseek-*", "openrouter/<vendor>/<model>", "ollama/<model>"):
        assert pattern in message
    assert "LLM_MCP_CONFIG" in message


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, name: str = "llm.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LLM_MCP_CONFIG", str(path))
    return path


TOML = """
[aliases]
fast = "gpt-4o-mini"
local = "lmstudio/qwen2.5-coder"
chain = "fast"

[endpoints.lmstudio]
base_url = "http://127.0.0.1:1234/v1/"
models = ["qwen2.5-coder"]
context_window = 32768

[endpoints.corp]
base_url = "https://llm.example.com"
api_key_env = "CORP_LLM_KEY"
wire_format = "anthropic"

[context_windows]
"gpt-4o-mini" = 64000
"""


def test_toml_config_endpoints_and_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, TOML)
    local = resolve("local")
    assert (local.model, local.provider, local.upstream_model) == ("local", "lmstudio", "qwen2.5-coder")
    assert local.adapter.url == "http://127.0.0.1:1234/v1/chat/completions" and local.adapter.api_key is None
    with pytest.raises(MissingApiKey, match="OPENAI_API_KEY"):
        resolve("chain")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert resolve("chain").upstream_model == "gpt-4o-mini"
    with pytest.raises(MissingApiKey, match="CORP_LLM_KEY"):
        resolve("corp/claude-internal")
    monkeypatch.setenv("CORP_LLM_KEY", "corp-secret")
    corp = resolve("corp/claude-internal")
    assert isinstance(corp.adapter, AnthropicAdapter) and corp.adapter.url == "https://llm.example.com/v1/messages"
    assert "lmstudio/<model>" in supported_patterns(__import__("adapters.config").config.load_config())
    assert context_window("lmstudio/anything") == 32768
    assert context_window("fast") == 64000 and context_window("gpt-4o-mini") == 64000


def test_json_config_and_list_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"aliases": {"k2": "kimi-k2", "ghost": "nobody-knows"}, "endpoints": {"ollama": {"base_url": "http://10.0.0.2:11434/v1", "models": ["llama3"]}}}
    write_config(tmp_path, monkeypatch, json.dumps(config), name="llm.json")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-secret-value")
    infos = {info.provider: info for info in list_models()}
    assert set(infos) == {spec.name for spec in BUILTIN_PROVIDERS}
    moonshot = infos["moonshot"]
    assert moonshot.key_set and moonshot.key_variable == "MOONSHOT_API_KEY" and moonshot.aliases == {"k2": "kimi-k2"}
    assert moonshot.base_url == "https://api.moonshot.ai/v1" and moonshot.patterns == ["kimi-*", "moonshot-*"]
    assert not infos["openai"].key_set
    assert infos["ollama"].source == "config" and infos["ollama"].base_url == "http://10.0.0.2:11434/v1"
    assert infos["ollama"].models == ["ollama/llama3"] and not infos["ollama"].key_required
    assert "sk-moonshot-secret-value" not in json.dumps([i.model_dump() for i in infos.values()])
    assert resolve("ollama/llama3").base_url == "http://10.0.0.2:11434/v1"


@pytest.mark.parametrize(
    ("text", "name", "fragment"),
    [
        ("[aliases\n", "c.toml", "not valid TOML"),
        ("{", "c.json", "not valid JSON"),
        ("[1, 2]", "c.json", "object/table"),
        ('{"endpoints": {"x": {"base_url": "ftp://h"}}}', "c.json", "base_url"),
        ('{"endpoints": {"bad name": {"base_url": "http://h"}}}', "c.json", "endpoint name"),
        ('{"unknown": 1}', "c.json", "unknown"),
        ('{"aliases": {"a": "b", "b": "a"}}', "c.json", "alias loop"),
    ],
)
def test_bad_config_files_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, name: str, fragment: str) -> None:
    path = write_config(tmp_path, monkeypatch, text, name=name)
    with pytest.raises(ConfigError) as error:
        resolve("a")
    assert fragment in str(error.value)
    assert fragment == "alias loop" or str(path) in str(error.value)
    assert context_window("gpt-4o") == 128_000  # a broken config never breaks sizing


def test_missing_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MCP_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="cannot read the config file"):
        resolve("gpt-4o")


def test_overrides_win_and_can_be_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedAdapter(["scripted answer"])
    with adapter_override("gpt-*", scripted):
        resolved = resolve("gpt-4o")  # no key needed: the override serves it
        assert resolved.adapter is scripted and resolved.provider == "scripted"
        reply = asyncio.run(resolved.complete(ChatRequest(model="gpt-4o", messages=[Message(role="user", content="hi")])))
        assert reply.text == "scripted answer" and reply.model == "gpt-4o"
        assert any(info.source == "override" and info.patterns == ["gpt-*"] for info in list_models())
    with pytest.raises(MissingApiKey):
        resolve("gpt-4o")
    register_adapter("bench-model", scripted)
    assert resolve("bench-model").adapter is scripted
    unregister_adapter("bench-model")
    register_adapter("target", scripted)
    monkeypatch.setenv("LLM_MCP_CONFIG", "")
    clear_overrides()
    with pytest.raises(UnknownModel):
        resolve("target")


def test_alias_to_an_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[aliases]\nnick = "scripted-1"\n')
    with adapter_override("scripted-*", ScriptedAdapter()):
        resolved = resolve("nick")
        assert (resolved.model, resolved.upstream_model) == ("nick", "scripted-1")


def test_end_to_end_through_the_registry(fake_openai: FakeOpenAI) -> None:
    reply = asyncio.run(resolve("deepseek-chat").complete(ChatRequest(model="deepseek-chat", messages=[Message(role="user", content="ping")])))
    assert reply.text == echo_text("ping") and reply.provider == "deepseek"


def test_a_subprocess_reaches_a_fake_through_the_environment(fake_anthropic: FakeAnthropic) -> None:
    code = (
        "import asyncio, sys; sys.path.insert(0, '.'); from adapters import ChatRequest, resolve; "
        "from store.schema import Message; "
        "r = asyncio.run(resolve('claude-haiku-4-5').complete(ChatRequest(model='claude-haiku-4-5', "
        "messages=[Message(role='user', content='from a child process')]))); print(r.text)"
    )
    env = {**os.environ, **fake_anthropic.env("ANTHROPIC")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == echo_text("from a child process")
    assert fake_anthropic.requests[0].body["model"] == "claude-haiku-4-5"


# ----------------------------------------------------------------------------- context windows
@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("kimi-k2-0905-preview", 262_144),
        ("kimi-k2", 131_072),
        ("moonshot-v1-8k", 8_192),
        ("gpt-4o-mini", 128_000),
        ("gpt-4", 8_192),
        ("gpt-4.1-mini", 1_000_000),  # genai-prices' data
        ("o1-mini", 128_000),
        ("o3-pro", 200_000),
        ("claude-opus-4-1", 200_000),
        ("gemini-1.5-pro-002", 1_000_000),  # genai-prices' data
        ("gemini-2.5-flash", 1_048_576),
        ("deepseek-reasoner", 64_000),  # genai-prices' data
        ("openrouter/anthropic/claude-3.5-sonnet", 200_000),
        ("openrouter/openai/gpt-4o", 128_000),
        ("ollama/llama3.1:70b", OLLAMA_CONTEXT_WINDOW),
        ("someendpoint/qwen2.5", 32_768),
        ("totally-unknown", DEFAULT_CONTEXT_WINDOW),
    ],
)
def test_context_windows(model: str, tokens: int) -> None:
    assert context_window(model) == tokens


def test_token_estimate_heuristic() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("abcd" * 10) == 10
    assert estimate_text_tokens("abc") == 1
    assert estimate_text_tokens("你好世界") == 4
    messages = [
        Message(role="user", content="abcd" * 25),  # 25 + 4
        Message(role="user", content=[{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "x", "v": 1}]),
        Message(role="assistant", content=None, tool_calls=[ToolCall(id="1", name="abcd", arguments={"a": 1}), ToolCall(id="2", name="f", arguments="{}")]),
    ]
    part_json = estimate_text_tokens(json.dumps({"type": "x", "v": 1}))
    expected = (25 + 4) + (4 + 1 + 800 + part_json) + (4 + (4 + 1 + estimate_text_tokens('{"a": 1}')) + (4 + 1 + 1))
    assert estimate_tokens(messages) == expected
    assert estimate_tokens([], system="abcd") == 5
    longer = messages + [Message(role="user", content="more text here")]
    assert estimate_tokens(longer) > estimate_tokens(messages)


# ----------------------------------------------------------------------------- scripted adapter
def test_scripted_adapter_replays_its_script_and_records_requests() -> None:
    custom = ChatReply(text="with tools", tool_calls=[ToolCall(id="c", name="f")], model="ignored", provider="ignored")
    adapter = ScriptedAdapter(["first", custom, ProviderError("down", status=503, retryable=True), lambda req: f"saw {len(req.messages)}"])
    request = ChatRequest(model="m", messages=[Message(role="user", content=[{"type": "text", "text": "hello"}])], system="s")

    async def scenario() -> list[object]:
        results: list[object] = []
        for _ in range(5):
            try:
                results.append(await adapter.complete(request))
            except ProviderError as exc:
                results.append(exc)
        return results

    first, second, third, fourth, fifth = asyncio.run(scenario())
    assert first.text == "first" and first.usage.input_tokens == estimate_tokens(request.messages, "s")
    assert second.text == "with tools" and (second.model, second.provider) == ("m", "scripted")
    assert isinstance(third, ProviderError) and third.status == 503
    assert fourth.text == "saw 1"
    assert fifth.text == "echo: hello" == echo_reply_text(request)
    assert len(adapter.requests) == 5 and adapter.pending == 0
    adapter.queue("later")
    assert adapter.pending == 1
    assert echo_reply_text(ChatRequest(model="m", messages=[])) == "echo: "


def test_an_endpoint_key_is_optional_on_this_machine_and_required_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCALKEY", raising=False)
    monkeypatch.delenv("REMOTEKEY", raising=False)
    write_config(tmp_path, monkeypatch, (
        '[endpoints.local]\nbase_url = "http://localhost:1234/v1"\napi_key_env = "LOCALKEY"\n'
        '[endpoints.remote]\nbase_url = "https://llm.example.com/v1"\napi_key_env = "REMOTEKEY"\n'
    ))
    assert resolve("local/qwen").adapter.api_key is None  # asked without a key
    with pytest.raises(MissingApiKey) as caught:
        resolve("remote/qwen")
    assert caught.value.variable == "REMOTEKEY"
    monkeypatch.setenv("LOCALKEY", "sk-local-123456")
    assert resolve("local/qwen").adapter.api_key == "sk-local-123456"  # sent when set


def test_config_file_problems_are_said_in_the_files_terms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[endpoints.lm]\nbase_url = "ftp://x"\napi_key = "x"\n')
    with pytest.raises(ConfigError) as caught:
        resolve("lm/x")
    message = str(caught.value)
    assert "endpoints.lm.base_url: base_url must start with http:// or https://" in message
    assert "endpoints.lm.api_key: unknown key (allowed: base_url, api_key_env" in message and "Value error" not in message
