"""The cyclic collector's pause around bulk work (:mod:`clauses.collector`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from clauses.collector import cycle_collector_paused


def test_paused_inside_and_resumed_after() -> None:
    assert gc.isenabled()
    with cycle_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_when_the_work_fails() -> None:
    with pytest.raises(ZeroDivisionError), cycle_collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_a_pause_already_in_place_is_left_alone() -> None:
    """Nested bulk work (or a caller that paused it) must not resume it early."""
    gc.disable()
    try:
        with cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        with cycle_collector_paused(), cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_during_the_pause_are_collected_afterwards() -> None:
    """Nothing is lost for good: a cycle left behind is freed once the collector runs again."""
    class Node:
        other: Node | None = None

    with cycle_collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        left = weakref.ref(a)
        del a, b
        assert left() is not None  # reference counting alone cannot free a cycle
    gc.collect()
    assert left() is None
