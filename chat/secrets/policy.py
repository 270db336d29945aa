"""What a chat turn does about secrets: redact the prompt, the system prompt and the reply.

A turn calls :func:`redact_request_text` before it builds the request or stores anything, and
:func:`redact_reply` on the provider's answer before it is stored or returned (a model may echo
a secret). Attached files are redacted when they are read (``chat.attachments.prepare``).
``allow_secrets=True`` (per call, never a default) sends the prompt, the system prompt and the
files as they are, with a loud warning in the result and a log line; replies are redacted
whatever the call says.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.base import ChatReply

from .detect import find_secrets, redact_findings, redact_text

log = logging.getLogger("llm_mcp.secrets")

ALLOWED_WARNING = (
    "allow_secrets=true: secret detection was OFF for this call's prompt, system prompt and files: anything secret "
    "in them was sent to the provider and stored in the session as it was (run `llm-sessions scan --fix` to "
    "redact the store afterwards)"
)


def redact_request_text(
    prompt: str, system: str | None, allow_secrets: bool, *, context: str = "chat"
) -> tuple[str, str | None, list[str]]:
    """(prompt, system, warnings) to send and store: secrets replaced unless ``allow_secrets``.

    With ``allow_secrets`` nothing is changed and the one warning is :data:`ALLOWED_WARNING`
    (also logged, at WARNING level, naming ``context``).
    """
    if allow_secrets:
        log.warning("%s: allow_secrets=true: prompt, system prompt and files are sent and stored unredacted", context)
        return prompt, system, [ALLOWED_WARNING]
    prompt, warnings = redact_text(prompt, "prompt")
    if system:
        system, more = redact_text(system, "system prompt")
        warnings += more
    return prompt, system, warnings


def redact_reply(reply: ChatReply) -> tuple[ChatReply, list[str]]:
    """The reply with every secret in its text, tool calls and provider fields replaced, and warnings."""
    text, warnings = redact_text(reply.text, "reply", "before storing and returning")
    data = reply.model_dump()
    extra_found = False

    def walk(item: Any) -> Any:
        nonlocal extra_found
        if isinstance(item, str):
            findings = find_secrets(item)
            if findings:
                extra_found = True
                return redact_findings(item, findings)
            return item
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {key: walk(value) for key, value in item.items()}
        return item

    tool_calls = walk(data["tool_calls"])
    provider_extra = walk(data["provider_extra"])
    if extra_found:
        warnings.append("reply: secret(s) in the reply's tool calls or provider fields were redacted before storing")
    if text is reply.text and not extra_found:
        return reply, warnings
    return ChatReply.model_validate({**data, "text": text, "tool_calls": tool_calls, "provider_extra": provider_extra}), warnings


def redact_partial_answer(text: str) -> str:
    """An incomplete answer (a stream that stopped) with its secrets replaced, before it is saved."""
    findings = find_secrets(text)
    return redact_findings(text, findings) if findings else text
