"""Conversation state in the database (table `conversation_states`).

Why not PTB's ConversationHandler with a persistence class: PTB flushes persistence on a timer,
apart from the handling, so a crash could keep a declaration but lose the step (or the other
way round). Here the state row is read and written in the same transaction as the update id
and the domain writes: a restart resumes exactly where the user was, and a replayed update
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ConversationState

CONVERSATION = "chat"
"""Value of `ConversationState.conversation`: one conversation at a time per user and chat."""

STALE_AFTER = dt.timedelta(days=7)
"""A conversation untouched for longer is forgotten (the user has moved on)."""


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
        self._row: ConversationState | None = None

    def load(self, now: dt.datetime, *, lock: bool = True) -> Conversation:
        """The conversation in progress; the row is locked so two updates of one user serialise."""
        q = select(ConversationState).where(
            ConversationState.conversation == CONVERSATION,
            ConversationState.chat_id == self.chat_id,
            ConversationState.user_id == self.user_id,
        )
        if lock:
            q = q.with_for_update()
        self._row = self.session.scalar(q)
        row = self._row
        if row is None or not row.state:
            return Conversation()
        if now - row.updated_at > STALE_AFTER:
            return Conversation(expired=True)
        flow, _, step = row.state.partition(":")
        return Conversation(flow=flow, step=step or None, data=dict(row.data or {}))

    def save(self, conv: Conversation, now: dt.datetime) -> None:
        if not conv.active:
            if self._row is not None:
                self.session.delete(self._row)
                self._row = None
            return
        state = conv.where or ""
        if self._row is None:
            self._row = ConversationState(
                conversation=CONVERSATION, chat_id=self.chat_id, user_id=self.user_id,
                state=state[:60], data=dict(conv.data), updated_at=now,
            )
            self.session.add(self._row)
        else:
            self._row.state = state[:60]
            self._row.data = dict(conv.data)  # a new dict, so SQLAlchemy sees the change
            self._row.updated_at = now
        self.session.flush()


def peek(session: Session, chat_id: int, user_id: int, now: dt.datetime) -> Conversation:
    """The conversation without locking (for the backend's "does it expect a file?" check)."""
    return ConversationStore(session, chat_id, user_id).load(now, lock=False)
