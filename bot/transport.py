"""How the outbox sender reaches a chat, whatever the backend.

A transport sends one text (with optional inline buttons, as Bot API JSON) to one chat id and
returns the platform's message id. It reports failures with two exceptions only, so the
sender's bookkeeping does not depend on PTB: :class:`SendDeferred` (try again later, maybe at a
given time) and :class:`SendRefused` (it will never work: blocked bot, unknown chat).
"""

from __future__ import annotations

from typing import Any, Protocol


class ChatTransport(Protocol):
    async def send(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None) -> str:
        ...


class SendDeferred(Exception):
    """A temporary failure (flood limit, network): retry, after `retry_after` seconds if given."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SendRefused(Exception):
    """A permanent failure: retrying would fail the same way."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
