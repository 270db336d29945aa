"""Property tests of ``chat.results``: whatever the answer and the budget, both forms fit and nothing is lost silently."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.types import ResourceLink, TextContent

from chat import results
from chat.results import compact_json

# Characters that JSON escapes (quotes, backslashes, control characters) or that take more than one byte.
TEXT = st.text(alphabet=st.sampled_from(list('ab "\\\n\t\x01é—中😀')), max_size=6_000)


def _text(result: Any) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


@settings(max_examples=60, deadline=None)
@given(reply=TEXT, budget=st.integers(min_value=2_000, max_value=8_000), warnings=st.lists(st.text(max_size=200), max_size=3))
def test_a_chat_result_fits_and_its_head_is_the_answer(reply: str, budget: int, warnings: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_MCP_MAX_RESULT_CHARS", str(budget))
        data = {"session_id": "s1", "model": "m", "reply": reply, "warnings": warnings, "usage": {"input_tokens": 1, "output_tokens": 2, "cost_usd": None}}
        result = results.chat_result(data, lambda: "msg_1")
    text, structured = _text(result), result.structured_content
    assert len(text) <= budget and len(compact_json(structured)) <= budget
    assert reply.startswith(structured["reply"]) and structured["reply"] in text
    links = [block for block in result.content if isinstance(block, ResourceLink)]
    if structured["reply"] == reply:
        assert "reply_truncated" not in structured and not links
    else:
        assert structured["reply_truncated"] == {"shown_chars": len(structured["reply"]), "total_chars": len(reply), "uri": "session://s1/messages/msg_1"}
        assert [str(link.uri) for link in links] == ["session://s1/messages/msg_1"]


@settings(max_examples=40, deadline=None)
@given(snippets=st.lists(TEXT.map(lambda t: t[:400]), max_size=80), budget=st.integers(min_value=2_000, max_value=6_000))
def test_a_listing_fits_and_says_what_it_left_out(snippets: list[str], budget: int) -> None:
    hits = [{"session_id": f"s{i}", "message_id": f"m{i}", "model": "m", "role": "user", "created_at": None, "snippet": s, "score": 1.0}
            for i, s in enumerate(snippets)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_MCP_MAX_RESULT_CHARS", str(budget))
        result = results.search_result({"hits": hits})
    text, structured = _text(result), result.structured_content
    assert len(text) <= budget and len(compact_json(structured)) <= budget
    shown = structured["hits"]
    assert shown == hits[: len(shown)]
    assert ("truncated" in structured) == (len(shown) < len(hits))
    if len(shown) < len(hits):
        assert structured["truncated"]["shown"] == len(shown) and structured["truncated"]["total"] == len(hits)
        assert text.endswith(f"more: call again with offset={len(shown)}")
