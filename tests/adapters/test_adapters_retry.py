"""Provider failures through real HTTP: retries, Retry-After, timeouts, bad bodies, auth, key redaction."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from typing import Any

import pytest

from adapters import ChatRequest, ConfigError, MissingApiKey, ProviderError, resolve
from adapters.redact import REDACTED, RedactingFilter, env_secrets, redact
from adapters.retry import RetryPolicy, parse_retry_after
from store.schema import Message
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, echo_text, fake_anthropic, fake_gemini, fake_openai  # noqa: F401

SECRET = "sk-live-0123456789abcdefSECRET"


def ask(model: str = "gpt-4o", text: str = "hi") -> Any:
    return asyncio.run(resolve(model).complete(ChatRequest(model=model, messages=[Message(role="user", content=text)])))


def error_of(model: str = "gpt-4o") -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        ask(model)
    return caught.value


def test_500_then_200_is_retried_and_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue({"error": {"message": "internal"}}, status=500)
    reply = ask(text="again")
    assert reply.text == echo_text("again")
    assert [r.status for r in fake_openai.requests] == [500, 200]


def test_429_retry_after_seconds_is_honoured(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0.4"})
    assert ask().text == echo_text("hi")
    first, second = fake_openai.requests
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.received_at >= 0.38  # waited at least what the provider asked


def test_retry_after_ms_and_408_on_anthropic(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue({"type": "error", "error": {"type": "timeout", "message": "t"}}, status=408, headers={"retry-after-ms": "150"})
    fake_anthropic.enqueue({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, status=529, headers={"Retry-After": "0"})
    assert ask("claude-sonnet-4-5").text == echo_text("hi")
    requests = fake_anthropic.requests
    assert [r.status for r in requests] == [408, 529, 200]
    assert requests[1].received_at - requests[0].received_at >= 0.14


def test_5xx_exhausts_the_retries(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MAX_RETRIES", "1")
    for _ in range(3):
        fake_gemini.enqueue({"error": {"code": 503, "message": "The model is overloaded."}}, status=503, headers={"Retry-After": "0.05"})
    error = error_of("gemini-2.5-flash")
    assert error.status == 503 and error.retryable and error.attempts == 2 and error.provider == "gemini"
    assert "gemini API error 503: The model is overloaded." in str(error) and "gave up after 2 attempts" in str(error)
    assert len(fake_gemini.requests) == 2 and fake_gemini.pending() == 1


def test_timeout_then_success_with_a_short_per_request_timeout(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_REQUEST_TIMEOUT_SECONDS", "0.3")
    fake_openai.enqueue_reply("late", delay=1.5)
    fake_openai.enqueue_reply("in time")
    assert ask().text == "in time"
    assert len(fake_openai.requests) == 2


def test_total_timeout_gives_a_clear_retryable_error(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "0.3")
    fake_openai.enqueue_reply("never seen", delay=1.5)
    started = time.monotonic()
    error = error_of()
    assert time.monotonic() - started < 1.4  # did not wait for the slow answer
    assert error.retryable and error.status is None
    assert "did not answer within" in str(error) and "timeout" in str(error)


def test_retry_after_beyond_the_deadline_stops_at_once(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "1")
    fake_openai.enqueue({"error": {"message": "quota"}}, status=429, headers={"Retry-After": "30"})
    error = error_of()
    assert error.status == 429 and error.attempts == 1 and "total timeout 1 s" in str(error)
    assert "rate limited" in str(error) and len(fake_openai.requests) == 1


def test_bad_json_body_is_a_clear_error_and_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue("<html>gateway hiccup</html>", status=200, headers={"Content-Type": "text/html"})
    error = error_of()
    assert error.status == 200 and not error.retryable
    assert "not a JSON object" in str(error) and "gateway hiccup" in str(error)
    assert len(fake_openai.requests) == 1
    fake_openai.enqueue("", status=200)
    assert "(empty body)" in str(error_of())


def test_401_is_not_retried_and_names_the_variable(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    error = error_of()
    assert error.status == 401 and not error.retryable and error.attempts == 1
    assert "openai API error 401: Incorrect API key provided" in str(error) and "OPENAI_API_KEY" in str(error)
    assert len(fake_openai.requests) == 1


def test_other_4xx_are_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue({"error": {"message": "model not found"}}, status=404)
    error = error_of()
    assert error.status == 404 and "check the model name" in str(error) and len(fake_openai.requests) == 1


@pytest.mark.parametrize("echo", ["full", "partial", "header"])
def test_a_key_echoed_by_the_provider_never_reaches_the_message(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, echo: str) -> None:
    key = "test-key-with-a-long-secret-value-42"
    fake_openai.api_key = key
    monkeypatch.setenv("OPENAI_API_KEY", key)
    message = {
        "full": f"Incorrect API key provided: {key}.",
        "partial": f"Incorrect API key provided: {key[:8]}***************{key[-8:]}.",
        "header": f"bad header Authorization: Bearer {key}",
    }[echo]
    fake_openai.enqueue({"error": {"message": message}}, status=400)
    error = error_of()
    text = str(error)
    assert key not in text and key[:8] not in text and key[-8:] not in text
    assert REDACTED in text


def test_secret_shaped_values_are_redacted_even_when_unknown(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "key sk-proj-AbCdEf1234567890 and AIzaSyA1234567890abcdefghijklmnop, Authorization: Bearer eyJhbGciOi.x.y, "
        "url https://h/v1?alt=json&key=plainvalue123 and x-api-key: sk-ant-api03-zzzzzzzz and api_key=\"abcdefgh12345\""
    )
    cleaned = redact(text)
    for leaked in ("AbCdEf1234567890", "AIzaSyA1234567890", "eyJhbGciOi", "plainvalue123", "sk-ant-api03", "abcdefgh12345"):
        assert leaked not in cleaned
    assert redact("") == ""
    logger = logging.getLogger("test.redact")
    handler_filter = RedactingFilter(["my-private-token-value"])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.redact"):
            logger.info("sending with %s", "my-private-token-value")
    finally:
        logger.removeFilter(handler_filter)
    assert "my-private-token-value" not in caplog.text and REDACTED in caplog.text


def test_env_secrets_are_collected_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_secrets({"A_API_KEY": "longenough1", "SHORT_TOKEN": "abc", "PATH": "/usr/bin:/bin"}) == ["longenough1"]
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-0000-1111-2222")
    assert "tok-0000-1111-2222" not in redact("value tok-0000-1111-2222 here")


def test_connection_refused_is_a_retryable_provider_error(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    # 0.0.0.0 is not a loopback name, so this stands for a remote host that refused: retried.
    monkeypatch.setenv("DEEPSEEK_BASE_URL", f"http://0.0.0.0:{port}/v1")
    error = error_of("deepseek-chat")
    assert error.status is None and error.retryable and "could not reach deepseek" in str(error)
    assert SECRET not in str(error)


def test_connection_refused_on_this_machine_is_not_retried_and_says_what_to_start(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LLM_MAX_RETRIES", "3")
    monkeypatch.setenv("OLLAMA_BASE_URL", f"http://localhost:{port}/v1")
    started = time.monotonic()
    error = error_of("ollama/llama3")
    assert time.monotonic() - started < 1.0 and error.attempts == 1 and not error.retryable
    assert f"http://localhost:{port}" in str(error) and "ollama serve" in str(error) and "OLLAMA_BASE_URL" in str(error)


def test_missing_key_is_reported_before_any_request(clean_env: None) -> None:
    with pytest.raises(MissingApiKey) as error:
        ask("claude-opus-4-1")
    assert error.value.variable == "ANTHROPIC_API_KEY"
    assert "set the environment variable ANTHROPIC_API_KEY" in str(error.value)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import unset_provider_env

    unset_provider_env(monkeypatch)


# ----------------------------------------------------------------------------- policy units
def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "2"}, cap=60) == 2
    assert parse_retry_after({"retry-after": "120"}, cap=60) == 60
    assert parse_retry_after({"Retry-After": "-5"}, cap=60) == 0
    assert parse_retry_after({"retry-after-ms": "250"}, cap=60) == 0.25
    assert parse_retry_after({"retry-after-ms": "soon", "Retry-After": "1"}, cap=60) == 1
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after({"Retry-After": date}, cap=60, now=now) <= 30
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 30, usegmt=True)}, cap=60, now=now) == 0
    assert parse_retry_after({"Retry-After": "next tuesday"}, cap=60) is None
    assert parse_retry_after({}, cap=60) is None


def test_policy_from_env_and_backoff() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy()
    policy = RetryPolicy.from_env({"LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_SECONDS": "2.5", "LLM_REQUEST_TIMEOUT_SECONDS": "1"})
    assert (policy.max_retries, policy.total_timeout, policy.request_timeout) == (0, 2.5, 1.0)
    for bad in ({"LLM_MAX_RETRIES": "x"}, {"LLM_MAX_RETRIES": "-1"}, {"LLM_TIMEOUT_SECONDS": "0"}, {"LLM_MAX_RETRIES": "1.5"}):
        with pytest.raises(ConfigError):
            RetryPolicy.from_env(bad)
    default = RetryPolicy()
    for retry in range(8):
        wait = default.backoff(retry)
        step = min(default.max_delay, default.base_delay * 2**retry)
        assert step / 2 <= wait <= step


def test_bad_retry_setting_surfaces_as_a_config_error(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MAX_RETRIES", "many")
    with pytest.raises(ConfigError, match="LLM_MAX_RETRIES"):
        ask()


def test_error_details_from_odd_bodies(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    fake_openai.enqueue({"error": "plain string error"}, status=400)
    assert "plain string error" in str(error_of())
    fake_openai.enqueue("x" * 2000, status=400)
    assert str(error_of()).count("x") < 600
    fake_openai.enqueue({"detail": {"type": "weird"}}, status=400)
    assert '"detail": {"type": "weird"}' in str(error_of())  # no message field: the body itself
    fake_openai.enqueue({"message": "top-level message"}, status=403)
    text = str(error_of())
    assert "top-level message" in text and "check the API key" in text
    fake_openai.enqueue(b"", status=502)
    assert "502" in str(error_of())


def test_geminis_400_for_a_wrong_key_names_the_key_variable(fake_gemini: FakeGemini) -> None:
    # The real API answers a wrong key with 400 INVALID_ARGUMENT, not 401.
    fake_gemini.enqueue({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                   "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}, status=400)
    error = error_of("gemini-2.5-flash")
    assert error.status == 400 and not error.retryable
    assert "API key not valid" in str(error) and "check the API key in GEMINI_API_KEY" in str(error)
