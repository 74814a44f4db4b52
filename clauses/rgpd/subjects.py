"""Where a person appears: their row, and the subjects the audit log records about them.

Shared by the export, the erasure and the audit queries, so all three agree on what "about
this person" means.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.authz import NotAllowed
from storage.models import AuditEntry, Candidature, Contract, HourDeclaration, Participant


def existing_participant(session: Session, participant_id: int) -> Participant:
    """The person's row; an unknown id answers like a refusal, so ids cannot be probed."""
    person = session.get(Participant, participant_id)
    if person is None:
        raise NotAllowed()
    return person


def participant_subjects(session: Session, participant_id: int) -> list[tuple[str, list[int]]]:
    """(subject_type, ids) pairs under which the audit log records things about a person."""
    pid = participant_id
    contracts = list(session.scalars(select(Contract.id).where(Contract.participant_id == pid)))
    return [
        ("participant", [pid]),
        ("candidature", list(session.scalars(select(Candidature.id).where(Candidature.participant_id == pid)))),
        ("contract", contracts),
        ("declaration", list(session.scalars(
            select(HourDeclaration.id).where(HourDeclaration.contract_id.in_(contracts or [-1]))))),
    ]


def audit_about(subjects: list[tuple[str, list[int]]]) -> ColumnElement[bool]:
    """The audit-log filter matching any of these subjects (see :func:`participant_subjects`)."""
    return or_(*(
        (AuditEntry.subject_type == kind) & AuditEntry.subject_id.in_(ids)
        for kind, ids in subjects if ids
    ))


def participant_audit_row(actor: Actor, action: str, participant_id: int, **detail: Any
                          ) -> AuditEntry:
    """One audit row per person, so `clausebot audit --participant N` finds bulk operations."""
    return AuditEntry(
        actor_user_id=actor.user_id, actor_label=(actor.label or "?")[:254], channel=actor.channel,
        action=action, subject_type="participant", subject_id=participant_id,
        detail={k: v for k, v in detail.items() if v is not None},
    )
