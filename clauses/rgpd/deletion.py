"""Deleting persons outright, when nothing about them must survive (they have no contract).

Used by the erasure (:mod:`clauses.rgpd.erasure`) and by the retention of rejected candidates
(:mod:`clauses.retention`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.rgpd.document_removal import delete_documents, participant_document_ids
from clauses.rgpd.mail_scrub import scrub_mentions
from clauses.rgpd.message_scrub import scrub_messages
from storage.models import Candidature, Contract, Eligibility, Participant


def delete_participants(ctx: Context, session: Session, participant_ids: Sequence[int]) -> list[str]:
    """Delete persons who have no contract, with everything that hangs off them.

    Used for an erasure when nothing must survive and for rejected candidates at the end of
    their retention. Returns the SHA-256 of the deleted documents.
    """
    ids = sorted(set(participant_ids))
    if not ids:
        return []
    if session.scalar(select(Contract.id).where(Contract.participant_id.in_(ids)).limit(1)):
        raise ValueError("persons with contracts are anonymised, never deleted")
    scrub_messages(session, ids)
    shas = scrub_mentions(ctx, session, ids).files
    shas += delete_documents(ctx, session, participant_document_ids(session, ids))
    for model, column in ((Eligibility, Eligibility.participant_id),
                          (Candidature, Candidature.participant_id),
                          (Participant, Participant.id)):
        session.execute(delete(model).where(column.in_(ids)),
                        execution_options={"synchronize_session": "fetch"})
    session.flush()
    return shas
