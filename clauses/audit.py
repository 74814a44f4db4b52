"""Access log for personal data (RGPD art. 30/32): who read or changed what, when, how.

Written in the same transaction as the read or the change it records, so the log and the data
never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from clauses.actors import Actor
from storage.models import AuditEntry


def record(
    session: Session,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            actor_user_id=actor.user_id,
            actor_label=(actor.label or "?")[:254],
            channel=actor.channel,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )
