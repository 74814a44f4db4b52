"""Access log for personal data (RGPD art. 30/32): who read or changed what, when, how.

Written in the same transaction as the read or the change it records, so the log and the data
never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from clauses.actors import Actor
from storage.models import AuditEntry
from storage.models.base import table_of


def _row(actor: Actor, action: str, subject_type: str, subject_id: int | None,
         detail: dict[str, Any]) -> dict[str, Any]:
    return {"actor_user_id": actor.user_id, "actor_label": (actor.label or "?")[:254],
            "channel": actor.channel, "action": action, "subject_type": subject_type,
            "subject_id": subject_id, "detail": {k: v for k, v in detail.items() if v is not None}}


def record(
    session: Session,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(AuditEntry(**_row(actor, action, subject_type, subject_id, detail)))


def record_many(session: Session, actor: Actor,
                entries: Iterable[tuple[str, str, int | None, dict[str, Any]]]) -> None:
    """(action, subject type, subject id, detail) entries, as :func:`record` writes them, in
    one executemany: for set-based writers (a history import, a first run's old milestones),
    where one ORM object per entry would be most of the cost."""
    rows = [_row(actor, *entry) for entry in entries]
    if rows:
        session.execute(insert(table_of(AuditEntry)), rows)
