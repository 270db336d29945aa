"""Garbage-collector settings for a long-running server (the tail of a chat turn's latency).

Profiled on 1,000-message turns: with the default thresholds (700, 10, 10) a turn triggers a
few hundred young collections and, now and then, a full one that walks every object of the
process (the imported modules, pydantic schemas, cached sessions: ~150,000 objects), which
showed as pauses of tens to hundreds of milliseconds at the p99. :func:`tune_for_serving`,
called once after start-up, moves what start-up created to the permanent generation
(``gc.freeze``: never walked again) and raises the young threshold, so collections are rarer and
smaller. Almost all of a turn's objects are freed by reference counting; the collector only
matters for cycles, which stay collectable. One kind of cycle is large: httpx/httpcore leave each
request (holding the whole conversation as its body) in reference cycles, which the raised
threshold would keep for many turns (+30 MB peak RSS measured over 100 turns of 1,000 messages);
:func:`collect_after_turn` schedules a young collection just after a turn's reply is out.
"""

from __future__ import annotations

import asyncio
import gc

#: Allocations (minus deallocations) of container objects before a young collection (default 700).
YOUNG_THRESHOLD = 20_000
#: Young collections before a middle one, and middle ones before a full one (defaults 10, 10).
OLDER_THRESHOLDS = (20, 20)
#: Seconds after a turn before its young garbage is collected (the reply is written meanwhile).
AFTER_TURN_DELAY = 0.05

_serving = False


def tune_for_serving() -> None:
    """Collect once, freeze what start-up made, raise the thresholds (idempotent)."""
    global _serving
    _serving = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


def collect_after_turn() -> None:
    """In a tuned server, collect the young generations ``AFTER_TURN_DELAY`` s from now, off the turn's path."""
    if not _serving:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_later(AFTER_TURN_DELAY, gc.collect, 1)
