"""Entry point of the chat for `clausebot run`.

Usage from the wiring::

    stop = asyncio.Event()
    await run_chat(ctx, settings, stop)        # returns once `stop` is set and all is closed

or, to manage the lifetime yourself::

    service = ChatService(ctx, settings)
    await service.start()                      # connects, starts polling and the outbox sender
    ...
    await service.stop()                       # stops polling, confirms handled updates, closes

`settings_like` is read with getattr, so clausebot.settings.Settings or any object with these
attributes will do: `telegram_token` (str or SecretStr; None selects the console),
`telegram_base_url` / `telegram_base_file_url` (PTB's base URLs, for a local Bot API server),
`chat_rate_per_second` (global flood limit, default 25 to keep a margin under Telegram's 30),
`outbox_max_attempts` (default 8).

With a token, the chat is Telegram; without, it is the console: interactive when standard input
is a terminal (or `chat_console_interactive` is true), otherwise messages for console accounts
are only printed (the service still runs headless, e.g. under systemd). Either way the chat
outbox sender runs beside it and delivers the alerts and reminders the domain queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any, TextIO

from bot.chat_reports import ChatReportWorker
from bot.console import ConsoleTransport, run_console
from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from bot.ratelimit import FloodLimiter
from bot.telegram_adapter import TelegramBot
from clauses.context import Context
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else str(value)
    return text or None


class ChatService:
    def __init__(
        self,
        ctx: Context,
        settings_like: Any,
        *,
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        outbox_interval: float = 2.0,
        poll_timeout: float = 25.0,
    ) -> None:
        self.ctx = ctx
        self.core = ChatCore(ctx)
        self.token = _secret(getattr(settings_like, "telegram_token", None))
        self.base_url = getattr(settings_like, "telegram_base_url", None)
        self.base_file_url = getattr(settings_like, "telegram_base_file_url", None)
        self.rate = float(getattr(settings_like, "chat_rate_per_second", 25.0) or 25.0)
        self.max_attempts = int(getattr(settings_like, "outbox_max_attempts", 8) or 8)
        self.interactive = getattr(settings_like, "chat_console_interactive", None)
        self.stdin = stdin
        self.out = out
        self.outbox_interval = outbox_interval
        self.poll_timeout = poll_timeout
        self.telegram: TelegramBot | None = None
        self.console: ConsoleTransport | None = None
        self.sender: ChatOutboxSender | None = None
        self.reports: ChatReportWorker | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def backend(self) -> str:
        return "telegram" if self.token else "console"

    async def start(self) -> None:
        self._stop.clear()
        if self.token:
            self.telegram = TelegramBot(
                self.core, self.token, base_url=self.base_url, base_file_url=self.base_file_url,
                limiter=FloodLimiter(global_rate=self.rate), poll_timeout=self.poll_timeout,
            )
            self.sender = ChatOutboxSender(
                self.ctx.db, self.telegram.transport, chat_filter=OutboxMessage.to_chat_id > 0,
                max_attempts=self.max_attempts,
            )
            self._tasks.append(asyncio.create_task(self._telegram_main(), name="chat-telegram"))
            self._tasks.append(asyncio.create_task(self._relay_fallbacks(), name="chat-fallbacks"))
        else:
            out = self.out or sys.stdout
            self.console = ConsoleTransport(self.core, out)
            self.sender = ChatOutboxSender(
                self.ctx.db, self.console, chat_filter=OutboxMessage.to_chat_id < 0,
                max_attempts=self.max_attempts,
            )
            stdin = self.stdin or sys.stdin
            interactive = self.interactive
            if interactive is None:
                interactive = self.stdin is not None or bool(getattr(stdin, "isatty", lambda: False)())
            if interactive:
                self._tasks.append(asyncio.create_task(
                    run_console(self.core, self.console, self._stop, stdin=stdin, out=out),
                    name="chat-console"))
            self._tasks.append(asyncio.create_task(
                self.sender.run(self._stop, self.outbox_interval), name="chat-outbox"))
        # Big bilans asked in the chat are prepared here, off the update path (bot.chat_reports).
        sender = self.sender
        self.reports = ChatReportWorker(self.ctx, wake=sender.wakeup.set)
        self._tasks.append(asyncio.create_task(
            self.reports.run(self._stop, min(self.outbox_interval, 1.0)), name="chat-reports"))
        log.info("chat started (%s)", self.backend)

    async def _telegram_main(self) -> None:
        """Connect (retrying while Telegram is unreachable), then poll and send side by side."""
        assert self.telegram is not None and self.sender is not None
        if not await self.telegram.connect(self._stop):
            return
        await asyncio.gather(self.telegram.poll(self._stop),
                             self.sender.run(self._stop, self.outbox_interval))

    @property
    def has_interactive_console(self) -> bool:
        """Whether a terminal drives the console (then its closing ends `clausebot run`)."""
        return any(t.get_name() == "chat-console" for t in self._tasks)

    async def _relay_fallbacks(self) -> None:
        """Wake the outbox sender when a reply had to be queued instead of sent."""
        assert self.telegram is not None and self.sender is not None
        while not self._stop.is_set():
            await self.telegram.fallback_queued.wait()
            self.telegram.fallback_queued.clear()
            self.sender.wakeup.set()

    async def wait_console_closed(self) -> None:
        """Return when the console user quits (EOF or `!quitter`); immediately without console."""
        for task in self._tasks:
            if task.get_name() == "chat-console":
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            if task.get_name() == "chat-fallbacks":
                task.cancel()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=30)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("chat task %s failed", task.get_name())
        self._tasks.clear()
        if self.telegram is not None:
            await self.telegram.stop()
        log.info("chat stopped")


async def run_chat(ctx: Context, settings_like: Any, stop_event: asyncio.Event) -> None:
    """Run the chat (Telegram or console) and its outbox sender until `stop_event` is set."""
    service = ChatService(ctx, settings_like)
    await service.start()
    try:
        await stop_event.wait()
    finally:
        await service.stop()
