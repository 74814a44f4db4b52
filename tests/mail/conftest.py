"""Helpers for the e-mail channel tests: build messages, a mail configuration, a territory."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from clauses.context import Context
from mail.config import ImapConfig, MailConfig
from mail.intake import IntakeCore
from storage.models import InboundMail, OutboxMessage
from tests import factories

AGENCY = "bot@agence.test"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A minimal valid one-page PDF (a CV stand-in).
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n160\n%%EOF\n"
)


def make_mail(
    sender: str,
    subject: str,
    text: str | None = "Bonjour,\n\nCordialement.",
    *,
    html: str | None = None,
    attachments: Iterable[tuple[str, bytes, str]] = (),
    headers: dict[str, str] | None = None,
    to: str = AGENCY,
    message_id: str | None = None,
) -> bytes:
    """A well-formed message as bytes; attachments are (filename, data, mime type)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="test.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def xlsx_bytes(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    from mail.declaration_template import COLUMNS

    wb = Workbook()
    ws = wb.active
    ws.title = "Déclaration"
    ws.append(header or [c.header for c in COLUMNS])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def mail_config(imap: ImapConfig | None = None, **overrides: Any) -> MailConfig:
    values: dict[str, Any] = {
        "agency_name": "Agence test",
        "agency_email": AGENCY,
        "imap": imap,
        "outbox_retry_base_seconds": 0.05,
        "outbox_retry_max_seconds": 0.2,
        "outbox_poll_seconds": 0.05,
    }
    values.update(overrides)
    return MailConfig(**values)


def imap_config(account, **overrides: Any) -> ImapConfig:
    values: dict[str, Any] = {
        "host": account.host, "port": account.port, "ssl": False, "username": account.user,
        "password": account.password, "poll_seconds": 0.5, "idle_seconds": 5, "timeout": 10,
    }
    values.update(overrides)
    return ImapConfig(**values)


@pytest.fixture
def world(ctx: Context) -> dict[str, Any]:
    """The factories' territory plus a prescriber contact, committed."""
    from storage.models import Contact, ContactKind

    with ctx.db.session() as s:
        t = factories.territory(s)
        presc = factories.prescriber(s, "Mission Locale Sud")
        s.add(Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Paul Conseiller",
                      email="conseiller@ml-sud.test"))
        s.flush()
        ids = {name: getattr(obj, "id", None) for name, obj in t.items()}
        ids["prescriber"] = presc.id
    return ids


def count(ctx: Context, model, *where) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def inbound_rows(ctx: Context) -> list[InboundMail]:
    with ctx.db.session() as s:
        return list(s.scalars(select(InboundMail).order_by(InboundMail.id)))


def outbox_rows(ctx: Context, to: str | None = None) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if to is not None:
            q = q.where(OutboxMessage.to_address == to)
        return list(s.scalars(q))


def core(ctx: Context, cfg: MailConfig) -> IntakeCore:
    return IntakeCore(ctx, cfg)




def deliver(ctx: Context, cfg: MailConfig, sink) -> Any:
    """Run one pass of the outbox sender against the SMTP sink (sync tests)."""
    import asyncio

    from mail.config import SmtpConfig
    from mail.outbox_sender import OutboxSender
    from mail.transport import SmtpTransport
    from reports.queued import ReportPreparer

    transport = SmtpTransport(SmtpConfig(host=sink.host, port=sink.port, starttls=False, timeout=10))
    sender = OutboxSender(ctx.db, ctx.documents, transport, cfg, reports=ReportPreparer(ctx))
    return asyncio.run(sender.send_due())


@pytest.fixture
def imap_intake(ctx: Context, imap_account):
    """An ImapIntake on a fresh Dovecot user, with a factory for other configurations."""
    from mail.imap_intake import ImapIntake

    def make(**overrides: Any) -> ImapIntake:
        imap_over = {k[5:]: v for k, v in overrides.items() if k.startswith("imap_")}
        other = {k: v for k, v in overrides.items() if not k.startswith("imap_")}
        cfg = mail_config(imap_config(imap_account, **imap_over), **other)
        return ImapIntake(IntakeCore(ctx, cfg), cfg.imap)

    return make
