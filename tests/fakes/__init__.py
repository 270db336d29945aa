"""Loopback fake provider servers (real HTTP on 127.0.0.1, port 0), one per wire format.

- :class:`FakeOpenAI`    — ``POST {base_url}/chat/completions`` (OpenAI, Moonshot/Kimi, DeepSeek, OpenRouter, Ollama)
- :class:`FakeAnthropic` — ``POST {base_url}/v1/messages``
- :class:`FakeGemini`    — ``POST {base_url}/v1beta/models/{m}:generateContent``

Each records every request (``.requests``: method, path, headers, JSON body, why it was
rejected), answers queued responses (``.enqueue(body, status=, headers=, delay=)`` or the
wire-shaped ``.enqueue_reply(...)``) and, with nothing queued, replies ``echo: <last user
text>`` (:func:`echo_text`). Requests the real API would reject get the provider's 400 error;
a wrong key gets 401. The expected key is ``.api_key`` (``"test-key"`` by default).

Pointing code at a fake — in-process or a subprocess such as ``server.py``::

    with FakeOpenAI() as fake:
        env = {**os.environ, **fake.env("MOONSHOT")}   # MOONSHOT_API_KEY + MOONSHOT_BASE_URL

Fixtures (import them into a test module or conftest: ``from tests.fakes import fake_openai``):
``fake_openai``, ``fake_anthropic``, ``fake_gemini`` — a started fake, stopped after the test,
whose variables are also set with ``monkeypatch`` (``OPENAI_*``, ``MOONSHOT_*``, ``DEEPSEEK_*``,
``OPENROUTER_*``, ``OLLAMA_BASE_URL``; ``ANTHROPIC_*``; ``GEMINI_*``). Each first applies
``clean_provider_env``, which unsets every provider key/base-URL variable and the ``LLM_*``
adapter settings, so a real key in the developer's environment is never used.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._base import ECHO_PREFIX, FakeProvider, RecordedRequest, RequestRejected, ScriptedResponse, echo_text
from .anthropic_fake import FakeAnthropic
from .gemini_fake import FakeGemini
from .openai_fake import FakeOpenAI

OPENAI_COMPATIBLE_PREFIXES = ("OPENAI", "MOONSHOT", "DEEPSEEK", "OPENROUTER")
ALL_PREFIXES = (*OPENAI_COMPATIBLE_PREFIXES, "ANTHROPIC", "GEMINI", "OLLAMA")
#: variables that change how adapters behave; cleared by ``clean_provider_env``
SETTINGS_VARIABLES = ("LLM_MCP_CONFIG", "LLM_MAX_RETRIES", "LLM_TIMEOUT_SECONDS", "LLM_REQUEST_TIMEOUT_SECONDS")


def provider_env(fake: FakeProvider, *prefixes: str) -> dict[str, str]:
    """``{<P>_API_KEY: fake.api_key, <P>_BASE_URL: fake.base_url}`` for each prefix (e.g. "OPENAI")."""
    return fake.env(*prefixes)


def _serve(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[FakeProvider]:
    unset_provider_env(monkeypatch)
    with fake:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield fake


def unset_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every provider key/base-URL variable and the LLM_* settings, so no real key is ever used.

    Done once per test (``monkeypatch`` is per test), so a second fake fixture does not undo the first.
    """
    if getattr(monkeypatch, "_llm_provider_env_unset", False):
        return
    monkeypatch._llm_provider_env_unset = True  # type: ignore[attr-defined]
    for prefix in ALL_PREFIXES:
        monkeypatch.delenv(f"{prefix}_API_KEY", raising=False)
        monkeypatch.delenv(f"{prefix}_BASE_URL", raising=False)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`unset_provider_env` for one test."""
    unset_provider_env(monkeypatch)


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A started :class:`FakeOpenAI`; OpenAI/Moonshot/DeepSeek/OpenRouter/Ollama variables point at it."""
    fake = FakeOpenAI()
    fake.start()  # base_url needs the port
    env = provider_env(fake, *OPENAI_COMPATIBLE_PREFIXES)
    env["OLLAMA_BASE_URL"] = fake.base_url
    yield from _serve(fake, monkeypatch, env)  # type: ignore[misc]


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """A started :class:`FakeAnthropic`; ``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL`` point at it."""
    fake = FakeAnthropic().start()
    yield from _serve(fake, monkeypatch, provider_env(fake, "ANTHROPIC"))  # type: ignore[misc]


@pytest.fixture
def fake_gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    """A started :class:`FakeGemini`; ``GEMINI_API_KEY``/``GEMINI_BASE_URL`` point at it."""
    fake = FakeGemini().start()
    yield from _serve(fake, monkeypatch, provider_env(fake, "GEMINI"))  # type: ignore[misc]


__all__ = [
    "ALL_PREFIXES",
    "ECHO_PREFIX",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "FakeProvider",
    "OPENAI_COMPATIBLE_PREFIXES",
    "RecordedRequest",
    "RequestRejected",
    "ScriptedResponse",
    "SETTINGS_VARIABLES",
    "clean_provider_env",
    "echo_text",
    "unset_provider_env",
    "fake_anthropic",
    "fake_gemini",
    "fake_openai",
    "provider_env",
]
