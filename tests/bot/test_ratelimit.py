"""The flood limiter's arithmetic, on a virtual clock (no database, no network)."""

from __future__ import annotations

import asyncio

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import FloodLimiter


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


async def test_requests_in_flight_count_until_answered():
    vt = VirtualTime()
    limiter = FloodLimiter(global_rate=2, clock=vt.clock, sleep=vt.sleep)
    first = await limiter.acquire(1)
    await limiter.acquire(2)
    vt.now = 5.0  # both still unanswered five seconds later
    waiting = asyncio.ensure_future(limiter.acquire(3))
    await asyncio.sleep(0)
    assert not waiting.done()
    limiter.release(first)  # answered at t=5: its slot frees at t=6
    third = await waiting
    assert vt.now >= 6.0 and third.started_at >= 6.0


def _max_in_window(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_global_window_allows_thirty_per_second():
    vt = VirtualTime()
    limiter = FloodLimiter(global_rate=30, clock=vt.clock, sleep=vt.sleep)
    await limiter.initialize()
    times = []
    for chat in range(100):
        slot = await limiter.acquire(chat, bulk=True)
        times.append(vt.now)
        limiter.release(slot, chat, bulk=True)
    assert _max_in_window(times) == 30
    assert times[29] == 0.0 and times[30] == pytest.approx(1.0) and times[-1] == pytest.approx(3.0)


async def test_bulk_messages_to_one_chat_are_a_second_apart_but_replies_are_not():
    vt = VirtualTime()
    limiter = FloodLimiter(clock=vt.clock, sleep=vt.sleep)
    times = []
    for _ in range(4):
        slot = await limiter.acquire(42, bulk=True)
        times.append(vt.now)
        vt.now += 0.25  # a slow request: the next one waits a second from its answer
        limiter.release(slot, 42, bulk=True)
    assert times == pytest.approx([0.0, 1.25, 2.5, 3.75])
    start = vt.now
    for _ in range(5):
        limiter.release(await limiter.acquire(43))  # answers to a user's own messages
    assert vt.now == start
    capped = FloodLimiter(clock=vt.clock, sleep=vt.sleep, reply_burst=2)
    t0 = vt.now
    for _ in range(3):
        capped.release(await capped.acquire(44))
    assert vt.now - t0 == pytest.approx(1.0)  # two at once, the third a second later


async def test_retry_after_pauses_everyone_then_retries():
    vt = VirtualTime()
    limiter = FloodLimiter(max_retries=3, clock=vt.clock, sleep=vt.sleep)
    await limiter.initialize()
    attempts = []

    async def send() -> dict:
        attempts.append(vt.now)
        if len(attempts) <= 2:
            raise RetryAfter(2)
        return {"message_id": 1}

    result = await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 7}, None)
    assert result == {"message_id": 1}
    assert attempts == pytest.approx([0.0, 2.0, 4.0])
    assert limiter.flood_errors == 2
    # The pause applied to other chats too: a send right after waits for it.
    limiter.pause(5)
    before = vt.now
    limiter.release(await limiter.acquire(8))
    assert vt.now - before == pytest.approx(5.0)


async def test_gives_up_after_max_retries_and_never_holds_other_calls():
    vt = VirtualTime()
    limiter = FloodLimiter(max_retries=1, clock=vt.clock, sleep=vt.sleep)

    async def always_flooded() -> dict:
        raise RetryAfter(1)

    with pytest.raises(RetryAfter):
        await limiter.process_request(always_flooded, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert limiter.flood_errors == 2
    limiter.pause(60)

    async def answer() -> bool:
        return True

    before = vt.now
    assert await limiter.process_request(answer, (), {}, "answerCallbackQuery", {}, None) is True
    assert await limiter.process_request(answer, (), {}, "getFile", {}, None) is True
    assert vt.now == before


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        FloodLimiter(global_rate=0)
