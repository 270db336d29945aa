"""What streaming costs per model call: the same answer streamed and not, over a loopback fake.

One ``OpenAICompatAdapter`` call and one ``AnthropicAdapter`` call of a ~4 KB answer (the fake cuts
text into 8-character deltas: ~500 events), with pooled connections as the server has them. The
difference is the event parsing and reassembly (``adapters/stream_assembly.py``) plus the larger
body on the wire; the provider's own latency, which streaming does not change, is not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.anthropic import AnthropicAdapter
from adapters.base import ChatRequest
from adapters.http_adapter import HttpAdapter
from adapters.http_pool import pooled_clients
from adapters.openai_compat import OpenAICompatAdapter
from adapters.retry import RetryPolicy
from scripts.bench.chat_paths import LoopRunner
from store.schema import Message
from tests.bench.figures import median_ms, record
from tests.fakes import FakeAnthropic, FakeOpenAI

ANSWER = "A streamed answer of a few kilobytes, as a model writes it. " * 70
ROUNDS = 60
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def runner() -> Iterator[LoopRunner]:
    loop = LoopRunner()
    pool = pooled_clients()
    loop.run(pool.__aenter__())
    yield loop
    loop.run(pool.__aexit__(None, None, None))
    loop.close()


def make(wire: str, fake: Any, stream: bool) -> HttpAdapter:
    policy = RetryPolicy(max_retries=0, total_timeout=30)
    if wire == "openai":
        return OpenAICompatAdapter(provider="openai", base_url=fake.base_url, api_key=fake.api_key, policy=policy, stream=stream)
    return AnthropicAdapter(base_url=fake.base_url, api_key=fake.api_key, policy=policy, stream=stream)


@pytest.mark.parametrize("stream", [False, True], ids=["unstreamed", "streamed"])
@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_one_call(benchmark, runner: LoopRunner, wire: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    fake_type: Callable[[], Any] = FakeOpenAI if wire == "openai" else FakeAnthropic
    with fake_type() as fake:
        adapter = make(wire, fake, stream)
        request = ChatRequest(model="gpt-4o" if wire == "openai" else "claude-sonnet-4-5", messages=[Message(role="user", content="q")])

        def call() -> str:
            fake.enqueue_reply(ANSWER)
            return runner.run(adapter.complete(request)).text

        benchmark.group = f"model call: {wire}"
        assert benchmark.pedantic(call, rounds=ROUNDS, warmup_rounds=3) == ANSWER
    label = f"{wire} {'streamed' if stream else 'unstreamed'}"
    MEDIANS[label] = median_ms(benchmark)
    record(benchmark, f"{label} call p50 ms", MEDIANS[label])
    other = f"{wire} {'unstreamed' if stream else 'streamed'}"
    if other in MEDIANS:
        ratio = MEDIANS[f"{wire} streamed"] / MEDIANS[f"{wire} unstreamed"]
        record(benchmark, f"{wire} streamed / unstreamed", ratio, "x")
