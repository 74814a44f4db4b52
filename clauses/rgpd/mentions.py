"""Texts that name a person without a foreign key to her: e-mails, their replies, alert excerpts.

A free-text e-mail ("Marie Dupont, née le 12/03/1990, 06 12 34 56 78, peut-elle commencer ?")
is stored raw, quoted in an alert excerpt, pushed to a chat and answered; none of these rows
points at the participant. The product can still tell they are about her: the intake's result
names her candidature, or the text carries her full name, her e-mail or her phone. Erasure and
export use :func:`mail_about` / :func:`alerts_about` / :func:`outbox_about` so they reach every
such copy; what nothing links is purged with the raw mail after its retention period
(:mod:`clauses.retention`).

A bare birth date or a first name alone is never taken as a match (too many false positives
would blank other people's messages); the full name in either order, the e-mail address or the
phone number (whatever its spacing) are.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from clauses.context import Context
from storage.models import Alert, Candidature, Document, InboundMail, OutboxMessage, Participant

_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D+")


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).casefold()


@dataclass(frozen=True)
class Needles:
    """What identifies a person in free text: full names, e-mail, phone digits."""

    names: tuple[str, ...]
    email: str | None
    phone_digits: str | None

    @classmethod
    def of(cls, person: Participant) -> Needles:
        last, first = _norm(person.last_name).strip(), _norm(person.first_name).strip()
        names = (f"{last} {first}", f"{first} {last}") if last and first else ()
        digits = _NON_DIGITS.sub("", person.phone or "")
        return cls(names=names, email=(person.email or "").strip().casefold() or None,
                   phone_digits=digits if len(digits) >= 8 else None)

    def found_in(self, text: str | None) -> bool:
        """Does this text name the person (full name, e-mail or phone in any spacing)?"""
        if not text:
            return False
        low = _norm(text)
        if any(n in low for n in self.names):
            return True
        if self.email and self.email in low:
            return True
        if self.phone_digits:
            digits = _NON_DIGITS.sub("", text)
            if self.phone_digits in digits:
                return True
            if self.phone_digits.startswith("0") and "33" + self.phone_digits[1:] in digits:
                return True
        return False


def raw_mail_text(raw: bytes) -> str:
    """Headers and every text part of a raw message, decoded (attachment names included)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:  # an unreadable message is searched as bytes
        return raw.decode("utf-8", "replace")
    parts = [str(msg.get("Subject", "")), str(msg.get("From", ""))]
    for part in msg.walk():
        if part.get_filename():
            parts.append(str(part.get_filename()))
        if part.get_content_maintype() == "text":
            try:
                parts.append(str(part.get_content()))
            except Exception:
                payload = part.get_payload(decode=True)
                parts.append(payload.decode("utf-8", "replace")
                             if isinstance(payload, bytes) else "")
    return "\n".join(parts)


def mail_key_prefix(message_id: str | None) -> str | None:
    """The outbox key prefix of the replies to one received message (see mail.handlers)."""
    if not message_id:
        return None
    return "mail:" + hashlib.sha256(message_id.encode()).hexdigest()[:24] + ":"


@dataclass
class Mentions:
    """Everything that concerns the person without pointing at her."""

    mails: list[InboundMail] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


def _linked_by_result(row: InboundMail, pid: int, cand_ids: set[int]) -> bool:
    result = row.result or {}
    return result.get("participant_id") == pid or result.get("candidature_id") in cand_ids


def mail_about(ctx: Context, session: Session, participant_ids: Sequence[int]) -> list[InboundMail]:
    """Received e-mails about these persons: linked by the intake, or naming them.

    Raw messages are read from the document store (at most the retention period's worth:
    older ones are already purged), so free-text questions are found too.
    """
    people = list(session.scalars(select(Participant).where(Participant.id.in_(list(participant_ids) or [-1]))))
    if not people:
        return []
    needles = [Needles.of(p) for p in people]
    pids = {p.id for p in people}
    cand_ids = set(session.scalars(select(Candidature.id).where(Candidature.participant_id.in_(pids))))
    found: dict[int, InboundMail] = {}
    rows = session.execute(
        select(InboundMail, Document).outerjoin(Document, Document.id == InboundMail.raw_document_id)
        .order_by(InboundMail.id)
    ).all()
    for row, doc in rows:
        if any(_linked_by_result(row, pid, cand_ids) for pid in pids) or any(
                n.found_in(row.subject) for n in needles):
            found[row.id] = row
            continue
        if doc is None:
            continue
        try:
            text = raw_mail_text(ctx.documents.read(doc))
        except (FileNotFoundError, ValueError):
            continue
        if any(n.found_in(text) for n in needles):
            found[row.id] = row
    # a duplicate delivery of a linked message is linked too
    for row, _ in rows:
        if (row.result or {}).get("duplicate_of") in found:
            found[row.id] = row
    return list(found.values())


def alerts_about(session: Session, participant_ids: Sequence[int], mail_ids: Iterable[int]) -> list[int]:
    """Alerts raised for these e-mails, or whose text names the persons."""
    mail_ids = list(mail_ids)
    people = list(session.scalars(select(Participant).where(Participant.id.in_(list(participant_ids) or [-1]))))
    needles = [Needles.of(p) for p in people]
    ids = set(session.scalars(select(Alert.id).where(
        (Alert.subject_type == "inbound_mail") & Alert.subject_id.in_(mail_ids or [-1]))))
    ids |= {aid for aid, text in session.execute(select(Alert.id, Alert.message))
            if any(n.found_in(text) for n in needles)}
    return sorted(ids)


def outbox_about(session: Session, participant_ids: Sequence[int], mails: Iterable[InboundMail],
                 alert_ids: Iterable[int]) -> list[int]:
    """Outgoing messages: replies to these e-mails, pushes of these alerts, or naming the persons."""
    people = list(session.scalars(select(Participant).where(Participant.id.in_(list(participant_ids) or [-1]))))
    needles = [Needles.of(p) for p in people]
    emails = [p.email.strip().casefold() for p in people if p.email]
    prefixes = [p for m in mails if (p := mail_key_prefix(m.message_id))]
    prefixes += [f"inbound:{m.id}:" for m in mails]
    prefixes += [f"alert:{a}:" for a in alert_ids]
    ids: set[int] = set()
    for first in range(0, len(prefixes), 200):
        chunk = prefixes[first:first + 200]
        ids |= set(session.scalars(select(OutboxMessage.id).where(
            or_(*(OutboxMessage.dedup_key.startswith(p, autoescape=True) for p in chunk)))))
    for oid, to, subject, body in session.execute(
            select(OutboxMessage.id, OutboxMessage.to_address, OutboxMessage.subject,
                   OutboxMessage.body_text)):
        if (to and to.casefold() in emails) or any(
                n.found_in(subject) or n.found_in(body) for n in needles):
            ids.add(oid)
    return sorted(ids)


def mentions_of(ctx: Context, session: Session, participant_ids: Sequence[int]) -> Mentions:
    """Every e-mail, alert and outgoing message that concerns these persons."""
    mails = mail_about(ctx, session, participant_ids)
    alert_ids = alerts_about(session, participant_ids, [m.id for m in mails])
    return Mentions(mails=mails, alert_ids=alert_ids,
                    outbox_ids=outbox_about(session, participant_ids, mails, alert_ids))
