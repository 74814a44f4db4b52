"""An e-mail's acknowledgement goes out before the bulk reminders queued earlier (outbox
priority: a person's answer is claimed first, see tests/bot/test_outbox_priority.py)."""

from __future__ import annotations

from sqlalchemy import select

from clauses.outbox import ANSWER, BULK, enqueue_email
from mail.config import MailConfig, SmtpConfig
from mail.intake import IntakeCore
from mail.outbox_sender import OutboxSender
from mail.outcome import MailKey
from mail.transport import SmtpTransport
from reports.queued import ReportPreparer
from storage.models import OutboxMessage, OutboxStatus
from tests.mail.conftest import mail_config, make_mail

BULK_ROWS = 500
SENDER = "inconnu@ailleurs.test"


async def test_acknowledgement_before_earlier_bulk_reminders(ctx, world, smtp_sink):
    with ctx.db.session() as s:  # a reminder run, queued first
        for n in range(BULK_ROWS):
            enqueue_email(s, dedup_key=f"reminder:bulk:{n}", to=f"entreprise{n}@btp.test",
                          subject="Rappel : déclaration des heures", text="Bonjour")
    raw = make_mail(f"Quelqu'un <{SENDER}>", "Une question", "Bonjour, où en est mon dossier ?")
    IntakeCore(ctx, MailConfig()).ingest(MailKey("a", "INBOX", 1, 1), raw)
    with ctx.db.session() as s:
        (reply,) = s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == SENDER))
        assert reply.priority == ANSWER and reply.id > BULK_ROWS  # queued last
        assert set(s.scalars(select(OutboxMessage.priority).where(
            OutboxMessage.dedup_key.like("reminder:bulk:%")))) == {BULK}

    smtp = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, starttls=False, timeout=10)
    sender = OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp),
                          mail_config(outbox_batch=5), reports=ReportPreparer(ctx))
    assert sender.due_ids(5)[0] == reply.id
    await sender.send_due()  # one pass: the first batch of due rows
    with ctx.db.session() as s:
        sent = list(s.scalars(select(OutboxMessage.to_address).where(
            OutboxMessage.status == OutboxStatus.SENT).order_by(OutboxMessage.sent_at)))
    assert SENDER in sent and len(sent) < BULK_ROWS
