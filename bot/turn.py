"""One handled event: the session, who is acting, their conversation and the answers so far.

Handlers receive a :class:`Turn`, read and write through `turn.session` (the one transaction
of this event), and answer with `turn.say(...)`. They never talk to a backend directly, which
is what lets Telegram and the console share them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from bot.messages import Incoming, IncomingFile, Keyboard, Outcome, Reply
from bot.state import Conversation
from clauses.actors import Actor
from clauses.context import Context
from storage.models import Role, User


class Turn:
    def __init__(
        self, ctx: Context, session: Session, incoming: Incoming, user: User | None,
        conv: Conversation,
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.incoming = incoming
        self.user = user
        self.actor: Actor | None = Actor.from_user(user, incoming.channel) if user else None
        self.conv = conv
        self.replies: list[Reply] = []
        self.toast: str | None = None
        self.clear_source_keyboard = False

    # -- answering --------------------------------------------------------------------------
    def say(self, text: str, buttons: Keyboard | None = None, *, replace: bool = False) -> None:
        self.replies.append(Reply(text=text, buttons=list(buttons or []), replace_source=replace))

    def notify(self, toast: str) -> None:
        """A short notice on a button press (also said as text on backends without toasts)."""
        self.toast = toast[:190]

    def outcome(self) -> Outcome:
        return Outcome(replies=self.replies, toast=self.toast,
                       clear_source_keyboard=self.clear_source_keyboard)

    # -- facts ------------------------------------------------------------------------------
    @property
    def role(self) -> Role | None:
        return self.user.role if self.user else None

    @property
    def today(self) -> dt.date:
        return self.ctx.clock.today()

    @property
    def now(self) -> dt.datetime:
        return self.ctx.clock.now()

    @property
    def is_callback(self) -> bool:
        return self.incoming.callback_data is not None

    def need_actor(self) -> Actor:
        assert self.actor is not None, "handler reached without a linked user"
        return self.actor

    def idempotency_key(self, token: str) -> str:
        """A key naming one confirmed action of this chat user, stable across double taps."""
        return f"chat:{self.incoming.user_id}:{token}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(4)


TextHandler = Callable[[Turn, str], None]
FileHandler = Callable[[Turn, IncomingFile], None]
CallbackHandler = Callable[[Turn, list[str]], None]

H = TypeVar("H", bound=Callable[..., None])

_NO_SAVEPOINT = "_refuses_before_writing"


def refuses_before_writing(handler: H) -> H:
    """Mark a handler whose refusals (DomainError) all come before its first write.

    Why: the core runs every handler in a savepoint so that a refusal undoes what the handler
    wrote; that is two statements (SAVEPOINT, RELEASE) on every update. A handler that checks
    first and writes last (or wraps its own writes in their own savepoints, like a declaration)
    has nothing to undo, so the core skips the savepoint for it. Only mark handlers for which
    this is true of every path.
    """
    setattr(handler, _NO_SAVEPOINT, True)
    return handler


def needs_savepoint(handler: Callable[..., object]) -> bool:
    """False for handlers marked :func:`refuses_before_writing`."""
    return not getattr(handler, _NO_SAVEPOINT, False)


@dataclass(frozen=True)
class Command:
    """A slash command: who may use it, and the description shown in Telegram's menu."""

    name: str
    handler: TextHandler
    roles: frozenset[Role]
    description: str


@dataclass(frozen=True)
class Flow:
    """A guided conversation: what to do with typed text and with a file at each step."""

    name: str
    on_text: TextHandler
    on_file: FileHandler | None = None
    file_steps: frozenset[str] = field(default_factory=frozenset)
    """Steps at which a file is expected (the backend downloads only then)."""


STAFF = frozenset({Role.ADMIN, Role.FACILITATEUR})
COMPANY = frozenset({Role.ENTREPRISE})
ALL_ROLES = frozenset(Role)
