"""Small reads the chat's declaration and correction flows need, kept out of the adapter.

A stale « Confirmer » button must say "already recorded" rather than "no longer active" when
its revision exists; a refused duplicate month offers to correct the existing declaration.
The flows used to query these themselves; permission checks stay with :mod:`clauses.authz`
in the callers' use cases.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Contract, DeclarationRevision, HourDeclaration, Participant


def revision_recorded(session: Session, idempotency_key: str) -> bool:
    """Whether a declaration revision was already recorded under this idempotency key."""
    return session.scalar(
        select(DeclarationRevision.id).where(DeclarationRevision.idempotency_key == idempotency_key)
    ) is not None


def declaration_id_for_month(session: Session, contract_id: int, month: dt.date) -> int | None:
    """The id of the contract's declaration for ``month`` (first day of the month), if any."""
    return session.scalar(
        select(HourDeclaration.id).where(HourDeclaration.contract_id == contract_id,
                                         HourDeclaration.month == month)
    )


def declaration_with_participant(session: Session, declaration_id: int
                                 ) -> tuple[HourDeclaration, Participant] | None:
    """A declaration and the participant of its contract; None when the id is unknown.

    Unscoped: the caller authorizes on the declaration's contract before showing anything.
    """
    row = session.execute(
        select(HourDeclaration, Participant)
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(Participant, Participant.id == Contract.participant_id)
        .where(HourDeclaration.id == declaration_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])
