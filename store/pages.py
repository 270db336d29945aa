"""One page of a session's messages, as ``get_session`` returns it."""

from __future__ import annotations

from typing import Any

from store.schema import Session, total_cost


def session_page(session: Session, offset: int | None, limit: int, max_chars: int) -> dict[str, Any]:
    """A session's metadata and one page of its messages (the newest page if ``offset`` is None)."""
    total = len(session.messages)
    start = max(total - limit, 0) if offset is None else min(offset, total)
    page = session.messages[start : start + limit]
    messages = []
    for index, message in enumerate(page, start=start):
        data = message.model_dump(mode="json", exclude_none=True)
        data["index"] = index
        content = data.get("content")
        if isinstance(content, str) and len(content) > max_chars:
            data["content"] = content[:max_chars] + f" [...truncated: {len(content):,} characters in total]"
        messages.append(data)
    head = session.model_dump(mode="json", exclude={"messages"})
    cost, unpriced = total_cost(session.messages)
    return {
        "session": head,
        "cost_usd": cost,
        "unpriced_answers": unpriced,
        "messages": messages,
        "offset": start,
        "returned": len(messages),
        "total_messages": total,
        "more_before": start > 0,
        "more_after": start + len(messages) < total,
    }
