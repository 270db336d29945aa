"""The unified chat core: one turn (options, prompt fitting, compression, attachments, pricing)
and ``ask_models``, used by every chat tool of ``server.py``.

``run_turn`` is the one path of a turn; ``TurnOptions`` names its options once.
"""

from __future__ import annotations

from chat.app import App, IndexReader, IndexWriter, default_app
from chat.ask_models import ask_models
from chat.errors import ChatFailed, InvalidToolArgument, PromptTooLarge, SummariserUnavailable, user_message
from chat.legacy import kimi_chat
from chat.options import TurnOptions
from chat.turn import TurnResult, run_turn

__all__ = [
    "App",
    "ChatFailed",
    "IndexReader",
    "IndexWriter",
    "InvalidToolArgument",
    "PromptTooLarge",
    "SummariserUnavailable",
    "TurnOptions",
    "TurnResult",
    "ask_models",
    "default_app",
    "kimi_chat",
    "run_turn",
    "user_message",
]
