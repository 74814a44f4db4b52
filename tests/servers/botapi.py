"""A local Telegram Bot API server for tests (aiohttp, loopback, official JSON shapes).

Why: the bot must be tested through python-telegram-bot's real HTTP stack (``HTTPXRequest``),
so the test double is an HTTP server that speaks the Bot API: ``/bot<token>/<method>`` with
JSON, form-urlencoded or multipart bodies, ``{"ok": true, "result": ...}`` answers, Telegram's
error wording, long-polling ``getUpdates`` and file download at ``/file/bot<token>/<path>``.

The server runs in its own thread and event loop, so it serves a bot running in the test's
event loop (async tests) as well as a bot running in another thread (sync tests). The
test-side API (``send_text``, ``press_button``, ``sent_messages``...) is thread-safe; only the
``wait_*`` helpers come in two flavours: blocking (``wait_for_messages``) and awaitable
(``wait_for_messages_async``), because blocking the loop the bot runs in would deadlock it.

Build an application against it with::

    Application.builder().token(server.token).base_url(server.bot_base_url)
        .base_file_url(server.file_base_url).build()
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import mimetypes
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from tests.servers._util import LOOPBACK
from tests.servers.botapi_markup import (
    ApiError,
    utf16_len,
)
from tests.servers.botapi_methods import DEFAULT_TOKEN, MAX_UPLOAD, BotApiMethods, Injected, Pending
from tests.servers.botapi_models import ApiCall, BotMessage, TgChat, TgUser
from tests.servers.botapi_request import Params, image_size, read_params

__all__ = ["DEFAULT_TOKEN", "ApiCall", "BotApiServer", "BotMessage", "TgChat", "TgUser"]

Handler = Callable[[Params], Awaitable[Any]]


class BotApiServer(BotApiMethods):
    """A Bot API server holding the state of one bot, its users, chats, messages and files."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self._init_state(token)
        self.host = LOOPBACK
        self.port = 0
        self.startup_seconds = 0.0
        self.latency = 0.0
        """Seconds every Bot API call waits before it is answered (Telegram is ~50 ms away)."""
        self.chat_latency: dict[int, float] = {}
        """Extra seconds for calls addressed to one chat (a slow conversation)."""
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        # Bot API method names are case-insensitive: map lower-case name -> (canonical, handler).
        self._handlers: dict[str, tuple[str, Handler]] = {
            name[3:].lower(): (name[3:], getattr(self, name))
            for name in dir(self)
            if name.startswith("_m_")
        }

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def bot_base_url(self) -> str:
        """Value for ``ApplicationBuilder.base_url`` / ``Bot(base_url=...)``."""
        return f"{self.base_url}/bot"

    @property
    def file_base_url(self) -> str:
        """Value for ``ApplicationBuilder.base_file_url`` / ``Bot(base_file_url=...)``."""
        return f"{self.base_url}/file/bot"

    def start(self) -> BotApiServer:
        """Serve on a free loopback port from a background thread; return when listening."""
        if self._thread is not None:
            return self
        began = time.monotonic()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._closing = False
        self._thread = threading.Thread(target=run, name="bot-api-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            self._thread = None
            raise RuntimeError(f"Bot API test server failed to start: {failure}")
        self.startup_seconds = time.monotonic() - began
        return self

    async def _serve(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._wakeup = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1])

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        """Stop serving (pending long polls return at once) and join the thread."""
        if self._thread is None or self._loop is None:
            return
        self._closing = True
        loop = self._loop
        loop.call_soon_threadsafe(self._wake_pollers)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(15)
        self._thread = None
        self._loop = None

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- notifications ----------------------------------------------------------------------------

    # -- HTTP handlers ----------------------------------------------------------------------------
    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        known = self._handlers.get(method.lower())
        if known is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        method, handler = known
        params: Params | None = None
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            params = await read_params(request)
            if self.chat_latency:
                chat = params.values.get("chat_id")
                extra = self.chat_latency.get(int(chat)) if str(chat).lstrip("-").isdigit() else None
                if extra:
                    await asyncio.sleep(extra)
            self._take_injected(method)
            result = await handler(params)
        except ApiError as exc:
            self._record_call(method, params, ok=False, error=exc.description)
            return web.json_response(exc.payload(), status=exc.code)
        self._record_call(method, params, ok=True, error=None)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        with self._lock:
            stored = self._file_paths.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.content, content_type=stored.mime_type or "application/octet-stream"
        )

    def _record_call(self, method: str, params: Params | None, ok: bool, error: str | None) -> None:
        values = dict(params.values) if params else {}
        files = {
            name: (up.filename, up.content_type, len(up.data))
            for name, up in (params.files if params else {}).items()
        }
        with self._lock:
            self._calls.append(ApiCall(method, values, files, ok, error, time.time()))
            self._notify()

    def _take_injected(self, method: str) -> None:
        with self._lock:
            for injected in self._injected:
                if injected.methods is None or method.lower() in injected.methods:
                    injected.remaining -= 1
                    if injected.remaining <= 0:
                        self._injected.remove(injected)
                    raise injected.error

    # -- failure injection ------------------------------------------------------------------------
    def flood_next(
        self, n: int = 1, retry_after: int = 1, methods: Iterable[str] | None = None
    ) -> None:
        """Answer the next ``n`` calls (optionally only of ``methods``) with a 429 flood error."""
        error = ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )
        self._inject(n, methods, error)

    def fail_next(
        self,
        n: int = 1,
        error_code: int = 400,
        description: str = "Bad Request: injected failure",
        methods: Iterable[str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``n`` calls (optionally only of ``methods``) with any API error."""
        self._inject(n, methods, ApiError(error_code, description, parameters))

    def _inject(self, n: int, methods: Iterable[str] | None, error: ApiError) -> None:
        wanted = frozenset(m.lower() for m in methods) if methods is not None else None
        with self._lock:
            self._injected.append(Injected(n, wanted, error))

    def block(self, user: TgUser | int) -> None:
        """The user blocked the bot: sending to them answers 403 like Telegram."""
        with self._lock:
            self._blocked.add(user if isinstance(user, int) else user.id)

    def unblock(self, user: TgUser | int) -> None:
        with self._lock:
            self._blocked.discard(user if isinstance(user, int) else user.id)

    # -- users and chats --------------------------------------------------------------------------
    def user(
        self,
        id: int | None = None,
        first_name: str = "Camille",
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "fr",
    ) -> TgUser:
        """Register a user (and their private chat) and return it."""
        with self._lock:
            user_id = id if id is not None else next(self._user_ids)
            tg_user = TgUser(user_id, first_name, username, last_name, language_code)
            self._users[user_id] = tg_user
            self._chats[user_id] = tg_user.private_chat()
            return tg_user

    def group(self, title: str = "Groupe clauses", id: int | None = None) -> TgChat:
        """Register a group chat (negative id)."""
        with self._lock:
            chat_id = id if id is not None else -(4_000_000_000 + next(self._group_ids))
            chat = TgChat(chat_id, title)
            self._chats[chat_id] = chat.to_dict()
            return chat

    def _chat_for(self, user: TgUser, chat: TgChat | None) -> dict[str, Any]:
        with self._lock:
            if user.id not in self._users:
                self._users[user.id] = user
                self._chats[user.id] = user.private_chat()
            if chat is None:
                return copy.deepcopy(self._chats[user.id])
            self._chats.setdefault(chat.id, chat.to_dict())
            return copy.deepcopy(self._chats[chat.id])

    # -- test side: updates from users ------------------------------------------------------------
    def _enqueue(self, payload: dict[str, Any]) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            update = {"update_id": update_id, **payload}
            self._updates[update_id] = update
            self._pending.append(Pending(update_id, update))
            self._notify(pollers=True)
            return update_id

    def _user_message(
        self,
        user: TgUser,
        chat: TgChat | None,
        reply_to: BotMessage | int | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        chat_dict = self._chat_for(user, chat)
        with self._lock:
            message: dict[str, Any] = {
                "message_id": self._next_message_id(chat_dict["id"]),
                "from": user.to_dict(),
                "chat": chat_dict,
                "date": int(time.time()),
                **content,
            }
            if reply_to is not None:
                target_id = reply_to if isinstance(reply_to, int) else reply_to.message_id
                target = self._messages.get((chat_dict["id"], target_id))
                if target is not None:
                    message["reply_to_message"] = copy.deepcopy(target)
            self._messages[(chat_dict["id"], message["message_id"])] = message
            return message

    def send_text(
        self,
        user: TgUser,
        text: str,
        chat: TgChat | None = None,
        reply_to: BotMessage | int | None = None,
    ) -> int:
        """The user sends a text message; return the update_id."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        return self._enqueue({"message": self._user_message(user, chat, reply_to, **content)})

    def send_command(
        self, user: TgUser, command: str, args: str = "", chat: TgChat | None = None
    ) -> int:
        """The user sends ``/command args`` (with the bot_command entity Telegram adds)."""
        command = command if command.startswith("/") else f"/{command}"
        text = f"{command} {args}".rstrip()
        return self.send_text(user, text, chat)

    def send_document(
        self,
        user: TgUser,
        content: bytes,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
        chat: TgChat | None = None,
    ) -> int:
        """The user sends a file; getFile and download then work for it. Return the update_id."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(content, "documents", file_name, mime)
        document = {"file_name": file_name, "mime_type": mime, **self._file_ref(stored, content)}
        return self._send_file(user, chat, "document", document, caption)

    def send_photo(
        self, user: TgUser, content: bytes, caption: str | None = None, chat: TgChat | None = None
    ) -> int:
        """The user sends a photo (PNG/JPEG/GIF bytes); Telegram-style sizes list."""
        size = image_size(content) or (1, 1)
        mime = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
        stored = self._store_file(content, "photos", "photo." + mime.split("/")[1], mime)
        photo = [{"width": size[0], "height": size[1], **self._file_ref(stored, content)}]
        return self._send_file(user, chat, "photo", photo, caption)

    @staticmethod
    def _file_ref(stored: Any, content: bytes) -> dict[str, Any]:
        """The ids and size every file object of a message carries."""
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(content)}

    def _send_file(self, user: TgUser, chat: TgChat | None, kind: str, value: Any,
                   caption: str | None) -> int:
        """Queue the user's message carrying a `kind` ("document", "photo") with its caption."""
        extra: dict[str, Any] = {kind: value}
        if caption:
            extra["caption"] = caption
        return self._enqueue({"message": self._user_message(user, chat, **extra)})

    def press_button(
        self,
        user: TgUser,
        message: BotMessage | int,
        callback_data: str | None = None,
        text: str | None = None,
        chat: TgChat | None = None,
    ) -> int:
        """The user presses an inline button of a bot message; return the update_id.

        The button must currently be on the message (by ``callback_data`` or by its ``text``),
        as in Telegram: pressing a button that was edited away is a test bug, not a scenario.
        """
        chat_id = (
            chat.id if chat else (message.chat_id if isinstance(message, BotMessage) else user.id)
        )
        message_id = message.message_id if isinstance(message, BotMessage) else message
        with self._lock:
            current = self._find_bot_message(chat_id, message_id)
            if current is None or current.deleted:
                raise LookupError(f"bot message {message_id} not found in chat {chat_id}")
            if callback_data is None:
                if text is None:
                    raise ValueError("give callback_data or the button text")
                callback_data = str(current.button(text).get("callback_data"))
            if callback_data not in current.callback_data():
                raise LookupError(
                    f"no button with callback_data {callback_data!r}: {current.callback_data()}"
                )
            query_id = str(next(self._query_ids))
            instance = hashlib.sha1(f"{chat_id}:{self.bot_id}".encode()).hexdigest()[:16]
            query = {
                "id": query_id,
                "from": user.to_dict(),
                "message": copy.deepcopy(current.payload),
                "chat_instance": str(int(instance, 16)),
                "data": callback_data,
            }
            self._callbacks[query_id] = {"answered": False, "answer": None}
        update_id = self._enqueue({"callback_query": query})
        with self._lock:
            self._callback_by_update[update_id] = query_id
        return update_id

    def send_update(self, payload: dict[str, Any]) -> int:
        """Enqueue any update body (e.g. ``{"edited_message": {...}}``); return the update_id."""
        return self._enqueue(copy.deepcopy(payload))

    def replay(self, update_id: int) -> int:
        """Deliver the same update again (same update_id), as after a lost confirmation."""
        with self._lock:
            update = self._updates[update_id]
            self._pending.append(Pending(update_id, copy.deepcopy(update), replay=True))
            self._pending.sort(key=lambda p: p.update_id)
            self._notify(pollers=True)
        return update_id

    # -- test side: inspection --------------------------------------------------------------------
    def sent_messages(
        self, chat_id: int | TgUser | TgChat, include_deleted: bool = False
    ) -> list[BotMessage]:
        """What the bot sent to ``chat_id`` (in order), with current text/keyboard after edits."""
        cid = chat_id if isinstance(chat_id, int) else chat_id.id
        with self._lock:
            return [m for m in self._bot_messages.get(cid, []) if include_deleted or not m.deleted]

    def last_message(self, chat_id: int | TgUser | TgChat) -> BotMessage:
        messages = self.sent_messages(chat_id)
        if not messages:
            raise LookupError(f"the bot sent nothing to {chat_id}")
        return messages[-1]

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every API call the bot made (or only those of ``method``), in order."""
        with self._lock:
            if method is None:
                return list(self._calls)
            return [c for c in self._calls if c.method.lower() == method.lower()]

    def callback_answer(self, update_id: int) -> dict[str, Any] | None:
        """The answerCallbackQuery parameters for the button press ``update_id`` (None if unanswered)."""
        with self._lock:
            query_id = self._callback_by_update[update_id]
            state = self._callbacks[query_id]
            return dict(state["answer"]) if state["answered"] else None

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id].content

    def pending_update_ids(self) -> list[int]:
        """Updates not yet confirmed by the bot (getUpdates offset)."""
        with self._lock:
            return [p.update_id for p in self._pending]

    def is_confirmed(self, update_id: int) -> bool:
        with self._lock:
            return all(p.update_id != update_id for p in self._pending)

    # -- test side: waiting -----------------------------------------------------------------------
    @staticmethod
    def _refuse_in_loop(name: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise RuntimeError(f"{name}() blocks; inside an event loop use `await {name}_async()`")

    def _wait(self, predicate: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
        with self._lock:
            result = self._changed.wait_for(predicate, timeout=timeout)
            if not result:
                raise TimeoutError(what())
            return result

    async def _wait_async(
        self, predicate: Callable[[], Any], timeout: float, what: Callable[[], str]
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(what())
            await asyncio.sleep(0.01)

    def _messages_predicate(
        self, chat_id: int, count: int
    ) -> Callable[[], list[BotMessage] | None]:
        def check() -> list[BotMessage] | None:
            messages = [m for m in self._bot_messages.get(chat_id, []) if not m.deleted]
            return messages if len(messages) >= count else None

        return check

    def _messages_timeout(self, chat_id: int, count: int) -> Callable[[], str]:
        def describe() -> str:
            texts = [
                m.text or m.caption or m.method
                for m in self._bot_messages.get(chat_id, [])
                if not m.deleted
            ]
            return f"expected {count} bot messages in chat {chat_id}, got {len(texts)}: {texts}"

        return describe

    def wait_for_messages(
        self, chat_id: int | TgUser | TgChat, count: int = 1, timeout: float = 10.0
    ) -> list[BotMessage]:
        """Block until the bot sent at least ``count`` (non-deleted) messages to the chat."""
        self._refuse_in_loop("wait_for_messages")
        cid = chat_id if isinstance(chat_id, int) else chat_id.id
        return self._wait(
            self._messages_predicate(cid, count), timeout, self._messages_timeout(cid, count)
        )

    async def wait_for_messages_async(
        self, chat_id: int | TgUser | TgChat, count: int = 1, timeout: float = 10.0
    ) -> list[BotMessage]:
        """Awaitable ``wait_for_messages`` for tests sharing the bot's event loop."""
        cid = chat_id if isinstance(chat_id, int) else chat_id.id
        return await self._wait_async(
            self._messages_predicate(cid, count), timeout, self._messages_timeout(cid, count)
        )

    def _calls_predicate(self, method: str, count: int) -> Callable[[], list[ApiCall] | None]:
        def check() -> list[ApiCall] | None:
            found = [c for c in self._calls if c.method.lower() == method.lower()]
            return found if len(found) >= count else None

        return check

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[ApiCall]:
        """Block until the bot called ``method`` at least ``count`` times."""
        self._refuse_in_loop("wait_for_calls")
        return self._wait(
            self._calls_predicate(method, count),
            timeout,
            lambda: f"expected {count} {method} calls",
        )

    async def wait_for_calls_async(
        self, method: str, count: int = 1, timeout: float = 10.0
    ) -> list[ApiCall]:
        return await self._wait_async(
            self._calls_predicate(method, count),
            timeout,
            lambda: f"expected {count} {method} calls",
        )

    def wait_until_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Block until the bot confirmed ``update_id`` (asked for updates past it)."""
        self._refuse_in_loop("wait_until_confirmed")
        self._wait(
            lambda: self.is_confirmed(update_id),
            timeout,
            lambda: f"update {update_id} not confirmed",
        )

    async def wait_until_confirmed_async(self, update_id: int, timeout: float = 10.0) -> None:
        await self._wait_async(
            lambda: self.is_confirmed(update_id),
            timeout,
            lambda: f"update {update_id} not confirmed",
        )

    # -- internal helpers -------------------------------------------------------------------------

    # -- Bot API methods (``_m_<name>``; names are case-insensitive like the real API) --------------
