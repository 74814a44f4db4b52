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
import itertools
import json
import mimetypes
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers._util import LOOPBACK
from tests.servers.botapi_markup import (
    ApiError,
    bad_request,
    parse_text,
    utf16_len,
    validate_reply_markup,
)

DEFAULT_TOKEN = "123456789:AAclausebot-test-token_0123456789abcd"
BOT_FIRST_NAME = "ClauseBot"
BOT_USERNAME = "clausebot_test_bot"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
FORBIDDEN_BLOCKED = "Forbidden: bot was blocked by the user"


# ------------------------------------------------------------------------------------------------
# Test-side value objects
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TgUser:
    """A Telegram user the tests impersonate. In a private chat, chat id == user id."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "fr"
    is_bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def private_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True)
class TgChat:
    """A group chat (negative id) for tests that need one."""

    id: int
    title: str
    type: str = "group"
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class StoredFile:
    """A file known to the server (uploaded by a test user or by the bot)."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def file_object(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class BotMessage:
    """A message the bot sent (and its later edits), as a test wants to inspect it."""

    message_id: int
    chat_id: int
    method: str
    payload: dict[str, Any]
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    caption: str | None = None
    document: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None
    file_bytes: bytes | None = None
    file_name: str | None = None
    mime_type: str | None = None
    reply_to_message_id: int | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """Rows of inline buttons currently attached (empty when none)."""
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return list(self.reply_markup["inline_keyboard"])
        return []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.inline_keyboard for button in row]

    def button_texts(self) -> list[str]:
        return [str(button["text"]) for button in self.buttons]

    def callback_data(self) -> list[str]:
        return [str(button["callback_data"]) for button in self.buttons if "callback_data" in button]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button labelled ``text`` (exact match, else unique substring match)."""
        exact = [b for b in self.buttons if b["text"] == text]
        loose = [b for b in self.buttons if text.lower() in str(b["text"]).lower()]
        found = exact or loose
        if len(found) != 1:
            raise LookupError(f"no unique button {text!r} in {self.button_texts()}")
        return found[0]

    @property
    def removes_keyboard(self) -> bool:
        return bool(self.reply_markup and self.reply_markup.get("remove_keyboard"))


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made, with its decoded parameters and the outcome."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str | None, str | None, int]]
    ok: bool
    error: str | None
    at: float


@dataclass
class _Pending:
    update_id: int
    payload: dict[str, Any]
    replay: bool = False
    delivered: bool = False


@dataclass
class _Injected:
    remaining: int
    methods: frozenset[str] | None
    error: ApiError


@dataclass(frozen=True)
class _Upload:
    filename: str | None
    content_type: str | None
    data: bytes


# ------------------------------------------------------------------------------------------------
# Parameter decoding
# ------------------------------------------------------------------------------------------------
class _Params:
    """Typed access to request parameters, which may arrive as JSON values or as strings."""

    def __init__(self, values: dict[str, Any], files: dict[str, _Upload]) -> None:
        self.values = values
        self.files = files

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def str_(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def int_(self, name: str, default: int | None = None, missing: str | None = None) -> int | None:
        value = self.values.get(name)
        if value in (None, ""):
            if missing:
                raise bad_request(missing)
            return default
        if isinstance(value, bool):
            raise bad_request(f"field \"{name}\" must be of type Integer")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def float_(self, name: str, default: float = 0.0) -> float:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def bool_(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in {"true", "1"}

    def json_(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {name} JSON object") from exc
        return value


async def _read_params(request: web.Request) -> _Params:
    """Decode query string + JSON, urlencoded or multipart body, like the Bot API accepts."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, _Upload] = {}
    ctype = request.content_type
    if request.can_read_body:
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON request") from exc
            if not isinstance(body, dict):
                raise bad_request("JSON request must be an object")
            values.update(body)
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not hasattr(part, "read") or part.name is None:
                    continue
                data = await part.read(decode=True)  # type: ignore[union-attr]
                if part.filename is not None:  # type: ignore[union-attr]
                    files[part.name] = _Upload(
                        part.filename,  # type: ignore[union-attr]
                        part.headers.get("Content-Type"),
                        bytes(data),
                    )
                else:
                    values[part.name] = bytes(data).decode("utf-8")
        elif ctype == "application/x-www-form-urlencoded":
            form = await request.post()
            values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return _Params(values, files)


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of a PNG, JPEG, GIF or WebP image; None when it is not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 1, 1
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + length
        return 1, 1
    return None


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------
Handler = Callable[[_Params], Awaitable[Any]]


class BotApiServer:
    """A Bot API server holding the state of one bot, its users, chats, messages and files."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.host = LOOPBACK
        self.port = 0
        self.startup_seconds = 0.0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing = False
        self._handlers: dict[str, Handler] = {
            name.removeprefix("_m_").lower(): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }
        self.reset()

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

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME}

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

    def reset(self) -> None:
        """Forget every user, chat, message, update, file and injected failure."""
        with self._lock:
            self._users: dict[int, TgUser] = {}
            self._chats: dict[int, dict[str, Any]] = {}
            self._update_ids = itertools.count(700_000_001)
            self._user_ids = itertools.count(10_000_001)
            self._group_ids = itertools.count(1)
            self._message_ids: dict[int, itertools.count[int]] = {}
            self._pending: list[_Pending] = []
            self._updates: dict[int, dict[str, Any]] = {}
            self._messages: dict[tuple[int, int], dict[str, Any]] = {}
            self._bot_messages: dict[int, list[BotMessage]] = {}
            self._calls: list[ApiCall] = []
            self._files: dict[str, StoredFile] = {}
            self._file_paths: dict[str, StoredFile] = {}
            self._file_seq = itertools.count(1)
            self._callbacks: dict[str, dict[str, Any]] = {}
            self._callback_by_update: dict[int, str] = {}
            self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
            self._injected: list[_Injected] = []
            self._blocked: set[int] = set()
            self._poll_generation = 0
            self._last_offset = 0

    # -- notifications ----------------------------------------------------------------------------
    def _wake_pollers(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _notify(self) -> None:
        """Wake long polls (server loop) and blocking waiters (test threads). Lock held."""
        self._changed.notify_all()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake_pollers)
            except RuntimeError:  # loop closing
                pass

    # -- HTTP handlers ----------------------------------------------------------------------------
    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        handler = self._handlers.get(method.lower())
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        params: _Params | None = None
        try:
            params = await _read_params(request)
            self._take_injected(method)
            result = await handler(params)
        except ApiError as exc:
            self._record_call(method, params, ok=False, error=exc.description)
            return web.json_response(exc.payload(), status=exc.code)
        self._record_call(method, params, ok=True, error=None)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        with self._lock:
            stored = self._file_paths.get(request.match_info["path"])
        if stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.content, content_type=stored.mime_type or "application/octet-stream")

    def _record_call(self, method: str, params: _Params | None, ok: bool, error: str | None) -> None:
        values = dict(params.values) if params else {}
        files = {name: (up.filename, up.content_type, len(up.data)) for name, up in (params.files if params else {}).items()}
        canonical = next((name for name in self._handlers if name == method.lower()), method.lower())
        with self._lock:
            self._calls.append(ApiCall(self._method_name(canonical), values, files, ok, error, time.time()))
            self._notify()

    def _method_name(self, lowered: str) -> str:
        for name in dir(self):
            if name.startswith("_m_") and name[3:].lower() == lowered:
                return name[3:]
        return lowered

    def _take_injected(self, method: str) -> None:
        with self._lock:
            for injected in self._injected:
                if injected.methods is None or method.lower() in injected.methods:
                    injected.remaining -= 1
                    if injected.remaining <= 0:
                        self._injected.remove(injected)
                    raise injected.error

    # -- failure injection ------------------------------------------------------------------------
    def flood_next(self, n: int = 1, retry_after: int = 1, methods: Iterable[str] | None = None) -> None:
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
            self._injected.append(_Injected(n, wanted, error))

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

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    # -- test side: updates from users ------------------------------------------------------------
    def _enqueue(self, payload: dict[str, Any]) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            update = {"update_id": update_id, **payload}
            self._updates[update_id] = update
            self._pending.append(_Pending(update_id, update))
            self._notify()
            return update_id

    def _user_message(
        self, user: TgUser, chat: TgChat | None, reply_to: BotMessage | int | None = None, **content: Any
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
        self, user: TgUser, text: str, chat: TgChat | None = None, reply_to: BotMessage | int | None = None
    ) -> int:
        """The user sends a text message; return the update_id."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self._enqueue({"message": self._user_message(user, chat, reply_to, **content)})

    def send_command(self, user: TgUser, command: str, args: str = "", chat: TgChat | None = None) -> int:
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
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime,
            "file_size": len(content),
        }
        extra: dict[str, Any] = {"document": document}
        if caption:
            extra["caption"] = caption
        return self._enqueue({"message": self._user_message(user, chat, **extra)})

    def send_photo(
        self, user: TgUser, content: bytes, caption: str | None = None, chat: TgChat | None = None
    ) -> int:
        """The user sends a photo (PNG/JPEG/GIF bytes); Telegram-style sizes list."""
        size = _image_size(content) or (1, 1)
        stored = self._store_file(content, "photos", "photo.jpg", "image/jpeg")
        photo = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": size[0],
                "height": size[1],
                "file_size": len(content),
            }
        ]
        extra: dict[str, Any] = {"photo": photo}
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
        chat_id = chat.id if chat else (message.chat_id if isinstance(message, BotMessage) else user.id)
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
                raise LookupError(f"no button with callback_data {callback_data!r}: {current.callback_data()}")
            query_id = str(next(self._file_seq) * 7919 + 5_000_000_000_000)
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
            self._pending.append(_Pending(update_id, copy.deepcopy(update), replay=True))
            self._pending.sort(key=lambda p: p.update_id)
            self._notify()
        return update_id

    # -- test side: inspection --------------------------------------------------------------------
    def sent_messages(self, chat_id: int | TgUser | TgChat, include_deleted: bool = False) -> list[BotMessage]:
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

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        with self._lock:
            key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
            return list(self._commands.get(key, []))

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

    async def _wait_async(self, predicate: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(what())
            await asyncio.sleep(0.01)

    def _messages_predicate(self, chat_id: int, count: int) -> Callable[[], list[BotMessage] | None]:
        def check() -> list[BotMessage] | None:
            messages = [m for m in self._bot_messages.get(chat_id, []) if not m.deleted]
            return messages if len(messages) >= count else None

        return check

    def _messages_timeout(self, chat_id: int, count: int) -> Callable[[], str]:
        def describe() -> str:
            texts = [m.text or m.caption or m.method for m in self._bot_messages.get(chat_id, []) if not m.deleted]
            return f"expected {count} bot messages in chat {chat_id}, got {len(texts)}: {texts}"

        return describe

    def wait_for_messages(self, chat_id: int | TgUser | TgChat, count: int = 1, timeout: float = 10.0) -> list[BotMessage]:
        """Block until the bot sent at least ``count`` (non-deleted) messages to the chat."""
        self._refuse_in_loop("wait_for_messages")
        cid = chat_id if isinstance(chat_id, int) else chat_id.id
        return self._wait(self._messages_predicate(cid, count), timeout, self._messages_timeout(cid, count))

    async def wait_for_messages_async(
        self, chat_id: int | TgUser | TgChat, count: int = 1, timeout: float = 10.0
    ) -> list[BotMessage]:
        """Awaitable ``wait_for_messages`` for tests sharing the bot's event loop."""
        cid = chat_id if isinstance(chat_id, int) else chat_id.id
        return await self._wait_async(self._messages_predicate(cid, count), timeout, self._messages_timeout(cid, count))

    def _calls_predicate(self, method: str, count: int) -> Callable[[], list[ApiCall] | None]:
        def check() -> list[ApiCall] | None:
            found = [c for c in self._calls if c.method.lower() == method.lower()]
            return found if len(found) >= count else None

        return check

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[ApiCall]:
        """Block until the bot called ``method`` at least ``count`` times."""
        self._refuse_in_loop("wait_for_calls")
        return self._wait(self._calls_predicate(method, count), timeout, lambda: f"expected {count} {method} calls")

    async def wait_for_calls_async(self, method: str, count: int = 1, timeout: float = 10.0) -> list[ApiCall]:
        return await self._wait_async(
            self._calls_predicate(method, count), timeout, lambda: f"expected {count} {method} calls"
        )

    def wait_until_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Block until the bot confirmed ``update_id`` (asked for updates past it)."""
        self._refuse_in_loop("wait_until_confirmed")
        self._wait(lambda: self.is_confirmed(update_id), timeout, lambda: f"update {update_id} not confirmed")

    async def wait_until_confirmed_async(self, update_id: int, timeout: float = 10.0) -> None:
        await self._wait_async(lambda: self.is_confirmed(update_id), timeout, lambda: f"update {update_id} not confirmed")

    # -- internal helpers -------------------------------------------------------------------------
    def _store_file(self, content: bytes, folder: str, file_name: str | None, mime: str | None) -> StoredFile:
        with self._lock:
            seq = next(self._file_seq)
            digest = hashlib.sha256(content).hexdigest()
            unique = f"AgAD{digest[:12]}"
            file_id = f"BQACAgQAAxkB{seq:06d}{digest[:20]}"
            suffix = ""
            if file_name and "." in file_name:
                suffix = "." + file_name.rsplit(".", 1)[1].lower()
            elif folder == "photos":
                suffix = ".jpg"
            stored = StoredFile(file_id, unique, content, f"{folder}/file_{seq}{suffix}", file_name, mime)
            self._files[file_id] = stored
            self._file_paths[stored.file_path] = stored
            return stored

    def _find_bot_message(self, chat_id: int, message_id: int) -> BotMessage | None:
        for message in self._bot_messages.get(chat_id, []):
            if message.message_id == message_id:
                return message
        return None

    def _target_chat(self, params: _Params, sending: bool = True) -> dict[str, Any]:
        raw = params.raw("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        with self._lock:
            chat: dict[str, Any] | None = None
            if isinstance(raw, str) and raw.startswith("@"):
                chat = next((c for c in self._chats.values() if c.get("username") == raw[1:] and c["type"] != "private"), None)
            else:
                try:
                    chat = self._chats.get(int(raw))
                except (TypeError, ValueError):
                    chat = None
            if chat is None:
                raise bad_request("chat not found")
            if sending and chat["id"] in self._blocked:
                raise ApiError(403, FORBIDDEN_BLOCKED)
            return copy.deepcopy(chat)

    def _reply_target(self, params: _Params, chat_id: int) -> dict[str, Any] | None:
        reply_id = params.int_("reply_to_message_id")
        allow_missing = params.bool_("allow_sending_without_reply")
        reply_parameters = params.json_("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_id = int(reply_parameters.get("message_id", 0)) or reply_id
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply", allow_missing))
        if reply_id is None:
            return None
        with self._lock:
            target = self._messages.get((chat_id, reply_id))
        if target is None:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return copy.deepcopy(target)

    def _formatted(self, params: _Params, key: str, limit: int, required: bool) -> tuple[str | None, list[dict[str, Any]]]:
        text = params.str_(key)
        if text is None or text == "":
            if required:
                raise bad_request("message text is empty")
            return None, []
        parse_mode = params.str_("parse_mode")
        entities_key = "entities" if key == "text" else "caption_entities"
        explicit = params.json_(entities_key)
        if explicit is not None:
            plain, entities = text, list(explicit)
        else:
            plain, entities = parse_text(text, parse_mode)
        if required and not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        return plain, entities

    def _new_bot_message(
        self, method: str, chat: dict[str, Any], params: _Params, reply_markup: dict[str, Any] | None, **content: Any
    ) -> BotMessage:
        reply_to = self._reply_target(params, chat["id"])
        with self._lock:
            message_id = self._next_message_id(chat["id"])
            payload: dict[str, Any] = {
                "message_id": message_id,
                "from": self.bot_user(),
                "chat": chat,
                "date": int(time.time()),
                **{k: v for k, v in content.items() if v not in (None, [], "")},
            }
            if reply_to is not None:
                payload["reply_to_message"] = reply_to
            if reply_markup and "inline_keyboard" in reply_markup:
                payload["reply_markup"] = {"inline_keyboard": reply_markup["inline_keyboard"]}
            record = BotMessage(
                message_id=message_id,
                chat_id=chat["id"],
                method=method,
                payload=payload,
                text=content.get("text"),
                raw_text=params.str_("text"),
                parse_mode=params.str_("parse_mode"),
                entities=list(content.get("entities") or content.get("caption_entities") or []),
                reply_markup=reply_markup,
                caption=content.get("caption"),
                reply_to_message_id=reply_to["message_id"] if reply_to else None,
            )
            self._messages[(chat["id"], message_id)] = payload
            self._bot_messages.setdefault(chat["id"], []).append(record)
            self._notify()
            return record

    def _resolve_upload(self, params: _Params, field_name: str, folder: str) -> tuple[StoredFile, bool]:
        """Return the stored file for an upload, a ``attach://`` part or an existing file_id."""
        upload = params.files.get(field_name)
        raw = params.str_(field_name)
        if upload is None and raw and raw.startswith("attach://"):
            upload = params.files.get(raw.removeprefix("attach://"))
        if upload is not None:
            if len(upload.data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            if not upload.data:
                raise bad_request("file must be non-empty")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            return self._store_file(upload.data, folder, upload.filename, mime), True
        if not raw:
            raise bad_request(f"there is no {field_name} in the request")
        with self._lock:
            stored = self._files.get(raw)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored, False

    # -- Bot API methods (``_m_<name>``; names are case-insensitive like the real API) --------------
    async def _m_getMe(self, params: _Params) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_logOut(self, params: _Params) -> bool:
        return True

    async def _m_close(self, params: _Params) -> bool:
        return True

    async def _m_getUpdates(self, params: _Params) -> list[dict[str, Any]]:
        offset = params.int_("offset", 0) or 0
        limit = max(1, min(100, params.int_("limit", 100) or 100))
        timeout = max(0.0, params.float_("timeout", 0.0))
        allowed = params.json_("allowed_updates")
        with self._lock:
            self._poll_generation += 1
            generation = self._poll_generation
            self._notify()
        deadline = time.monotonic() + timeout
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            with self._lock:
                if generation != self._poll_generation:
                    raise ApiError(
                        409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                    )
                batch = self._take_updates(offset, limit, allowed)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return batch
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=remaining)
            except TimeoutError:
                pass

    def _take_updates(self, offset: int, limit: int, allowed: Any) -> list[dict[str, Any]]:
        """Confirm updates below ``offset``; return up to ``limit`` deliverable ones. Lock held."""
        if offset < 0:
            keep = self._pending[offset:]
            self._pending = keep
        elif offset > 0:
            self._last_offset = max(self._last_offset, offset)
            self._pending = [
                p for p in self._pending if p.update_id >= offset or (p.replay and not p.delivered)
            ]
        if isinstance(allowed, list) and allowed:
            wanted = set(allowed)
            self._pending = [p for p in self._pending if wanted & (set(p.payload) - {"update_id"})]
        batch = self._pending[:limit]
        for pending in batch:
            pending.delivered = True
        self._notify()
        return [copy.deepcopy(p.payload) for p in batch]

    async def _m_deleteWebhook(self, params: _Params) -> bool:
        if params.bool_("drop_pending_updates"):
            with self._lock:
                self._pending.clear()
                self._notify()
        return True

    async def _m_getWebhookInfo(self, params: _Params) -> dict[str, Any]:
        with self._lock:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._pending)}

    async def _m_setMyCommands(self, params: _Params) -> bool:
        commands = params.json_("commands")
        if not isinstance(commands, list):
            raise bad_request("commands must be an Array")
        if len(commands) > 100:
            raise bad_request("too many commands")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("BotCommand must be an Object")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not name or len(name) > 32 or not all(c.islower() or c.isdigit() or c == "_" for c in name) or not name.isascii():
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (json.dumps(params.json_("scope") or {"type": "default"}, sort_keys=True), params.str_("language_code", "") or "")
        with self._lock:
            self._commands[key] = cleaned
        return True

    async def _m_getMyCommands(self, params: _Params) -> list[dict[str, str]]:
        return self.commands(params.json_("scope"), params.str_("language_code", "") or "")

    async def _m_deleteMyCommands(self, params: _Params) -> bool:
        key = (json.dumps(params.json_("scope") or {"type": "default"}, sort_keys=True), params.str_("language_code", "") or "")
        with self._lock:
            self._commands.pop(key, None)
        return True

    async def _m_getChat(self, params: _Params) -> dict[str, Any]:
        chat = self._target_chat(params, sending=False)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    async def _m_sendMessage(self, params: _Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        text, entities = self._formatted(params, "text", MAX_TEXT, required=True)
        markup = validate_reply_markup(params.raw("reply_markup"))
        return self._new_bot_message("sendMessage", chat, params, markup, text=text, entities=entities).payload

    async def _m_sendChatAction(self, params: _Params) -> bool:
        self._target_chat(params)
        if params.str_("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _m_sendDocument(self, params: _Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        caption, entities = self._formatted(params, "caption", MAX_CAPTION, required=False)
        markup = validate_reply_markup(params.raw("reply_markup"))
        stored, _fresh = self._resolve_upload(params, "document", "documents")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": len(stored.content),
        }
        document = {k: v for k, v in document.items() if v is not None}
        record = self._new_bot_message(
            "sendDocument", chat, params, markup, document=document, caption=caption, caption_entities=entities
        )
        with self._lock:
            record.document = document
            record.file_bytes = stored.content
            record.file_name = stored.file_name
            record.mime_type = stored.mime_type
        return record.payload

    async def _m_sendPhoto(self, params: _Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        caption, entities = self._formatted(params, "caption", MAX_CAPTION, required=False)
        markup = validate_reply_markup(params.raw("reply_markup"))
        stored, fresh = self._resolve_upload(params, "photo", "photos")
        size = _image_size(stored.content)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        photo = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": size[0],
                "height": size[1],
                "file_size": len(stored.content),
            }
        ]
        record = self._new_bot_message(
            "sendPhoto", chat, params, markup, photo=photo, caption=caption, caption_entities=entities
        )
        with self._lock:
            record.photo = photo
            record.file_bytes = stored.content
            record.mime_type = stored.mime_type if not fresh else (stored.mime_type or "image/jpeg")
        return record.payload

    async def _m_getFile(self, params: _Params) -> dict[str, Any]:
        file_id = params.str_("file_id")
        if not file_id:
            raise bad_request("file_id is empty")
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return stored.file_object()

    def _editable(self, params: _Params) -> BotMessage:
        if params.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._target_chat(params, sending=False)
        message_id = params.int_("message_id", missing="message identifier is not specified")
        assert message_id is not None
        with self._lock:
            record = self._find_bot_message(chat["id"], message_id)
            if record is None or record.deleted:
                if (chat["id"], message_id) in self._messages and record is None:
                    raise bad_request("message can't be edited")
                raise bad_request("message to edit not found")
            return record

    @staticmethod
    def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        if markup is None:
            return None
        if "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        return markup

    def _apply_edit(self, record: BotMessage, changes: dict[str, Any], markup: dict[str, Any] | None) -> dict[str, Any]:
        with self._lock:
            before = {k: record.payload.get(k) for k in changes} | {"reply_markup": record.payload.get("reply_markup")}
            after = dict(changes) | {"reply_markup": {"inline_keyboard": markup["inline_keyboard"]} if markup else None}
            normalized_before = {k: v or None for k, v in before.items()}
            normalized_after = {k: v or None for k, v in after.items()}
            if normalized_before == normalized_after:
                raise bad_request(
                    "message is not modified: specified new message content and reply markup are exactly "
                    "the same as a current content and reply markup of the message"
                )
            record.history.append(copy.deepcopy(record.payload))
            for key, value in after.items():
                if value in (None, [], ""):
                    record.payload.pop(key, None)
                else:
                    record.payload[key] = value
            record.payload["edit_date"] = int(time.time())
            record.reply_markup = markup
            if "text" in changes:
                record.text = changes["text"]
                record.entities = list(changes.get("entities") or [])
            if "caption" in changes:
                record.caption = changes["caption"]
                record.entities = list(changes.get("caption_entities") or [])
            self._messages[(record.chat_id, record.message_id)] = record.payload
            self._notify()
            return copy.deepcopy(record.payload)

    async def _m_editMessageText(self, params: _Params) -> dict[str, Any]:
        record = self._editable(params)
        if record.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", MAX_TEXT, required=True)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        with self._lock:
            record.raw_text = params.str_("text")
            record.parse_mode = params.str_("parse_mode")
        return self._apply_edit(record, {"text": text, "entities": entities}, markup)

    async def _m_editMessageCaption(self, params: _Params) -> dict[str, Any]:
        record = self._editable(params)
        if record.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._formatted(params, "caption", MAX_CAPTION, required=False)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        return self._apply_edit(record, {"caption": caption, "caption_entities": entities}, markup)

    async def _m_editMessageReplyMarkup(self, params: _Params) -> dict[str, Any]:
        record = self._editable(params)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        return self._apply_edit(record, {}, markup)

    async def _m_deleteMessage(self, params: _Params) -> bool:
        chat = self._target_chat(params, sending=False)
        message_id = params.int_("message_id", missing="message identifier is not specified")
        with self._lock:
            key = (chat["id"], int(message_id or 0))
            if key not in self._messages:
                raise bad_request("message to delete not found")
            del self._messages[key]
            record = self._find_bot_message(chat["id"], key[1])
            if record is not None:
                record.deleted = True
            self._notify()
        return True

    async def _m_answerCallbackQuery(self, params: _Params) -> bool:
        query_id = params.str_("callback_query_id")
        text = params.str_("text") or ""
        if len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        with self._lock:
            state = self._callbacks.get(query_id or "")
            if state is None or state["answered"]:
                raise bad_request("query is too old and response timeout expired or query ID is invalid")
            state["answered"] = True
            state["answer"] = {
                "text": text or None,
                "show_alert": params.bool_("show_alert"),
                "url": params.str_("url"),
                "cache_time": params.int_("cache_time", 0),
            }
            self._notify()
        return True
