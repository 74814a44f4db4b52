"""Who hears the feedback on a person a prescriber referred (annex D: feedback to the référent
de parcours), and how it is sent — one lookup for the hire notice (:mod:`clauses.hiring`) and
the post-mission notice (:mod:`clauses.exits`), so both reach the same adviser.

The recipient is the adviser who sent the candidature: their chat when they have a linked
prescriber account, else the address they wrote from (an adviser of an organisation recognised
by its e-mail domain has no account of their own). When the candidature came from a company or
the facilitator on the prescriber's behalf, the organisation's registered advisers' addresses.
A person with no prescriber candidature but a referring prescriber on file (history import) is
reached the same way, through the organisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses.outbox import enqueue_chat, enqueue_email
from storage.models import Candidature, Contact, ContactKind, Participant, Role, User


@dataclass(frozen=True)
class PrescriberRecipients:
    """The adviser's prescriber account (chat first), and the addresses to e-mail otherwise."""

    chat_user_id: int | None
    emails: tuple[str, ...]


NOBODY = PrescriberRecipients(None, ())


def _organisation_addresses(session: Session, prescriber_id: int) -> tuple[str, ...]:
    rows = session.scalars(
        select(func.lower(Contact.email))
        .where(Contact.prescriber_id == prescriber_id, Contact.kind == ContactKind.PRESCRIPTEUR,
               Contact.email.is_not(None))
        .order_by(Contact.id))
    return tuple(dict.fromkeys(e.strip() for e in rows if e and e.strip()))


def prescriber_recipients(session: Session, participant_id: int,
                          candidature: Candidature | None = None) -> PrescriberRecipients:
    """The recipients of feedback about ``participant_id``: for ``candidature`` when given (the
    one hired), else for the person's latest prescriber candidature, else for the prescriber on
    the person's record. NOBODY when no prescriber referred the person."""
    cand = candidature
    if cand is None:
        cand = session.scalar(
            select(Candidature)
            .where(Candidature.participant_id == participant_id,
                   Candidature.prescriber_id.is_not(None))
            .order_by(Candidature.created_at.desc(), Candidature.id.desc()).limit(1))
    if cand is not None and cand.prescriber_id is not None:
        submitter = session.get(User, cand.submitted_by_user_id) if cand.submitted_by_user_id else None
        if submitter is not None and submitter.role == Role.PRESCRIPTEUR:
            email = (submitter.email or "").strip().lower()
            return PrescriberRecipients(submitter.id, (email,) if email else ())
        if submitter is None and cand.submitted_by_email:
            return PrescriberRecipients(None, (cand.submitted_by_email.strip().lower(),))
        return PrescriberRecipients(None, _organisation_addresses(session, cand.prescriber_id))
    if cand is not None:
        return NOBODY
    participant = session.get(Participant, participant_id)
    if participant is None or participant.prescriber_id is None:
        return NOBODY
    return PrescriberRecipients(None, _organisation_addresses(session, participant.prescriber_id))


def send_feedback(session: Session, recipients: PrescriberRecipients, *, dedup_key: str,
                  subject: str, text: str) -> int:
    """Queue the feedback in the caller's transaction: to the adviser's chat when linked, else by
    e-mail to each address. Returns the number of messages queued (0: nobody to tell)."""
    if recipients.chat_user_id is not None and enqueue_chat(
            session, dedup_key=dedup_key, user_id=recipients.chat_user_id, text=text) is not None:
        return 1
    for n, address in enumerate(recipients.emails):
        enqueue_email(session, dedup_key=f"{dedup_key}:{n}", to=address, subject=subject, text=text)
    return len(recipients.emails)
