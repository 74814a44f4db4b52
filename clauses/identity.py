"""One person, one record: is a new candidate somebody already known, and who decides.

Rules (issue 22):

* a candidate matches a known person on name + birth date, or on the e-mail address, or on
  the phone number (whatever its spacing);
* within the same scope (the proposing company's candidatures and contracts, or the
  prescriber's own candidates) the submitter is asked in the chat whether it is the same
  person (:class:`SamePersonQuestion`), and the answer links the candidature to her or creates
  a new record. Nothing is linked without that answer;
* any other match (another company's person, or a same-scope match from e-mail, where nobody
  can be asked) is never merged silently: a new record is created and the facilitator gets an
  alert showing both side by side, with « Fusionner » / « Personnes différentes » buttons (or
  `clausebot rgpd fusion`). :func:`merge_participants` moves everything of the duplicate onto
  the kept person and deletes the duplicate, so erasing the kept person covers both.

A person anonymised or erased is never matched (she is no longer identifiable).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import handle_alert, raise_alert
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from storage.models import (
    Alert,
    AlertKind,
    Candidature,
    Company,
    Contract,
    Document,
    Eligibility,
    Engagement,
    Participant,
)

_NON_DIGITS = re.compile(r"\D+")


def phone_digits(phone: str | None) -> str | None:
    """The digits of a phone number, "+33 6…" and "06…" alike, or None when too short."""
    digits = _NON_DIGITS.sub("", phone or "")
    if digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if len(digits) >= 8 else None


@dataclass(frozen=True)
class IdentityMatch:
    participant_id: int
    display_name: str
    how: str
    same_scope: bool


class SamePersonQuestion(DomainError):
    """A person of the submitter's own scope matches: ask before linking or creating."""

    code = "same_person_question"

    def __init__(self, match: IdentityMatch) -> None:
        super().__init__(
            f"Cette personne est peut-être déjà connue : {match.display_name} ({match.how}). "
            "Est-ce la même personne ?",
            f"Candidate matches participant {match.participant_id}.",
        )
        self.match = match


def _stored_digits(column):
    """The phone column without its usual separators, in SQL (SQLite and PostgreSQL)."""
    out = column
    for sep in (" ", ".", "-", "+"):
        out = func.replace(out, sep, "")
    return out


def _in_scope(company_id: int | None, prescriber_id: int | None):
    """Participants the proposing company or prescriber already has: candidatures, contracts."""
    conds: list[ColumnElement[bool]] = []
    if company_id is not None:
        conds.append(exists().where(Candidature.participant_id == Participant.id,
                                    Candidature.company_id == company_id))
        conds.append(exists().where(
            Contract.participant_id == Participant.id,
            or_(Contract.employer_id == company_id,
                Contract.engagement_id.in_(select(Engagement.id).where(Engagement.company_id == company_id)))))
    if prescriber_id is not None:
        conds.append(Participant.prescriber_id == prescriber_id)
        conds.append(exists().where(Candidature.participant_id == Participant.id,
                                    Candidature.prescriber_id == prescriber_id))
    return or_(*conds) if conds else None


def find_matches(session: Session, *, last_name: str, first_name: str, birth_date: dt.date | None,
                 email: str | None, phone: str | None, company_id: int | None,
                 prescriber_id: int | None, exclude: int | None = None) -> list[IdentityMatch]:
    """Known persons this candidate may be, same scope first."""
    same_name = (func.lower(Participant.last_name) == last_name.lower()) & (
        func.lower(Participant.first_name) == first_name.lower())
    ways: list[ColumnElement[bool]] = []
    if birth_date is not None:
        ways.append(same_name & (Participant.birth_date == birth_date))
    if email:
        ways.append(func.lower(Participant.email) == email.strip().lower())
    digits = phone_digits(phone)
    if digits:
        ways.append(_stored_digits(Participant.phone).in_([digits, "33" + digits[1:]]))
    if not ways:
        return []
    scope = _in_scope(company_id, prescriber_id)
    cols = [Participant]
    if scope is not None:
        cols.append(scope.label("in_scope"))
    q = select(*cols).where(or_(*ways), Participant.anonymised_at.is_(None)).order_by(Participant.id)
    if exclude is not None:
        q = q.where(Participant.id != exclude)
    out = []
    for row in session.execute(q.limit(20)):
        p = row[0]
        hows = []
        if birth_date is not None and p.birth_date == birth_date and \
                p.last_name.lower() == last_name.lower() and p.first_name.lower() == first_name.lower():
            hows.append("même nom et date de naissance")
        if email and (p.email or "").lower() == email.strip().lower():
            hows.append("même e-mail")
        if digits and phone_digits(p.phone) == digits:
            hows.append("même téléphone")
        out.append(IdentityMatch(p.id, p.display_name, ", ".join(hows) or "coordonnées proches",
                                 bool(row[1]) if scope is not None else False))
    return sorted(out, key=lambda m: (not m.same_scope, m.participant_id))


def _card(session: Session, p: Participant) -> str:
    """One person, as the facilitator compares them."""
    companies = sorted(set(session.scalars(
        select(Company.name).join(Candidature, Candidature.company_id == Company.id)
        .where(Candidature.participant_id == p.id))))
    return (f"n° {p.id} {p.display_name}, née/né le {fr_date(p.birth_date) if p.birth_date else '?'}, "
            f"e-mail {p.email or '—'}, tél. {p.phone or '—'}, "
            f"proposé·e par {', '.join(companies) or '—'}")


def possible_duplicate_alert(session: Session, new: Participant, match: IdentityMatch,
                             facilitator_id: int | None) -> None:
    """Show both records side by side to the facilitator, who decides (never silently merged)."""
    known = session.get(Participant, match.participant_id)
    if known is None:
        return
    raise_alert(
        session, kind=AlertKind.AUTRE, facilitator_id=facilitator_id,
        subject_type="participant", subject_id=new.id,
        dedup_key=f"identity:{known.id}:{new.id}",
        message=(f"Doublon possible ({match.how}) :\n• connue : {_card(session, known)}\n"
                 f"• nouvelle : {_card(session, new)}\n"
                 "Fusionner garde la fiche connue et y rattache tout ; sinon les deux restent "
                 "distinctes."),
        buttons=[[("🔗 Fusionner", f"idm:{known.id}:{new.id}"),
                  ("≠ Personnes différentes", f"idk:{known.id}:{new.id}")]],
    )


def resolve_participant(session: Session, candidate, *, company_id: int | None,
                        prescriber_id: int | None, same_person: int | None,
                        can_ask: bool) -> tuple[Participant, list[IdentityMatch]]:
    """The person a candidature is for: a known one (confirmed) or a new record.

    `same_person`: the submitter's answer (a participant id, or 0 for "another person");
    `can_ask`: the channel can ask the question (chat). Returns the person and the matches the
    facilitator must look at.
    """
    matches = find_matches(session, last_name=candidate.last_name, first_name=candidate.first_name,
                           birth_date=candidate.birth_date, email=candidate.email,
                           phone=candidate.phone, company_id=company_id, prescriber_id=prescriber_id)
    same = [m for m in matches if m.same_scope]
    if same_person:
        if same_person not in {m.participant_id for m in same}:
            raise NotAllowed()
        person = session.get(Participant, same_person)
        assert person is not None
        for attr in ("birth_date", "email", "phone", "gender", "commune"):
            if getattr(person, attr) is None and getattr(candidate, attr, None) is not None:
                setattr(person, attr, getattr(candidate, attr))
        return person, []
    if same and same_person is None and can_ask:
        raise SamePersonQuestion(same[0])
    person = Participant(
        last_name=candidate.last_name, first_name=candidate.first_name,
        birth_date=candidate.birth_date, gender=candidate.gender, commune=candidate.commune,
        qpv=candidate.qpv, email=candidate.email, phone=candidate.phone, prescriber_id=prescriber_id,
    )
    session.add(person)
    session.flush()
    # "another person" answered by the submitter: only other scopes remain for the facilitator
    return person, [m for m in matches if not m.same_scope] if same_person == 0 else matches


def merge_participants(ctx: Context, session: Session, actor: Actor, keep_id: int, other_id: int
                       ) -> Participant:
    """Move everything of `other_id` onto `keep_id` and delete it (facilitator's decision)."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    keep, other = session.get(Participant, keep_id), session.get(Participant, other_id)
    if keep is None or other is None or keep_id == other_id:
        raise NotAllowed()
    if keep.anonymised_at is not None or other.anonymised_at is not None:
        raise DomainError("Une des deux fiches est anonymisée ou effacée : elles ne peuvent plus être fusionnées.")
    for model, column in ((Candidature, Candidature.participant_id), (Contract, Contract.participant_id),
                          (Document, Document.participant_id)):
        session.execute(update(model).where(column == other_id).values(participant_id=keep_id),
                        execution_options={"synchronize_session": "fetch"})
    held = {(e.criterion, e.proof_date) for e in session.scalars(
        select(Eligibility).where(Eligibility.participant_id == keep_id))}
    for e in list(session.scalars(select(Eligibility).where(Eligibility.participant_id == other_id))):
        if (e.criterion, e.proof_date) in held:
            session.delete(e)
        else:
            e.participant_id = keep_id
    for attr in ("birth_date", "email", "phone", "gender", "commune", "status_at_entry",
                 "first_entry_date", "prescriber_id"):
        if getattr(keep, attr) is None and getattr(other, attr) is not None:
            setattr(keep, attr, getattr(other, attr))
    keep.last_activity_at = max(keep.last_activity_at, other.last_activity_at)
    session.execute(update(Alert).where(Alert.subject_type == "participant", Alert.subject_id == other_id)
                    .values(subject_id=keep_id), execution_options={"synchronize_session": "fetch"})
    session.flush()
    session.execute(delete(Participant).where(Participant.id == other_id),
                    execution_options={"synchronize_session": "fetch"})
    audit.record(session, actor, "participant.merge", "participant", keep_id, merged=other_id)
    _close_alert(session, actor, keep_id, other_id)
    session.flush()
    return keep


def keep_apart(session: Session, actor: Actor, keep_id: int, other_id: int) -> None:
    """The facilitator says these are two persons: recorded, nothing else changes."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    if session.get(Participant, keep_id) is None or session.get(Participant, other_id) is None:
        raise NotAllowed()
    audit.record(session, actor, "participant.distinct", "participant", other_id, distinct_from=keep_id)
    _close_alert(session, actor, keep_id, other_id)


def _close_alert(session: Session, actor: Actor, keep_id: int, other_id: int) -> None:
    """The decision answers the « doublon possible » alert that asked for it."""
    alert = session.scalar(select(Alert).where(Alert.dedup_key == f"identity:{keep_id}:{other_id}"))
    if alert is not None and alert.handled_at is None:
        handle_alert(session, alert.id, actor.user_id)


def side_by_side(session: Session, actor: Actor, keep_id: int, other_id: int) -> list[str]:
    """Both records as the facilitator compares them before deciding (CLI)."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE)
    keep, other = session.get(Participant, keep_id), session.get(Participant, other_id)
    if keep is None or other is None or keep_id == other_id:
        raise NotAllowed()
    audit.record(session, actor, "participant.compare", "participant", keep_id, other=other_id)
    return [f"• gardée : {_card(session, keep)}", f"• fusionnée : {_card(session, other)}"]
