"""Telegram backend: python-telegram-bot v22 Application, real HTTP (aiohttp), getUpdates polling.

PTB is used for what it is good at (HTTP, JSON models, file download, the rate limiter hook);
the conversation itself is the channel-neutral :class:`bot.core.ChatCore`. One ``TypeHandler``
turns each PTB ``Update`` into an :class:`bot.messages.Incoming` and renders the outcome.

Polling is our own loop around ``bot.get_updates`` rather than PTB's Updater, for one reason:
the Updater confirms a batch (next offset) while it is still being processed, so a crash
could lose updates. Here an update is confirmed only after it was handled and committed, its
replies in the same transaction's journal (:mod:`clauses.chat_replies`: their delivery is not
awaited for the confirmation, a crash before it hands them to the outbox); if the process dies
before the commit, Telegram delivers it again and the `chat_updates` key drops it if it had in
fact been committed. At least once from Telegram, exactly once in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.core import ChatCore
from bot.dispatch import DEFAULT_CONCURRENCY, UpdateDispatcher, db_threads
from bot.http_request import AiohttpRequest
from bot.messages import Incoming, IncomingFile, Keyboard, Outcome, Reply, split_long
from bot.ratelimit import FloodLimiter, retry_seconds
from bot.transport import SendDeferred, SendRefused
from clauses import chat_replies
from storage.models import Channel

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
IDLE_REFETCH_SECONDS = 0.2
"""While only slow updates are in flight, how often getUpdates looks for other users' ones."""


def markup_json(buttons: Keyboard | None) -> dict[str, Any] | None:
    """Bot API JSON of a keyboard (what outbox rows store)."""
    if not buttons:
        return None
    return {"inline_keyboard": [[{"text": label, "callback_data": data} for label, data in row]
                                for row in buttons]}


def reply_parts(outcome: Outcome) -> list[tuple[str, str, Keyboard | None]]:
    """(part, text, buttons) of every message an outcome sends: reply n, chunk i → « n.i »."""
    parts = []
    for n, reply in enumerate(outcome.replies):
        chunks = split_long(reply.text)
        for i, chunk in enumerate(chunks):
            parts.append((f"{n}.{i}", chunk, reply.buttons if i == len(chunks) - 1 else None))
    return parts


def journal_outcome(session: Any, incoming: Incoming, outcome: Outcome) -> None:
    """The core's journal hook: the update's replies, leased to this adapter (see
    :mod:`clauses.chat_replies`), in the update's own transaction."""
    assert incoming.update_id is not None
    if not incoming.private:  # a group only ever gets « en privé, s'il vous plaît »: not kept
        return
    chat_replies.journal(session, chat_id=incoming.chat_id, parts=[
        (chat_replies.reply_key(incoming.update_id, part), text, markup_json(buttons))
        for part, text, buttons in reply_parts(outcome)
    ])
    outcome.journaled = True


def markup_from_json(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """Outbox rows store Bot API JSON; PTB wants its objects."""
    rows = (data or {}).get("inline_keyboard") or []
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(str(b["text"]), callback_data=b.get("callback_data"), url=b.get("url"))
          for b in row] for row in rows]
    )


@dataclass(frozen=True)
class _Id:
    id: int


@dataclass(frozen=True)
class RawUpdate:
    """An update as getUpdates returned it (JSON), with what the dispatcher asks of one."""

    update_id: int
    payload: dict[str, Any]

    @property
    def effective_user(self) -> _Id | None:
        body = self.payload.get("callback_query") or self.payload.get("message") or {}
        sender = body.get("from") if isinstance(body, dict) else None
        return _Id(int(sender["id"])) if isinstance(sender, dict) and "id" in sender else None

    @property
    def effective_chat(self) -> _Id | None:
        chat = (self.payload.get("message") or {}).get("chat")
        return _Id(int(chat["id"])) if isinstance(chat, dict) and "id" in chat else None


@dataclass(frozen=True)
class Pressed:
    """The button press an update answers: its query id and the message that carried it."""

    query_id: str
    chat_id: int | None
    message_id: int | None


def incoming_from_json(update_id: int, payload: dict[str, Any]
                       ) -> tuple[Incoming, Pressed | None] | None:
    """The Incoming of a plain text message or a button press, read from the raw JSON; None
    for anything else (a document, a photo, an unknown kind: PTB's objects handle those).

    Why: these two kinds are nearly every chat update, and PTB's ``Update.de_json`` built the
    whole object tree of each (the pressed message, its keyboard, its chat, the sender...) to
    read five fields: measured the largest object-building cost left on the event loop."""
    query = payload.get("callback_query")
    if isinstance(query, dict):
        sender, message = query.get("from"), query.get("message")
        if not isinstance(sender, dict) or "id" not in query:
            return None
        chat = message.get("chat") if isinstance(message, dict) else None
        if message is not None and not isinstance(chat, dict):
            return None
        incoming = Incoming(
            Channel.TELEGRAM,
            chat_id=int(chat["id"]) if chat else int(sender["id"]),
            user_id=int(sender["id"]),
            update_id=update_id,
            callback_data=str(query.get("data") or ""),
            private=chat is None or chat.get("type") == ChatType.PRIVATE,
        )
        if isinstance(message, dict) and chat is not None:
            return incoming, Pressed(str(query["id"]), int(chat["id"]), int(message["message_id"]))
        return incoming, Pressed(str(query["id"]), None, None)
    message = payload.get("message")
    if not isinstance(message, dict) or not {"from", "chat"} <= message.keys():
        return None
    if "text" not in message or not _PLAIN_MESSAGE.issuperset(message.keys()):
        return None  # a file, a photo, a contact...: PTB's path
    return Incoming(
        Channel.TELEGRAM,
        chat_id=int(message["chat"]["id"]),
        user_id=int(message["from"]["id"]),
        update_id=update_id,
        text=str(message["text"]),
        private=message["chat"].get("type") == ChatType.PRIVATE,
    ), None


_PLAIN_MESSAGE = frozenset({"message_id", "from", "chat", "date", "text", "entities",
                            "link_preview_options", "reply_to_message", "message_thread_id",
                            "is_topic_message", "forward_origin", "edit_date", "via_bot",
                            "has_protected_content", "author_signature", "sender_chat",
                            "quote", "external_reply", "is_from_offline"})
"""Keys of a text message read from the JSON; one with anything else (a document, a photo, a
caption...) goes through PTB's objects and :meth:`TelegramBot._file`."""


class TelegramTransport:
    """The outbox sender's path to Telegram (through the bot, hence through the limiter)."""

    def __init__(self, application: Application) -> None:
        self.application = application

    async def send(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None) -> str:
        bot = self.application.bot
        chunks = split_long(text or "…")
        message_id = ""
        try:
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                sent = await bot.send_message(
                    chat_id=chat_id, text=chunk,
                    reply_markup=markup_from_json(reply_markup) if last else None,
                    rate_limit_args={"bulk": True},
                )
                message_id = str(sent.message_id)
        except RetryAfter as exc:
            raise SendDeferred("Telegram : trop de messages (429)", retry_seconds(exc)) from exc
        except (Forbidden, ChatMigrated) as exc:
            raise SendRefused(f"Telegram : {exc.message}") from exc
        except BadRequest as exc:
            raise SendRefused(f"Telegram : {exc.message}") from exc
        except (TimedOut, NetworkError, InvalidToken) as exc:
            raise SendDeferred(f"Telegram : {exc.message}") from exc
        return message_id


class TelegramBot:
    """Polls Telegram and answers through the chat core. `start`, `poll(stop)`, `stop`."""

    def __init__(
        self,
        core: ChatCore,
        token: str,
        *,
        base_url: str | None = None,
        base_file_url: str | None = None,
        limiter: FloodLimiter | None = None,
        poll_timeout: float = 25.0,
        connection_pool_size: int = 128,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.core = core
        self.concurrency = concurrency
        # Our own threads for the core's database work: asyncio's default pool has
        # min(32, cores + 4) threads (6 here), shared with mail and the outbox; a few slow
        # updates (a big /bilan) would hold it and stall every other conversation.
        self._threads = ThreadPoolExecutor(max_workers=db_threads(core.ctx.db.dialect, concurrency),
                                           thread_name_prefix="chat-update")
        self.poll_timeout = poll_timeout
        self.limiter = limiter or FloodLimiter()
        builder = (
            Application.builder()
            .token(token)
            .updater(None)
            .rate_limiter(self.limiter)
            # aiohttp, not PTB's httpx: its pool costs grow with the updates in flight
            # (bot/http_request.py)
            .request(AiohttpRequest(connection_pool_size, pool_timeout=30.0,
                                    read_timeout=20.0, write_timeout=20.0, connect_timeout=10.0))
            .get_updates_request(AiohttpRequest(2, read_timeout=poll_timeout + 10.0))
        )
        if base_url:
            builder = builder.base_url(base_url)
        if base_file_url:
            builder = builder.base_file_url(base_file_url)
        self.application: Application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.transport = TelegramTransport(self.application)
        core.journal = journal_outcome
        self.offset: int | None = None
        self._dispatcher: UpdateDispatcher | None = None
        self.connected = False
        self._marks: list[tuple[str, str, asyncio.Future[None]]] = []
        """Delivered reply parts waiting for their group commit (:meth:`_mark_sent`)."""
        self._marking: asyncio.Future[None] | None = None
        self.fallback_queued = asyncio.Event()
        """Set when a reply could not be sent and went to the outbox instead."""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (getMe) and publish the command menu; raises when Telegram is unreachable."""
        await self.application.initialize()
        self.connected = True
        released = await asyncio.to_thread(self._db, chat_replies.release_orphans)
        if released:
            log.info("%d chat replies left unsent by the previous run go to the outbox", released)
            self.fallback_queued.set()
        with contextlib.suppress(TelegramError):
            await self.application.bot.set_my_commands(
                [BotCommand(name, description) for name, description in self.core.menu()]
            )

    async def connect(self, stop: asyncio.Event) -> bool:
        """`start`, retried with backoff until it works or `stop` is set (never raises).

        A service that starts while the network (or Telegram) is down must not die: the mail
        side keeps working and the chat joins when it can. A wrong token is logged loudly and
        retried slowly (it needs a configuration fix and a restart).
        """
        delay = 2.0
        while not stop.is_set():
            try:
                await self.start()
                return True
            except InvalidToken:
                log.error("Telegram refused the bot token (CLAUSEBOT_TELEGRAM_TOKEN); chat disabled")
                delay = 300.0
            except (NetworkError, TimedOut, RetryAfter) as exc:
                log.warning("Telegram unreachable (%s); retrying in %.0f s", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 300.0)
        return False

    async def stop(self) -> None:
        if not self.connected:
            return
        if self.offset is not None:
            # Confirm what was handled, so Telegram does not deliver it again on restart.
            with contextlib.suppress(TelegramError):
                await self.application.bot.get_updates(offset=self.offset, timeout=0,
                                                       allowed_updates=ALLOWED_UPDATES)
        with contextlib.suppress(Exception):
            await self.application.shutdown()

    @property
    def handling(self) -> bool:
        """Some fetched update is not finished yet (its replies may still be on their way,
        even when Telegram has already been told to forget it)."""
        return self._dispatcher is not None and self._dispatcher.handling

    async def poll(self, stop: asyncio.Event) -> None:
        """getUpdates long polling; updates of different users handled concurrently, each
        user's in order (:mod:`bot.dispatch`); an update is confirmed only once it and every
        earlier one are handled and committed. On stop, what was fetched is finished first."""
        dispatcher = UpdateDispatcher(self._process, concurrency=self.concurrency)
        if self.offset is not None:
            dispatcher.resume_at(self.offset)
        self._dispatcher = dispatcher
        try:
            await self._poll(stop, dispatcher)
        finally:
            await dispatcher.drain()
            self.offset = dispatcher.offset

    async def _poll(self, stop: asyncio.Event, dispatcher: UpdateDispatcher) -> None:
        retry_delay = 1.0
        while not stop.is_set():
            fetch = asyncio.ensure_future(self._fetch(dispatcher))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if fetch not in done:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await fetch
                break
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            try:
                updates = fetch.result()
            except TimedOut:
                continue
            except (NetworkError, Conflict, RetryAfter, InvalidToken) as exc:
                log.warning("getUpdates failed: %s; retrying in %.0f s", exc, retry_delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry_delay)
                retry_delay = min(retry_delay * 2, 30.0)
                continue
            retry_delay = 1.0
            fresh = [u for u in updates if dispatcher.submit(u)]  # unseen ones only
            self.offset = dispatcher.offset
            if not fresh and dispatcher.busy:
                # Only updates still in flight came back (Telegram keeps what is not
                # confirmed): look again when all are done, or after a moment for others.
                await dispatcher.wait_idle(stop, timeout=IDLE_REFETCH_SECONDS)

    async def _fetch(self, dispatcher: UpdateDispatcher) -> list[RawUpdate]:
        """getUpdates, keeping only the updates not seen yet, as raw JSON.

        Why not ``bot.get_updates``: while updates are in flight, every poll hands them all back
        (they are not confirmed yet) and PTB parses each into objects again — measured at 8
        parses per update handled, the largest single cost of the event loop under load. The
        raw JSON is filtered on ``update_id`` first (PTB 22's ``_post``, the call
        ``get_updates`` itself makes; the dependency is pinned below 23), and an update is
        turned into objects only if it needs them (:meth:`_process`)."""
        bot = self.application.bot
        raw = await bot._post(
            "getUpdates",
            {"timeout": self.poll_timeout, "offset": dispatcher.offset, "limit": 100,
             "allowed_updates": ALLOWED_UPDATES},
            read_timeout=2 * self.poll_timeout + 10.0)
        updates = []
        for item in raw or []:
            if isinstance(item, dict) and isinstance(item.get("update_id"), int) \
                    and not dispatcher.seen(item["update_id"]):
                updates.append(RawUpdate(item["update_id"], item))
        return updates

    # -- one update ----------------------------------------------------------------------------
    async def _process(self, raw: RawUpdate) -> None:
        """One update: a text message or a button press straight from its JSON
        (:func:`incoming_from_json`), anything else through PTB's objects and handler."""
        try:
            read = incoming_from_json(raw.update_id, raw.payload)
        except (KeyError, TypeError, ValueError):
            read = None
        if read is None:
            update = Update.de_json(raw.payload, self.application.bot)
            if update is not None:
                await self.application.process_update(update)
            return
        try:
            await self._handle(*read)
        except Exception:
            log.exception("error while handling a Telegram update")

    async def _on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        incoming = await self._incoming(update)
        if incoming is None:
            return
        query = update.callback_query
        message = query.message if query is not None else None
        pressed = None if query is None else Pressed(
            query.id, message.chat.id if message is not None else None,
            message.message_id if message is not None else None)
        await self._handle(incoming, pressed)

    async def _handle(self, incoming: Incoming, pressed: Pressed | None) -> None:
        outcome = await self._in_thread(self.core.handle, incoming)
        if outcome.journaled and self._dispatcher is not None and incoming.update_id is not None:
            # committed with its replies in the journal: confirmable before they are sent
            self._dispatcher.settle(incoming.update_id)
        await self._deliver(pressed, incoming, outcome)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)

    async def _incoming(self, update: Update) -> Incoming | None:
        query = update.callback_query
        if query is not None:
            chat = query.message.chat if query.message is not None else None
            return Incoming(
                Channel.TELEGRAM,
                chat_id=chat.id if chat else query.from_user.id,
                user_id=query.from_user.id,
                update_id=update.update_id,
                callback_data=query.data or "",
                private=chat is None or chat.type == ChatType.PRIVATE,
            )
        message = update.message
        if message is None or message.from_user is None:
            return None
        file = await self._file(message)
        return Incoming(
            Channel.TELEGRAM,
            chat_id=message.chat.id,
            user_id=message.from_user.id,
            update_id=update.update_id,
            text=message.text if file is None else None,
            file=file,
            private=message.chat.type == ChatType.PRIVATE,
        )

    async def _file(self, message) -> IncomingFile | None:
        """Describe an attached document/photo; download it only if the conversation wants it."""
        limit = self.core.max_file_bytes
        if message.document is not None:
            doc = message.document
            file_id, size, name, mime, photo = doc.file_id, doc.file_size, doc.file_name, doc.mime_type, False
        elif message.photo:
            fitting = [p for p in message.photo if (p.file_size or 0) <= limit]
            best = max(fitting or message.photo, key=lambda p: (p.file_size or 0, p.width))
            file_id, size, name, mime, photo = best.file_id, best.file_size, None, "image/jpeg", True
        else:
            return None
        data: bytes | None = None
        if (size is None or size <= limit) and await self._in_thread(
            self.core.wants_file, message.chat.id, message.from_user.id
        ):
            try:
                tg_file = await message.get_bot().get_file(file_id)
                data = bytes(await tg_file.download_as_bytearray())
            except TelegramError as exc:
                log.warning("could not download a file: %s", exc)
            if data is not None and len(data) > limit:
                size, data = len(data), None
        return IncomingFile(size=size, display_name=name, declared_mime=mime, is_photo=photo,
                            data=data)

    async def _deliver(self, pressed: Pressed | None, incoming: Incoming, outcome: Outcome) -> None:
        # Answering the button and removing its keyboard are independent of the reply: they go
        # out alongside it rather than before it (two round trips saved on every button press).
        # When a reply rewrites the pressed message itself, the keyboard goes first instead.
        side: list[Awaitable[object]] = []
        if pressed is not None:
            side.append(self._call("answerCallbackQuery", callback_query_id=pressed.query_id,
                                   text=outcome.toast or None))
            if outcome.clear_source_keyboard and pressed.message_id is not None:
                # no reply_markup: Telegram removes the keyboard
                side.append(self._call("editMessageReplyMarkup", chat_id=pressed.chat_id,
                                       message_id=pressed.message_id))
        rewrites_source = any(r.replace_source for r in outcome.replies)
        if rewrites_source or outcome.duplicate:
            for call in side:
                await _quietly(call)
            side = []
        pending = asyncio.gather(*(_quietly(call) for call in side))
        try:
            if not outcome.duplicate:
                await self._send_replies(incoming, outcome, pressed)
        finally:
            await pending

    async def _send_replies(self, incoming: Incoming, outcome: Outcome,
                            pressed: Pressed | None) -> None:
        for n, reply in enumerate(outcome.replies):
            if reply.replace_source and pressed is not None and pressed.message_id is not None:
                try:
                    await self._call(
                        "editMessageText", chat_id=pressed.chat_id,
                        message_id=pressed.message_id, text=split_long(reply.text)[0],
                        reply_markup=markup_json(reply.buttons))
                    await self._mark_all(incoming, n, reply)
                    continue
                except BadRequest as exc:
                    if "not modified" in exc.message:
                        await self._mark_all(incoming, n, reply)
                        continue
                except TelegramError:
                    pass
            await self._send_reply(incoming, n, reply)

    async def _send_reply(self, incoming: Incoming, n: int, reply: Reply) -> None:
        """Send one reply, each part marked in the journal as soon as it is delivered; a
        transient failure hands it to the outbox sender, never lost."""
        chunks = split_long(reply.text)
        for i, chunk in enumerate(chunks):
            buttons = reply.buttons if i == len(chunks) - 1 else None
            key = chat_replies.reply_key(incoming.update_id or 0, f"{n}.{i}")
            try:
                sent = await self._call("sendMessage", chat_id=incoming.chat_id, text=chunk,
                                        reply_markup=markup_json(buttons))
            except (Forbidden, BadRequest) as exc:
                log.warning("reply to chat %s refused: %s", incoming.chat_id, exc.message)
                await self._journal(incoming, chat_replies.give_up, key, exc.message)
                return
            except TelegramError as exc:
                # The handling is committed; the answer must not be lost: the outbox retries it.
                log.warning("reply to chat %s deferred to the outbox: %s", incoming.chat_id, exc)
                retry = retry_seconds(exc) if isinstance(exc, RetryAfter) else None
                await self._journal(incoming, functools.partial(
                    chat_replies.hand_over, chat_id=incoming.chat_id, text=chunk,
                    markup=markup_json(buttons)), key, str(exc), retry)
                self.fallback_queued.set()
                continue
            await self._mark_sent(incoming, key, str(sent["message_id"]))

    async def _call(self, method: str, **params: Any) -> Any:
        """A Bot API call whose answer stays raw JSON (a dict, or True).

        Why not ``bot.send_message`` and its siblings: PTB turns every answer into objects
        (``Message.de_json``: the message, its chat, its sender, its keyboard...), measured at
        2.6 objects parsed per chat update, of which the adapter reads one field (the message
        id). ``_post`` is the call those methods make themselves (PTB 22, pinned below 23): the
        same form encoding, flood limiter (``ExtBot._do_post``) and PTB errors; None values are
        dropped as they do. Keyboards go as Bot API JSON (:func:`markup_json`)."""
        return await self.application.bot._post(method, params)

    async def _mark_all(self, incoming: Incoming, n: int, reply: Reply) -> None:
        """A reply shown by editing the pressed message: none of its parts is to be sent."""
        for i in range(len(split_long(reply.text))):
            key = chat_replies.reply_key(incoming.update_id or 0, f"{n}.{i}")
            await self._mark_sent(incoming, key, "")

    async def _mark_sent(self, incoming: Incoming, key: str, message_id: str) -> None:
        """Record a delivered reply part; returns once it is committed, like before.

        Group commit: the marks of all the updates delivered meanwhile are written in one
        transaction (one write lock and one commit instead of one each — with 16 updates in
        flight that was a second transaction per update). The crash window is unchanged:
        an update only finishes, hence is only confirmed, after its mark is committed."""
        if incoming.update_id is None or not incoming.private:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.append((key, message_id, future))
        if self._marking is None or self._marking.done():
            self._marking = asyncio.ensure_future(self._flush_marks())
        try:
            await asyncio.shield(future)
        except Exception:  # the reply itself went out already: log, never raise
            log.exception("could not record the delivery of a chat reply")

    async def _flush_marks(self) -> None:
        while self._marks:
            batch, self._marks = self._marks, []
            try:
                await self._in_thread(self._db, _mark_all_sent, [(k, m) for k, m, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _journal(self, incoming: Incoming, action: Any, *args: Any) -> None:
        if incoming.update_id is None or not incoming.private:
            return
        try:
            await self._in_thread(self._db, action, *args)
        except Exception:  # the reply itself went out (or not) already: log, never raise
            log.exception("could not record the delivery of a chat reply")

    async def _in_thread(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work in the chat's own thread pool (:func:`bot.dispatch.db_threads`)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, functools.partial(func, *args))

    def _db(self, action: Any, *args: Any) -> Any:
        with self.core.ctx.db.session() as s:
            return action(s, *args)


def _mark_all_sent(session: Any, marks: list[tuple[str, str]]) -> None:
    chat_replies.mark_all_sent(session, marks)


async def _quietly(call: Awaitable[object]) -> None:
    """A courtesy call (button answer, keyboard removal) whose failure changes nothing."""
    with contextlib.suppress(TelegramError):
        await call
