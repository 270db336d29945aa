"""Start-up work that waits until the first requests are answered: the price table (then frozen
with the rest of start-up) and the store's upkeep, whose cost grows with the store."""

from __future__ import annotations

import gc
import threading

from store.session_store import SessionStore
from store.tidy import tidy

#: The index watcher's catch-up (a stat of every session file), the store's upkeep and the
#: price table start this long after start-up, so that they do not slow down the first
#: requests (start-up to the first tools/list).
START_DELAY_SECONDS = 0.5


def after_start(store: SessionStore, delay: float = START_DELAY_SECONDS, stopped: threading.Event | None = None) -> None:
    """Run in a background thread of the server (a turn before then loads the prices itself);
    nothing is done if ``stopped`` is set before ``delay`` has passed (the server already ended)."""
    if (stopped or threading.Event()).wait(delay):
        return
    from chat.pricing import load_prices

    load_prices()  # the price table is start-up data, not the first priced turn's
    gc.freeze()  # like the rest of start-up: never walked by the collector again
    tidy(store)
