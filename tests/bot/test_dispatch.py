"""Unit rules of bot.dispatch: the offset never confirms an update still in flight, a
re-delivered update is not handled twice, one person's updates keep their order, at most N at once;
a settled update (committed, its replies journaled) is confirmable while its replies are sent.
(The journeys through the Bot API server are in test_concurrent_updates.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from bot.dispatch import UpdateDispatcher, update_key


async def _until(condition: Callable[[], bool], turns: int = 1000) -> None:
    """Let the loop run until ``condition`` holds, then a few turns more (what would follow
    wrongly, e.g. an offset moved by a done callback, has happened by then). Loop turns, not
    wall time: a loaded machine may pause the process for longer than any sleep."""
    for _ in range(turns):
        if condition():
            for _ in range(20):
                await asyncio.sleep(0)
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


@dataclass
class FakeUser:
    id: int


@dataclass
class FakeUpdate:
    update_id: int
    effective_user: FakeUser | None
    effective_chat: object = None


async def test_offset_waits_for_the_oldest_update_in_flight() -> None:
    release = {1: asyncio.Event(), 2: asyncio.Event()}
    handled: list[int] = []

    async def handle(update: FakeUpdate) -> None:
        await release[update.update_id].wait()
        handled.append(update.update_id)

    d = UpdateDispatcher(handle, concurrency=4)
    assert d.offset is None
    assert d.submit(FakeUpdate(1, FakeUser(10))) and d.submit(FakeUpdate(2, FakeUser(20)))
    await asyncio.sleep(0)
    assert d.offset == 1
    release[2].set()  # the later one finishes first...
    await _until(lambda: handled == [2])
    assert handled == [2] and d.offset == 1  # ...but update 1 is not confirmed by it
    assert not d.submit(FakeUpdate(2, FakeUser(20)))  # re-delivered above the mark: dropped
    assert not d.submit(FakeUpdate(1, FakeUser(10)))  # in flight: dropped
    release[1].set()
    await d.drain()
    assert handled == [2, 1] and d.offset == 3 and not d.busy
    assert not d.submit(FakeUpdate(2, FakeUser(20)))  # below the offset: confirmed already


async def test_one_person_in_order_and_bounded_concurrency() -> None:
    running = 0
    peak = 0
    order: list[tuple[int, int]] = []

    async def handle(update: FakeUpdate) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02 if update.update_id % 3 == 1 else 0.001)
        assert update.effective_user is not None
        order.append((update.effective_user.id, update.update_id))
        running -= 1

    d = UpdateDispatcher(handle, concurrency=2)
    d.resume_at(100)  # an earlier run confirmed up to 99
    assert not d.submit(FakeUpdate(99, FakeUser(1)))
    for i in range(100, 112):
        d.submit(FakeUpdate(i, FakeUser(i % 4)))
    await d.drain()
    assert peak == 2
    for person in range(4):
        ids = [u for who, u in order if who == person]
        assert ids == sorted(ids) and len(ids) == 3
    assert d.offset == 112


def test_whose_update_it_is() -> None:
    assert update_key(FakeUpdate(1, FakeUser(42))) == 42
    assert update_key(FakeUpdate(1, None, FakeUser(-100))) == -100  # a channel post: its chat
    assert update_key(FakeUpdate(1, None)) == 0


async def test_a_settled_update_is_confirmable_while_its_replies_are_on_their_way() -> None:
    """The handler settles an update once it is committed with its replies journaled: the
    offset passes it (and only it: an earlier unsettled one still holds the mark), it is never
    handled again, and the same person's next update still waits for the handler to end."""
    sending = {1: asyncio.Event(), 2: asyncio.Event(), 3: asyncio.Event()}
    handled: list[int] = []
    d: UpdateDispatcher

    async def handle(update: FakeUpdate) -> None:
        if update.update_id != 2:  # update 2 fails before its commit: it never settles
            d.settle(update.update_id)
        await sending[update.update_id].wait()  # the reply on its way to Telegram
        handled.append(update.update_id)

    d = UpdateDispatcher(handle, concurrency=4)
    d.submit(FakeUpdate(1, FakeUser(10)))
    d.submit(FakeUpdate(2, FakeUser(20)))
    d.submit(FakeUpdate(3, FakeUser(10)))  # the same person as update 1
    await _until(lambda: d.offset == 2)
    assert d.offset == 2 and d.busy and d.handling  # 1 settled, 2 holds the mark
    assert handled == []
    assert not d.submit(FakeUpdate(1, FakeUser(10)))  # settled, re-delivered: dropped
    sending[2].set()
    await _until(lambda: handled == [2] and d.offset == 3)
    assert handled == [2] and d.offset == 3  # 3 has not started: its person's 1 is unfinished
    sending[1].set()
    await _until(lambda: handled == [2, 1] and d.offset == 4)
    assert handled == [2, 1] and d.offset == 4 and not d.busy and d.handling  # 3 settled, sending
    assert not d.submit(FakeUpdate(3, FakeUser(10)))
    sending[3].set()
    await d.drain()
    assert handled == [2, 1, 3] and d.offset == 4 and not d.handling
