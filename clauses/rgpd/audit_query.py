"""Reading the audit log: who saw or changed what, about whom. Reading it is itself logged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.rgpd.subjects import audit_about, participant_subjects
from storage.models import AuditEntry


def query_audit(
    session: Session,
    actor: Actor,
    *,
    participant_id: int | None = None,
    actor_filter: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Audit entries, newest first; about one person (and their candidatures, contracts,
    declarations), by one actor (user id or part of the label), since a moment."""
    authorize(session, actor, Action.AUDIT_READ)
    q = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if participant_id is not None:
        q = q.where(audit_about(participant_subjects(session, participant_id)))
    if actor_filter:
        text = actor_filter.strip()
        cond = func.lower(AuditEntry.actor_label).contains(text.lower(), autoescape=True)
        if text.isdigit():
            cond = cond | (AuditEntry.actor_user_id == int(text))
        q = q.where(cond)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    rows = list(session.scalars(q))
    audit.record(session, actor, "audit.read", "participant" if participant_id else "audit_log",
                 participant_id, actor_filter=actor_filter,
                 since=since.isoformat() if since else None, count=len(rows))
    return rows
