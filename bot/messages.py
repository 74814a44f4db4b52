"""Channel-neutral chat messages: what a user sent, and what the bot answers.

Both backends (Telegram, console) translate their own events into :class:`Incoming` and render
:class:`Outcome` back, so the conversation logic exists once. Nothing here knows PTB.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from storage.models import Channel

Button = tuple[str, str]  # (label, callback_data)
Keyboard = list[list[Button]]

MAX_INPUT_CHARS = 1000
"""Longest text handled; anything longer is refused politely (a flood, a pasted file...)."""

MAX_REPLY_CHARS = 4000
"""Telegram refuses messages over 4096 characters; long answers are split below this."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CALLBACK_OK = re.compile(r"^[a-z]{1,8}(?::[A-Za-z0-9_\-]{1,40}){0,3}$")


@dataclass(frozen=True)
class IncomingFile:
    """A file the user sent. Every field but `data` comes from the sender and is not trusted.

    `data` is filled by the backend only when the conversation expects a file and the declared
    size is within the limit, so an unsolicited upload is never downloaded.
    """

    size: int | None
    display_name: str | None = None
    declared_mime: str | None = None
    is_photo: bool = False
    data: bytes | None = None


@dataclass(frozen=True)
class Incoming:
    """One user event: a text, a file or a button press.

    `user_id` is the platform's user id (Telegram's, or the console's negative id); `update_id`
    is Telegram's update id, or None for backends without replays (the console).
    """

    channel: Channel
    chat_id: int
    user_id: int
    update_id: int | None = None
    text: str | None = None
    callback_data: str | None = None
    file: IncomingFile | None = None
    private: bool = True


@dataclass
class Reply:
    """A message to show. `replace_source` edits the message whose button was pressed."""

    text: str
    buttons: Keyboard = field(default_factory=list)
    replace_source: bool = False


@dataclass
class Outcome:
    """What the backend must do after a handled event."""

    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None
    """Short notice shown on a button press (Telegram's answerCallbackQuery text)."""
    clear_source_keyboard: bool = False
    """Remove the buttons of the pressed message (so it cannot be pressed twice)."""
    duplicate: bool = False
    """The update was already handled (a replay): nothing was done, nothing is shown."""
    journaled: bool = False
    """Its replies were written to the chat journal in the update's own transaction: from the
    commit on, a crash before they are sent loses nothing (the adapter may confirm the update
    to Telegram at once, while the replies are still on their way)."""

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies]


def clean_text(raw: str) -> str:
    """Normalise user text: NFC, no control or bidi-override characters, trimmed.

    Bidi overrides are dropped because they can make a name or a figure display differently
    from what is stored.
    """
    text = unicodedata.normalize("NFC", raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("", text)
    return text.strip()


def valid_callback(data: str | None) -> bool:
    """Callback data of our own shape ("d:ct:12"); anything else is refused unread."""
    return bool(data) and len((data or "").encode()) <= 64 and bool(_CALLBACK_OK.match(data or ""))


def split_long(text: str, limit: int = MAX_REPLY_CHARS) -> list[str]:
    """Cut a long answer on line boundaries into chunks Telegram accepts."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
