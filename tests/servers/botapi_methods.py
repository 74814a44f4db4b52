"""Bot API behaviour of the local test server: state, Telegram's rules and the API methods.

Why a module of its own: ``botapi.py`` keeps the process side (thread, aiohttp routing) and the
test-side API; this module holds what the Bot API *does* (``getUpdates`` offsets and long poll,
``sendMessage`` validation, edits, callback answers, files), each method as ``_m_<name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import mimetypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.servers.botapi_markup import ApiError, bad_request, parse_text, validate_reply_markup
from tests.servers.botapi_models import ApiCall, BotMessage, StoredFile, TgUser
from tests.servers.botapi_request import Params, image_size

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


@dataclass
class Pending:
    update_id: int
    payload: dict[str, Any]
    replay: bool = False
    delivered: bool = False


@dataclass
class Injected:
    remaining: int
    methods: frozenset[str] | None
    error: ApiError


class BotApiState:
    """Everything the server knows, guarded by one re-entrant lock.

    ``_changed`` (a condition on that lock) wakes blocking test-side waiters; ``_wakeup`` (an
    asyncio event of the server loop) wakes long-polling ``getUpdates`` calls.
    """

    def _init_state(self, token: str) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing = False
        self.reset()

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }

    def reset(self) -> None:
        """Forget every user, chat, message, update, file and injected failure."""
        with self._lock:
            self._users: dict[int, TgUser] = {}
            self._chats: dict[int, dict[str, Any]] = {}
            self._update_ids = itertools.count(700_000_001)
            self._user_ids = itertools.count(10_000_001)
            self._group_ids = itertools.count(1)
            self._message_ids: dict[int, itertools.count[int]] = {}
            self._pending: list[Pending] = []
            self._updates: dict[int, dict[str, Any]] = {}
            self._messages: dict[tuple[int, int], dict[str, Any]] = {}
            self._bot_messages: dict[int, list[BotMessage]] = {}
            self._calls: list[ApiCall] = []
            self._files: dict[str, StoredFile] = {}
            self._file_paths: dict[str, StoredFile] = {}
            self._file_seq = itertools.count(1)
            self._callbacks: dict[str, dict[str, Any]] = {}
            self._query_ids = itertools.count(5_000_000_000_000_001, 7919)
            self._callback_by_update: dict[int, str] = {}
            self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
            self._injected: list[Injected] = []
            self._blocked: set[int] = set()
            self._poll_generation = 0
            self.active_polls = 0
            self._last_offset = 0

    def _wake_pollers(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _notify(self, pollers: bool = False) -> None:
        """Wake blocking waiters (test threads) and, if ``pollers``, long polls. Lock held."""
        self._changed.notify_all()
        loop = self._loop
        if not pollers:
            return
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing
                loop.call_soon_threadsafe(self._wake_pollers)

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _store_file(
        self, content: bytes, folder: str, file_name: str | None, mime: str | None
    ) -> StoredFile:
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
            stored = StoredFile(
                file_id, unique, content, f"{folder}/file_{seq}{suffix}", file_name, mime
            )
            self._files[file_id] = stored
            self._file_paths[stored.file_path] = stored
            return stored

    def _find_bot_message(self, chat_id: int, message_id: int) -> BotMessage | None:
        for message in self._bot_messages.get(chat_id, []):
            if message.message_id == message_id:
                return message
        return None

    def _target_chat(self, params: Params, sending: bool = True) -> dict[str, Any]:
        raw = params.raw("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        with self._lock:
            chat: dict[str, Any] | None = None
            if isinstance(raw, str) and raw.startswith("@"):
                chat = next(
                    (
                        c
                        for c in self._chats.values()
                        if c.get("username") == raw[1:] and c["type"] != "private"
                    ),
                    None,
                )
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

    def _reply_target(self, params: Params, chat_id: int) -> dict[str, Any] | None:
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

    def _formatted(
        self, params: Params, key: str, limit: int, required: bool
    ) -> tuple[str | None, list[dict[str, Any]]]:
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
            raise bad_request(
                "message is too long" if key == "text" else "message caption is too long"
            )
        return plain, entities

    def _new_bot_message(
        self,
        method: str,
        chat: dict[str, Any],
        params: Params,
        reply_markup: dict[str, Any] | None,
        **content: Any,
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

    def _resolve_upload(
        self, params: Params, field_name: str, folder: str
    ) -> tuple[StoredFile, bool]:
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


class BotApiMethods(BotApiState):
    """The Bot API methods (``_m_<name>``; names are case-insensitive like the real API)."""

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        with self._lock:
            key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
            return list(self._commands.get(key, []))

    async def _m_getMe(self, params: Params) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_logOut(self, params: Params) -> bool:
        return True

    async def _m_close(self, params: Params) -> bool:
        return True

    async def _m_getUpdates(self, params: Params) -> list[dict[str, Any]]:
        offset = params.int_("offset", 0) or 0
        limit = max(1, min(100, params.int_("limit", 100) or 100))
        timeout = max(0.0, params.float_("timeout", 0.0))
        allowed = params.json_("allowed_updates")
        with self._lock:
            self._poll_generation += 1
            generation = self._poll_generation
            self.active_polls += 1
            self._notify(pollers=True)
        try:
            return await self._long_poll(generation, offset, limit, timeout, allowed)
        finally:
            with self._lock:
                self.active_polls -= 1
                self._notify()

    async def _long_poll(
        self, generation: int, offset: int, limit: int, timeout: float, allowed: Any
    ) -> list[dict[str, Any]]:
        """Wait up to ``timeout`` for deliverable updates; a newer getUpdates ends this one (409)."""
        deadline = time.monotonic() + timeout
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            with self._lock:
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    )
                batch = self._take_updates(offset, limit, allowed)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=remaining)

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

    async def _m_deleteWebhook(self, params: Params) -> bool:
        if params.bool_("drop_pending_updates"):
            with self._lock:
                self._pending.clear()
                self._notify()
        return True

    async def _m_getWebhookInfo(self, params: Params) -> dict[str, Any]:
        with self._lock:
            return {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }

    async def _m_setMyCommands(self, params: Params) -> bool:
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
            if (
                not name
                or len(name) > 32
                or not all(c.islower() or c.isdigit() or c == "_" for c in name)
                or not name.isascii()
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (
            json.dumps(params.json_("scope") or {"type": "default"}, sort_keys=True),
            params.str_("language_code", "") or "",
        )
        with self._lock:
            self._commands[key] = cleaned
        return True

    async def _m_getMyCommands(self, params: Params) -> list[dict[str, str]]:
        return self.commands(params.json_("scope"), params.str_("language_code", "") or "")

    async def _m_deleteMyCommands(self, params: Params) -> bool:
        key = (
            json.dumps(params.json_("scope") or {"type": "default"}, sort_keys=True),
            params.str_("language_code", "") or "",
        )
        with self._lock:
            self._commands.pop(key, None)
        return True

    async def _m_getChat(self, params: Params) -> dict[str, Any]:
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
                "gifts_from_channels": False,
            },
        }

    async def _m_sendMessage(self, params: Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        text, entities = self._formatted(params, "text", MAX_TEXT, required=True)
        markup = validate_reply_markup(params.raw("reply_markup"))
        return self._new_bot_message(
            "sendMessage", chat, params, markup, text=text, entities=entities
        ).payload

    async def _m_sendChatAction(self, params: Params) -> bool:
        self._target_chat(params)
        if params.str_("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _send_upload(
        self,
        method: str,
        params: Params,
        field: str,
        folder: str,
        describe: Callable[[StoredFile], Any],
        **kept: Any,
    ) -> dict[str, Any]:
        """sendDocument and sendPhoto alike: the caption checked, the upload stored and described
        (``describe`` may refuse it), then a message carrying it; ``kept`` are the record's
        extra attributes (file name, MIME type)."""
        chat = self._target_chat(params)
        caption, entities = self._formatted(params, "caption", MAX_CAPTION, required=False)
        markup = validate_reply_markup(params.raw("reply_markup"))
        stored, _fresh = self._resolve_upload(params, field, folder)
        media = describe(stored)
        record = self._new_bot_message(
            method, chat, params, markup, **{field: media}, caption=caption, caption_entities=entities
        )
        with self._lock:
            setattr(record, field, media)
            record.file_bytes = stored.content
            for name, value in kept.items():
                setattr(record, name, value(stored))
        return record.payload

    async def _m_sendDocument(self, params: Params) -> dict[str, Any]:
        def describe(stored: StoredFile) -> dict[str, Any]:
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": stored.file_name,
                "mime_type": stored.mime_type,
                "file_size": len(stored.content),
            }
            return {k: v for k, v in document.items() if v is not None}

        return self._send_upload("sendDocument", params, "document", "documents", describe,
                                 file_name=lambda f: f.file_name, mime_type=lambda f: f.mime_type)

    async def _m_sendPhoto(self, params: Params) -> dict[str, Any]:
        def describe(stored: StoredFile) -> list[dict[str, Any]]:
            size = image_size(stored.content)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            return [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": size[0],
                    "height": size[1],
                    "file_size": len(stored.content),
                }
            ]

        return self._send_upload("sendPhoto", params, "photo", "photos", describe,
                                 mime_type=lambda f: f.mime_type or "image/jpeg")

    async def _m_getFile(self, params: Params) -> dict[str, Any]:
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

    def _editable(self, params: Params) -> BotMessage:
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

    def _apply_edit(
        self, record: BotMessage, changes: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        with self._lock:
            before = {k: record.payload.get(k) for k in changes} | {
                "reply_markup": record.payload.get("reply_markup")
            }
            after = dict(changes) | {
                "reply_markup": {"inline_keyboard": markup["inline_keyboard"]} if markup else None
            }
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

    async def _m_editMessageText(self, params: Params) -> dict[str, Any]:
        record = self._editable(params)
        if record.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", MAX_TEXT, required=True)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        with self._lock:
            record.raw_text = params.str_("text")
            record.parse_mode = params.str_("parse_mode")
        return self._apply_edit(record, {"text": text, "entities": entities}, markup)

    async def _m_editMessageCaption(self, params: Params) -> dict[str, Any]:
        record = self._editable(params)
        if record.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._formatted(params, "caption", MAX_CAPTION, required=False)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        return self._apply_edit(record, {"caption": caption, "caption_entities": entities}, markup)

    async def _m_editMessageReplyMarkup(self, params: Params) -> dict[str, Any]:
        record = self._editable(params)
        markup = self._inline_only(validate_reply_markup(params.raw("reply_markup")))
        return self._apply_edit(record, {}, markup)

    async def _m_deleteMessage(self, params: Params) -> bool:
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

    async def _m_answerCallbackQuery(self, params: Params) -> bool:
        query_id = params.str_("callback_query_id")
        text = params.str_("text") or ""
        if len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        with self._lock:
            state = self._callbacks.get(query_id or "")
            if state is None or state["answered"]:
                raise bad_request(
                    "query is too old and response timeout expired or query ID is invalid"
                )
            state["answered"] = True
            state["answer"] = {
                "text": text or None,
                "show_alert": params.bool_("show_alert"),
                "url": params.str_("url"),
                "cache_time": params.int_("cache_time", 0),
            }
            self._notify()
        return True
