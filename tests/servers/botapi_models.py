"""Value objects of the local Bot API test server: users, chats, files, bot messages, calls.

Why a module of its own: tests import these to describe who talks to the bot and to inspect
what the bot sent, without pulling in the HTTP server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return [
            str(button["callback_data"]) for button in self.buttons if "callback_data" in button
        ]

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
