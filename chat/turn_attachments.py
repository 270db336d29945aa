"""A turn's attachments: read and checked once, and refused when they cannot fit the model's window."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from adapters.redact import adapter_key
from chat.app import App
from chat.options import TurnOptions
from chat.prompt import output_reserve
from store import Message

if TYPE_CHECKING:
    from chat.attachments import PreparedAttachments


async def prepare_attachments_for(options: TurnOptions, adapters: Sequence[object]) -> PreparedAttachments:
    """``options.files``/``images`` read and checked once (``AttachmentRefused`` if any is refused);
    the key values of ``adapters`` are redacted from the text like every secret-looking variable."""
    from chat.attachments import PreparedAttachments, prepare_attachments  # not needed to start a server

    if not options.has_attachments:
        return PreparedAttachments()
    secrets = [adapter_key(adapter) for adapter in adapters]
    read = functools.partial(
        prepare_attachments, list(options.files), list(options.images), secrets=secrets, allow_secrets=options.allow_secrets
    )
    return await anyio.to_thread.run_sync(read)


def check_attachment_budget(app: App, prepared: PreparedAttachments, model: str, prompt: str, options: TurnOptions) -> None:
    """``AttachmentsTooLarge`` when ``prepared`` does not fit ``model``'s window beside the prompt."""
    if not prepared:
        return
    window = app.context_window(model)
    texts = [Message(role="user", content=prompt)] + ([Message(role="system", content=options.system)] if options.system else [])
    available = window - output_reserve(options.max_tokens, window) - app.estimate_tokens(texts)
    prepared.check_budget(model, available, window)
