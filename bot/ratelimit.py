"""Telegram flood limits: throttle every message sent, and retry on RetryAfter (HTTP 429).

Telegram's documented limits: about 30 messages per second overall, and about one message per
second in a given chat (short bursts are tolerated, sustained rates are not). The per-chat pace
applies to bulk sends (the outbox: alerts, reminders, broadcasts; `rate_limit_args={"bulk":
True}`), which is what the limit is about. Answers to a user's own messages are only held to the
global window (and to `reply_burst` if set): their rate is bounded by the user's own typing, and
slowing a conversation to one bubble per second would make it feel broken for nothing.
The per-chat pacing is a GCRA (virtual scheduling): each send reserves its time slot, so
concurrent senders never need a lock to agree on the order. A broadcast of hundreds
of reminders must stay under both, and when Telegram still answers 429 "retry after N", every
sender pauses N seconds (the limit is per bot, not per chat) and the refused message is retried.

:class:`FloodLimiter` is a PTB ``BaseRateLimiter``: plugged into the Application, it applies to
every request the bot makes (replies and outbox alike), except ``getUpdates`` (PTB never rate
limits it) and non-message calls such as ``answerCallbackQuery`` or ``getFile``, which must not
wait behind a broadcast.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

LIMITED_PREFIXES = ("send", "copy", "forward", "edit")


class _Slot:
    """One request's place in the global window: counted while in flight, then for 1 s."""

    __slots__ = ("done_at", "started_at")

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.done_at: float | None = None


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's delay in seconds (PTB 22 returns an int or a timedelta, with a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value))


class FloodLimiter(BaseRateLimiter[dict]):
    """At most `global_rate` messages in any one-second window, bulk messages one per chat
    every `per_chat_interval` seconds, and up to `max_retries` retries after a 429."""

    def __init__(
        self,
        global_rate: float = 30.0,
        per_chat_interval: float = 1.0,
        max_retries: int = 3,
        reply_burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if global_rate <= 0 or per_chat_interval < 0 or max_retries < 0:
            raise ValueError("invalid rate limits")
        self.window_size = max(1, int(global_rate))
        self.per_chat_interval = per_chat_interval
        self.reply_burst = reply_burst
        self.max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._window: list[_Slot] = []
        self._tat: dict[int | str, float] = {}  # per chat: theoretical arrival time (GCRA)
        self._pause_until = 0.0
        self._lock: asyncio.Lock | None = None
        self.flood_errors = 0
        """How many 429 answers were received (for logs and tests)."""

    async def initialize(self) -> None:
        self._lock = asyncio.Lock()

    async def shutdown(self) -> None:
        self._tat.clear()

    def pause(self, seconds: float) -> None:
        """Stop every sender for `seconds` (Telegram said "retry after")."""
        self._pause_until = max(self._pause_until, self._clock() + seconds)

    async def acquire(self, chat_id: int | str | None, *, bulk: bool = False) -> _Slot:
        """Wait for this chat's turn, then for a slot in the global one-second window."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        burst = 1 if bulk else self.reply_burst
        if chat_id is not None and burst is not None:
            now = self._clock()
            tat = max(now, self._tat.get(chat_id, now))
            start = max(now, tat - (burst - 1) * self.per_chat_interval)
            self._tat[chat_id] = max(tat, start) + self.per_chat_interval
            if len(self._tat) > 50_000:
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            if start > now:
                await self._sleep(start - now)
        async with self._lock:
            while True:
                now = self._clock()
                if self._pause_until > now:
                    await self._sleep(self._pause_until - now)
                    continue
                self._window = [slot for slot in self._window
                                if slot.done_at is None or now - slot.done_at < 1.0]
                if len(self._window) < self.window_size:
                    slot = _Slot(now)
                    self._window.append(slot)
                    return slot
                finished = [slot.done_at for slot in self._window if slot.done_at is not None]
                await self._sleep(min(finished) + 1.0 - now if finished else 0.01)

    def release(self, slot: _Slot, chat_id: int | str | None = None, *, bulk: bool = False) -> None:
        """The request is answered: its slot now counts for one second from this moment.

        Counting from the answer rather than from the start is what keeps the limit true at
        Telegram's end when requests are slow: a request that took 0.5 s may have arrived
        0.5 s late, and the next window must not overlap it. In-flight requests always count.
        """
        now = self._clock()
        slot.done_at = now
        if bulk and chat_id is not None:
            self._tat[chat_id] = max(self._tat.get(chat_id, now), now + self.per_chat_interval)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if not endpoint.lower().startswith(LIMITED_PREFIXES):
            return await callback(*args, **kwargs)
        chat_id = data.get("chat_id")
        bulk = bool((rate_limit_args or {}).get("bulk"))
        attempt = 0
        while True:
            slot = await self.acquire(chat_id, bulk=bulk)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.flood_errors += 1
                self.pause(retry_seconds(exc))
                attempt += 1
                if attempt > self.max_retries:
                    raise
            finally:
                self.release(slot, chat_id, bulk=bulk)
