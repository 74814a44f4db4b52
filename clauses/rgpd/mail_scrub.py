"""Withdrawing the e-mails about a person: raw message, its mailbox copies, alerts, replies.

Used by the erasure (:mod:`clauses.rgpd.erasure`) and the anonymisation: must run while the
person's name, e-mail and phone are still stored, since that is how unlinked texts are found
(:mod:`clauses.rgpd.mentions`). The retention purge of raw mail reuses :func:`withdraw_mails`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.rgpd.document_removal import delete_documents
from clauses.rgpd.mailbox_copies import queue_received_copy
from clauses.rgpd.mentions import mentions_of
from clauses.rgpd.message_scrub import blank_alerts, blank_outbox
from storage.models import Alert, Document, InboundMail

ERASED_MAIL_NOTE = {"rgpd": "contenu retiré (données personnelles)"}


@dataclass
class MailScrub:
    mails: int = 0
    alerts: int = 0
    messages: int = 0
    files: list[str] = field(default_factory=list)


def withdraw_mails(ctx: Context, session: Session, mails: Sequence[InboundMail], *,
                   note: dict | None = None) -> list[str]:
    """Delete the raw messages, blank subject and notes, queue the mailbox copies' removal.

    The bookkeeping row (sender, folder, UID, Message-ID) stays so the message is never
    processed twice. Returns the SHA-256 of the deleted files.
    """
    now = ctx.clock.now()
    doc_ids = [m.raw_document_id for m in mails if m.raw_document_id is not None]
    docs = {d.id: d.sha256 for d in session.scalars(select(Document).where(Document.id.in_(doc_ids or [-1])))}
    for m in mails:
        sha = docs.get(m.raw_document_id) if m.raw_document_id is not None else None
        if sha is not None:
            queue_received_copy(session, sha, m.message_id)
        m.subject = None
        m.result = dict(ERASED_MAIL_NOTE if note is None else note)
        if m.raw_document_id is not None:
            m.purged_at = now
    session.flush()
    return delete_documents(ctx, session, doc_ids)


def scrub_mentions(ctx: Context, session: Session, participant_ids: Sequence[int]) -> MailScrub:
    """Withdraw every e-mail, alert and outgoing message that concerns these persons."""
    found = mentions_of(ctx, session, participant_ids)
    blank_alerts(session, found.alert_ids)
    blank_outbox(session, found.outbox_ids)
    files = withdraw_mails(ctx, session, found.mails)
    return MailScrub(mails=len(found.mails), alerts=len(found.alert_ids),
                     messages=len(found.outbox_ids), files=files)


def purge_mail_traces(ctx: Context, session: Session, mails: Sequence[InboundMail]) -> MailScrub:
    """Retention end of received e-mails: the raw message and its copies, and whatever quoted
    it without being linked to a person (alert excerpts, their chat pushes, the replies)."""
    from clauses.rgpd.mentions import outbox_about

    ids = [m.id for m in mails]
    alert_ids = list(session.scalars(select(Alert.id).where(
        Alert.subject_type == "inbound_mail", Alert.subject_id.in_(ids or [-1]))))
    outbox_ids = outbox_about(session, [], mails, alert_ids)
    blank_alerts(session, alert_ids)
    blank_outbox(session, outbox_ids)
    files = withdraw_mails(ctx, session, mails, note={})
    return MailScrub(mails=len(mails), alerts=len(alert_ids), messages=len(outbox_ids), files=files)
