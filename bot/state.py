"""Conversation state in the database (table `conversation_states`).

Why not PTB's ConversationHandler with a persistence class: PTB flushes persistence on a timer,
apart from the handling, so a crash could keep a declaration but lose the step (or the other
way round). Here the state row is read and written in the same transaction as the update id
and the domain writes: a restart resumes exactly where the user was, and a replayed update
changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.orm import Session

from storage.models import ConversationState, User
from storage.models.base import table_of

CONVERSATION = "chat"
"""Value of `ConversationState.conversation`: one conversation at a time per user and chat."""

STALE_AFTER = dt.timedelta(days=7)
"""A conversation untouched for longer is forgotten (the user has moved on)."""

REFRESH_AFTER = dt.timedelta(hours=1)
"""An unchanged state is not written back (one statement saved on /aide, a typo...) unless its
`updated_at` is older than this, so "untouched" above still means untouched by the user."""

_STATES = table_of(ConversationState)
_USER_AND_STATE = (
    select(User, _STATES.c.id, _STATES.c.state, _STATES.c.data, _STATES.c.updated_at)
    .outerjoin(_STATES, and_(
        _STATES.c.conversation == CONVERSATION,
        _STATES.c.chat_id == bindparam("chat_id"),
        _STATES.c.user_id == bindparam("user_id"),
    ))
    .where(User.telegram_user_id == bindparam("user_id"), User.active.is_(True))
)
"""Built once (bound parameters): building a statement costs more than running this one.
The state row is read as plain columns and written with the statements below rather than as
an ORM object: the unit of work's bookkeeping cost more than the UPDATE itself."""
_USER_AND_STATE_LOCKED = _USER_AND_STATE.with_for_update(of=User, key_share=True)
_INSERT_STATE = insert(ConversationState).values(
    conversation=CONVERSATION, chat_id=bindparam("chat_id"), user_id=bindparam("user_id"),
    state=bindparam("state"), data=bindparam("data"), updated_at=bindparam("updated_at"),
)
_UPDATE_STATE = _STATES.update().where(_STATES.c.id == bindparam("row_id")).values(
    state=bindparam("state"), data=bindparam("data"), updated_at=bindparam("updated_at"),
)
_DELETE_STATE = _STATES.delete().where(_STATES.c.id == bindparam("row_id"))


@dataclass(frozen=True)
class _Saved:
    """The state row as read: what `save` compares with to skip an unchanged write."""

    id: int
    state: str | None
    data: dict[str, Any] | None
    updated_at: dt.datetime


@dataclass
class Conversation:
    """The current flow ("declarer"), its step ("month") and the values gathered so far."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expired: bool = False

    def start(self, flow: str, step: str, **data: Any) -> None:
        self.flow, self.step, self.data = flow, step, dict(data)

    def goto(self, step: str) -> None:
        self.step = step

    def end(self) -> None:
        self.flow, self.step, self.data = None, None, {}

    @property
    def active(self) -> bool:
        return self.flow is not None

    @property
    def where(self) -> str | None:
        return f"{self.flow}:{self.step}" if self.flow else None


class ConversationStore:
    """Load and save one user's conversation inside the caller's session."""

    def __init__(self, session: Session, chat_id: int, user_id: int) -> None:
        self.session = session
        self.chat_id = chat_id
        self.user_id = user_id
        self._row: _Saved | None = None

    def load_user(self, now: dt.datetime, *, lock: bool = True) -> tuple[User | None, Conversation]:
        """The active linked user and their conversation, in one statement.

        Why one statement: this runs for every update, before anything else. Two updates of
        one user are serialised before this read (the core's claim takes the user's lock on
        PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), so the state read here is the
        one the previous update committed. `lock` also locks the user's row (FOR NO KEY UPDATE:
        rows that merely reference the user are not blocked), so the account cannot be unlinked
        or deactivated under a running update.
        """
        q = _USER_AND_STATE_LOCKED if lock else _USER_AND_STATE
        found = self.session.execute(q, {"chat_id": self.chat_id, "user_id": self.user_id}).first()
        if found is None:
            return None, Conversation()
        user, row_id, state, data, updated_at = found
        self._row = _Saved(row_id, state, data, updated_at) if row_id is not None else None
        return user, self._conversation(now)

    def _conversation(self, now: dt.datetime) -> Conversation:
        row = self._row
        if row is None or not row.state:
            return Conversation()
        if now - row.updated_at > STALE_AFTER:
            return Conversation(expired=True)
        flow, _, step = row.state.partition(":")
        # A deep copy: handlers may change nested lists in place, and `save` compares with
        # the row's value to skip writing an unchanged state.
        return Conversation(flow=flow, step=step or None, data=copy.deepcopy(dict(row.data or {})))

    def save(self, conv: Conversation, now: dt.datetime) -> None:
        """Write the conversation back: insert, update, delete (ended), or nothing (unchanged)."""
        row = self._row
        if not conv.active:
            if row is not None:
                self.session.execute(_DELETE_STATE, {"row_id": row.id})
                self._row = None
            return
        state = (conv.where or "")[:60]
        if row is not None and row.state == state and row.data == conv.data \
                and now - row.updated_at < REFRESH_AFTER:
            return  # nothing changed: no UPDATE
        data = copy.deepcopy(conv.data)
        values = {"state": state, "data": data, "updated_at": now}
        if row is None:
            self.session.execute(_INSERT_STATE,
                                 {"chat_id": self.chat_id, "user_id": self.user_id, **values})
            # Not read back: a second save in one event is not a thing the core does.
            return
        self.session.execute(_UPDATE_STATE, {"row_id": row.id, **values})
        self._row = _Saved(row.id, state, data, now)


def peek(
    session: Session, chat_id: int, user_id: int, now: dt.datetime
) -> tuple[User | None, Conversation]:
    """The linked user and conversation without locking (for "does it expect a file?")."""
    return ConversationStore(session, chat_id, user_id).load_user(now, lock=False)
