"""utils/gc_tuning: a tuned server collects a turn's cyclic garbage just after the turn, off its path."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

import utils.gc_tuning as gc_tuning


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def untuned_afterwards() -> Iterator[None]:
    threshold, serving = gc.get_threshold(), gc_tuning._serving
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc_tuning._serving = serving


def cycle_after_turn(pause: float) -> weakref.ref[Node]:
    async def scenario() -> weakref.ref[Node]:
        node = Node()
        ref = weakref.ref(node)
        del node
        gc_tuning.collect_after_turn()
        alive_at_once = ref() is not None
        await asyncio.sleep(pause)
        assert alive_at_once  # not collected on the turn's path
        return ref

    return asyncio.run(scenario())


def test_a_tuned_server_collects_the_turns_cycles_right_after_it(untuned_afterwards: None) -> None:
    gc_tuning.tune_for_serving()
    gc.set_threshold(10**9, 10**6, 10**6)  # no automatic collection during the test
    assert cycle_after_turn(gc_tuning.AFTER_TURN_DELAY + 0.2)() is None
    assert gc.get_freeze_count() > 0


def test_outside_a_tuned_server_nothing_is_scheduled(untuned_afterwards: None) -> None:
    gc_tuning._serving = False
    gc.set_threshold(10**9, 10**6, 10**6)
    ref = cycle_after_turn(gc_tuning.AFTER_TURN_DELAY + 0.2)
    assert ref() is not None
    gc.collect()
    assert ref() is None
    gc_tuning._serving = True
    gc_tuning.collect_after_turn()  # no running loop: a no-op, no error
