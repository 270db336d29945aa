"""The loopback fakes themselves: they answer like the real APIs and reject what those reject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, echo_text, fake_anthropic, fake_gemini, fake_openai  # noqa: F401

OPENAI_TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def post(fake: Any, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(fake.origin + path, json=body, headers=headers, timeout=10)


# ----------------------------------------------------------------------------- OpenAI
def openai_post(fake: FakeOpenAI, body: Any, key: str = "test-key") -> httpx.Response:
    return post(fake, "/v1/chat/completions", body, {"Authorization": f"Bearer {key}"})


def test_openai_default_reply_echoes_last_user_message_and_records(fake_openai: FakeOpenAI) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}
    response = openai_post(fake_openai, body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == echo_text("hello there")
    (request,) = fake_openai.requests
    assert request.path == "/v1/chat/completions" and request.body == body and request.rejected is None
    assert request.headers["authorization"] == "Bearer test-key"
    assert os.environ["MOONSHOT_BASE_URL"] == fake_openai.base_url


def test_openai_wrong_key_is_401(fake_openai: FakeOpenAI) -> None:
    response = openai_post(fake_openai, {"model": "m", "messages": [{"role": "user", "content": "x"}]}, key="nope")
    assert response.status_code == 401
    assert fake_openai.requests[0].rejected == "Incorrect API key provided"


def test_openai_without_key_accepts_any_auth() -> None:
    with FakeOpenAI(api_key=None) as fake:
        response = post(fake, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}, {})
        assert response.status_code == 200
        assert fake.env("OLLAMA") == {"OLLAMA_BASE_URL": fake.base_url}


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([{"role": "robot", "content": "x"}], "invalid role"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_9", "content": "r"}], "must be a response"),
        (
            [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": None, "tool_calls": [{**OPENAI_TOOL_CALL, "function": {"name": "f", "arguments": {"a": 1}}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "r"},
            ],
            "must be a string",
        ),
        (
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [OPENAI_TOOL_CALL]}, {"role": "user", "content": "y"}],
            "did not have response messages",
        ),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": None}], "content is required"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "unsupported content part"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [OPENAI_TOOL_CALL]}], "did not have response"),
        (
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [{**OPENAI_TOOL_CALL, "function": {"name": "f", "arguments": "{oops"}}]}],
            "not valid JSON",
        ),
    ],
)
def test_openai_rejects_invalid_conversations(fake_openai: FakeOpenAI, messages: list[Any], fragment: str) -> None:
    response = openai_post(fake_openai, {"model": "gpt-4o", "messages": messages})
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert fake_openai.pending() == 0 and fake_openai.accepted == []


def test_openai_accepts_a_valid_tool_round_trip_and_serves_the_script(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue({"broken": True}, status=503, headers={"Retry-After": "1"})
    fake_openai.enqueue_reply("done", tool_calls=[{"id": "functions.f:0", "name": "f", "arguments": {"a": 1}}])
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [OPENAI_TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    first = openai_post(fake_openai, {"model": "m", "messages": messages, "tools": tools, "tool_choice": "auto"})
    assert first.status_code == 503 and first.headers["retry-after"] == "1"
    second = openai_post(fake_openai, {"model": "m", "messages": messages, "tools": tools})
    call = second.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "f", "arguments": '{"a": 1}'}
    assert [r.status for r in fake_openai.requests] == [503, 200]


def test_openai_rejects_bad_tools_and_parameters(fake_openai: FakeOpenAI) -> None:
    user = [{"role": "user", "content": "x"}]
    bad = [
        {"model": "m", "messages": user, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
        {"model": "m", "messages": user, "tool_choice": "auto"},
        {"model": "m", "messages": user, "max_tokens": 0},
        {"model": "m", "messages": user, "temperature": 3},
        {"model": "", "messages": user},
        {"model": "m", "messages": []},
    ]
    for body in bad:
        assert openai_post(fake_openai, body).status_code == 400, body


def test_unknown_path_is_404_and_non_json_is_400() -> None:
    with FakeOpenAI() as fake:
        assert post(fake, "/v1/embeddings", {}, {"Authorization": "Bearer test-key"}).status_code == 404
        response = httpx.post(fake.base_url + "/chat/completions", content=b"{not json", headers={"Authorization": "Bearer test-key"})
        assert response.status_code == 400
        assert "not valid JSON" in fake.requests[-1].rejected


def test_fake_can_be_used_by_a_subprocess() -> None:
    with FakeOpenAI() as fake:
        code = (
            "import os, httpx; r = httpx.post(os.environ['OPENAI_BASE_URL'] + '/chat/completions', "
            "headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}, "
            "json={'model': 'gpt-4o', 'messages': [{'role': 'user', 'content': 'from a child'}]}); "
            "print(r.json()['choices'][0]['message']['content'])"
        )
        env = {**os.environ, **fake.env("OPENAI")}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.strip() == echo_text("from a child")
        assert fake.wait_for_requests(1)[0].body["messages"][0]["content"] == "from a child"


def test_not_started_fake_has_no_address() -> None:
    with pytest.raises(RuntimeError):
        FakeGemini().base_url


# ----------------------------------------------------------------------------- Anthropic
def anthropic_post(fake: FakeAnthropic, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return post(fake, "/v1/messages", body, headers or {"x-api-key": "test-key", "anthropic-version": "2023-06-01"})


TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}


def test_anthropic_default_reply_and_auth(fake_anthropic: FakeAnthropic) -> None:
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    response = anthropic_post(fake_anthropic, body)
    assert response.json()["content"] == [{"type": "text", "text": echo_text("hi")}]
    assert anthropic_post(fake_anthropic, body, {"x-api-key": "wrong", "anthropic-version": "2023-06-01"}).status_code == 401
    assert anthropic_post(fake_anthropic, body, {"x-api-key": "test-key"}).status_code == 400


def test_anthropic_accepts_a_valid_tool_round_trip(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue_reply(None, tool_uses=[{"id": "toolu_2", "name": "get_weather", "input": {}}])
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "be brief"}],
        "tools": TOOLS,
        "tool_choice": {"type": "none"},
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "text", "text": "checking"}, USE]},
            {"role": "user", "content": [RESULT, {"type": "text", "text": "and?"}]},
        ],
    }
    response = anthropic_post(fake_anthropic, body)
    assert response.status_code == 200, response.text
    assert response.json()["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]}, "Input should be 'user'"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "first message"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]}, "alternate"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}, "non-whitespace"),
        ({"messages": [{"role": "user", "content": "  "}]}, "non-empty"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}], "tools": None}, "tool_result"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": "y"}]}, "tool_result"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": [{"type": "text", "text": "y"}, RESULT]}]},
            "FIRST",
        ),
        ({"messages": [{"role": "user", "content": [RESULT]}]}, "corresponding `tool_use`"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [{**USE, "id": "functions.get_weather:0"}]}, {"role": "user", "content": [{**RESULT, "tool_use_id": "functions.get_weather:0"}]}]},
            "should match pattern",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [{**USE, "input": "{}"}]}, {"role": "user", "content": [RESULT]}]},
            "valid dictionary",
        ),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": [RESULT]}], "tools": None}, "must define tools"),
        ({"messages": [{"role": "user", "content": [USE]}]}, "only allowed in assistant"),
        (
            {"messages": [
                {"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": [RESULT]},
                {"role": "assistant", "content": [USE]}, {"role": "user", "content": [RESULT]},
            ]},
            "ids must be unique",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "unsupported"),
        ({"tools": [{"name": "x y", "input_schema": {}}]}, "should match pattern"),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice"),
        ({"temperature": 1.5}, "temperature"),
    ],
)
def test_anthropic_rejects_invalid_requests(fake_anthropic: FakeAnthropic, change: dict[str, Any], fragment: str) -> None:
    body: dict[str, Any] = {"model": "claude-x", "max_tokens": 10, "tools": TOOLS, "messages": [{"role": "user", "content": "x"}]}
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    response = anthropic_post(fake_anthropic, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


# ----------------------------------------------------------------------------- Gemini
def gemini_post(fake: FakeGemini, body: Any, model: str = "gemini-2.5-flash", key: str = "test-key") -> httpx.Response:
    return post(fake, f"/v1beta/models/{model}:generateContent", body, {"x-goog-api-key": key})


CALL = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
ANSWER = {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}


def test_gemini_default_reply_auth_and_query_key(fake_gemini: FakeGemini) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert gemini_post(fake_gemini, body).json()["candidates"][0]["content"]["parts"] == [{"text": echo_text("hi")}]
    assert gemini_post(fake_gemini, body, key="bad").status_code == 401
    url = fake_gemini.base_url + "/v1beta/models/gemini-x:generateContent?key=test-key"
    assert httpx.post(url, json=body).status_code == 200


def test_gemini_accepts_a_valid_function_round_trip(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue_reply(None, function_calls=[{"name": "get_weather", "args": {}, "thoughtSignature": "sig"}])
    body = {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}],
        "generationConfig": {"maxOutputTokens": 10},
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{**CALL, "thoughtSignature": "sig"}]},
            {"role": "user", "parts": [ANSWER]},
        ],
    }
    response = gemini_post(fake_gemini, body, model="gemini-3-pro-preview")
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["thoughtSignature"] == "sig"


@pytest.mark.parametrize(
    ("contents", "fragment"),
    [
        ([{"role": "assistant", "parts": [{"text": "x"}]}], "valid role"),
        ([{"role": "user", "parts": []}], "must not be empty"),
        ([{"role": "user", "parts": [{"text": ""}]}], "empty text"),
        ([{"role": "user", "parts": [{"text": "x", "inlineData": {}}]}], "exactly one"),
        ([{"role": "user", "parts": [CALL]}], "only allowed in model"),
        ([{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [ANSWER]}], "only allowed in user"),
        ([{"role": "user", "parts": [ANSWER]}], "immediately after"),
        ([{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [CALL]}, {"role": "user", "parts": [{"text": "y"}]}], "immediately before"),
        ([{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [CALL, CALL]}, {"role": "user", "parts": [ANSWER]}], "number of function response"),
        ([{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [{"functionCall": {"name": "f", "args": "{}"}}]}], "must be an object"),
        (
            [{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [CALL]}, {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": "sunny"}}]}],
            "must be an object",
        ),
        ([], "contents is not specified"),
    ],
)
def test_gemini_rejects_invalid_contents(fake_gemini: FakeGemini, contents: list[Any], fragment: str) -> None:
    response = gemini_post(fake_gemini, {"contents": contents})
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_gemini_3_requires_thought_signatures_in_the_current_turn(fake_gemini: FakeGemini) -> None:
    contents = [{"role": "user", "parts": [{"text": "x"}]}, {"role": "model", "parts": [CALL]}, {"role": "user", "parts": [ANSWER]}]
    assert gemini_post(fake_gemini, {"contents": contents}, model="gemini-2.5-pro").status_code == 200
    response = gemini_post(fake_gemini, {"contents": contents}, model="gemini-3-pro-preview")
    assert response.status_code == 400 and "thought_signature" in response.json()["error"]["message"]
    # A signature is only required in the current turn: an older exchange is fine without one.
    older = contents + [{"role": "model", "parts": [{"text": "sunny"}]}, {"role": "user", "parts": [{"text": "thanks"}]}]
    assert gemini_post(fake_gemini, {"contents": older}, model="gemini-3-pro-preview").status_code == 200


def test_gemini_rejects_bad_system_tools_and_config(fake_gemini: FakeGemini) -> None:
    user = [{"role": "user", "parts": [{"text": "x"}]}]
    for extra in (
        {"systemInstruction": {"role": "model", "parts": [{"text": "s"}]}},
        {"systemInstruction": {"parts": [{"text": ""}]}},
        {"tools": [{"functionDeclarations": [{"name": "bad name"}]}]},
        {"generationConfig": {"maxOutputTokens": 0}},
    ):
        assert gemini_post(fake_gemini, {"contents": user, **extra}).status_code == 400, extra


def test_scripted_raw_bodies_and_delays() -> None:
    with FakeGemini() as fake:
        fake.enqueue("not json at all", status=200)
        fake.enqueue(b"\x00raw", status=500, delay=0.05)
        body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
        assert gemini_post(fake, body).text == "not json at all"
        second = gemini_post(fake, body)
        assert second.status_code == 500 and second.content == b"\x00raw"
        fake.reset()
        assert fake.requests == [] and fake.pending() == 0
        with pytest.raises(AssertionError):
            fake.last_body
        gemini_post(fake, body)
        assert json.dumps(fake.last_body) == json.dumps(body)
