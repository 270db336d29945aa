"""``adapters.streaming.sse_events`` reads event streams as the ``httpx-sse`` library does.

The reader is the project's own (one loop over the bytes, see its docstring); ``httpx-sse``
(a dev dependency) is the reference: any stream, cut into chunks anywhere, gives the same
events (keep-alives, which the adapters skip, aside).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.streaming import sse_events

_LINES = st.sampled_from([
    "data: {\"a\": 1}", "data:x", "data", "data:  two spaces", "event: ping", "event:message", "event:",
    ": keep-alive", "id: 7", "retry: 10", "other: field", "data: 索引 é", "",
])
_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


def _response(chunks: list[bytes]) -> httpx.Response:
    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Chunks())


async def _ours(chunks: list[bytes]) -> list[tuple[str, str]]:
    return [event async for event in sse_events(_response(chunks))]


async def _reference(chunks: list[bytes]) -> list[tuple[str, str]]:
    events = [(event.event, event.data) async for event in EventSource(_response(chunks)).aiter_sse()]
    return [(name, data) for name, data in events if data or name != "message"]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(_LINES, _ENDS), max_size=25), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_any_stream_cut_anywhere_gives_the_reference_events(lines: list[tuple[str, str]], cuts: list[int]) -> None:
    raw = "".join(line + end for line, end in lines).encode("utf-8")
    points = sorted({0, len(raw), *(cut for cut in cuts if cut < len(raw))})
    chunks = [raw[a:b] for a, b in zip(points, points[1:]) if b > a]
    assert asyncio.run(_ours(chunks)) == asyncio.run(_reference(chunks))


def test_openai_chunks_split_inside_a_crlf_and_a_multibyte_character() -> None:
    raw = 'data: {"x": "索"}\r\n\r\ndata: [DONE]\r\n\r\n'.encode()
    cut = raw.index("索".encode()) + 1
    chunks = [raw[:cut], raw[cut:17], raw[17:18], raw[18:]]
    assert asyncio.run(_ours(chunks)) == [("message", '{"x": "索"}'), ("message", "[DONE]")]
    assert asyncio.run(_ours([b"data: unfinished"])) == []  # no blank line: not dispatched
    # CR line ends, the last one at the very end of the stream (it cannot be half of a CRLF then).
    for chunks in ([b"data: a\r\r"], [b"data: a\r", b"\r"], [b"event: e\rdata: a\r\rdata: b\r", b"\r"]):
        assert asyncio.run(_ours(chunks)) == asyncio.run(_reference(chunks)) != []
