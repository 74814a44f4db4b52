"""Anonymisation (retention, :mod:`clauses.retention`): the person is no longer identifiable.

After a period of inactivity the statistical attributes the bilans count are kept (gender, birth
year generalised so every age computed at a contract date stays exact, commune and QPV flag,
status at entry, exit situation). Hours, contracts and past bilans do not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.rgpd.document_removal import delete_documents, participant_document_ids
from clauses.rgpd.mail_scrub import scrub_mentions
from clauses.rgpd.message_scrub import scrub_messages
from clauses.rgpd.subjects import participant_audit_row
from storage.db import rowcount
from storage.models import Candidature, Contract, Participant

ANONYMOUS_LAST_NAME = "ANONYME"


def generalised_birth_date(birth: dt.date | None, reference_dates: Iterable[dt.date | None]
                           ) -> dt.date | None:
    """The birth year, with day and month replaced by the coarsest value that changes no age.

    Ages are computed as `year difference - 1 if the birthday is not reached yet`. Keeping only
    the year would move a person between age bands (25 at a contract start becomes 26). Here the
    day and month become the day after the latest reference anniversary strictly before the real
    birthday (1 January when there is none): every age at a reference date (contract starts,
    entry, exit) stays exact, and the real birthday is no longer stored.
    """
    if birth is None:
        return None
    real = (birth.month, birth.day)
    before = [(d.month, d.day) for d in reference_dates if d is not None and (d.month, d.day) < real]
    if not before:
        return dt.date(birth.year, 1, 1)
    month, day = max(before)
    if (month, day) == (2, 29):  # the birth year is not a leap year: 29/02 cannot exist in it
        return dt.date(birth.year, 3, 1)
    return dt.date(birth.year, month, day) + dt.timedelta(days=1)


def _reference_dates(session: Session, ids: Sequence[int]) -> dict[int, list[dt.date]]:
    refs: dict[int, list[dt.date]] = {i: [] for i in ids}
    rows = session.execute(
        select(Contract.participant_id, Contract.start_date, Contract.end_date)
        .where(Contract.participant_id.in_(ids))
    )
    for pid, start, end in rows:
        refs[pid] += [start] + ([end] if end else [])
    return refs


@dataclass
class AnonymisationResult:
    participant_ids: list[int] = field(default_factory=list)
    documents_deleted: int = 0
    candidatures_scrubbed: int = 0
    alerts_scrubbed: int = 0
    messages_scrubbed: int = 0
    files: list[str] = field(default_factory=list)


def anonymise_participants(ctx: Context, session: Session, actor: Actor,
                           participant_ids: Iterable[int], *, reason: str) -> AnonymisationResult:
    """Make these persons unidentifiable while every figure of every bilan stays the same.

    Kept: gender, generalised birth date (year + age-preserving day, see
    :func:`generalised_birth_date`), commune and QPV flag (bilans report the place of residence),
    status at entry, entry/exit dates and exit situation, prescriber, contracts, hours, criteria.
    Removed: names (replaced by "ANONYME n° <id>"), real birthday, e-mail, phone, pool consent,
    free texts of candidatures, every document (CV, proofs, payslips), names quoted in alerts
    and messages.
    """
    authorize(session, actor, Action.RGPD)
    ids = sorted(set(participant_ids))
    people = list(session.scalars(
        select(Participant).where(Participant.id.in_(ids or [-1]), Participant.anonymised_at.is_(None))
    ))
    ids = [p.id for p in people]
    result = AnonymisationResult(participant_ids=ids)
    if not ids:
        return result
    now = ctx.clock.now()
    # first, while the names are still there to be recognised in what quotes them
    result.alerts_scrubbed, result.messages_scrubbed = scrub_messages(session, ids)
    mail = scrub_mentions(ctx, session, ids)
    result.alerts_scrubbed += mail.alerts
    result.messages_scrubbed += mail.messages
    result.files += mail.files
    refs = _reference_dates(session, ids)
    for p in people:
        p.birth_date = generalised_birth_date(
            p.birth_date, [*refs[p.id], p.first_entry_date, p.exit_date]
        )
        p.last_name = ANONYMOUS_LAST_NAME
        p.first_name = f"n° {p.id}"
        p.email = None
        p.phone = None
        p.pool_consent_at = None
        p.anonymised_at = now
    doc_ids = participant_document_ids(session, ids)
    result.documents_deleted = len(doc_ids)
    result.files += delete_documents(ctx, session, doc_ids)
    result.candidatures_scrubbed = rowcount(session.execute(
        update(Candidature).where(Candidature.participant_id.in_(ids))
        .values(message=None, refusal_reason=None),
        execution_options={"synchronize_session": "fetch"},
    ))
    session.add_all(
        participant_audit_row(actor, "participant.anonymise", pid, reason=reason) for pid in ids
    )
    session.flush()
    return result
