"""Maildir backends (embedded default): incoming store-then-move, outgoing exactly-once files."""

from __future__ import annotations

import asyncio
import mailbox
import time
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from mail.outbox_sender import OutboxSender
from mail.service import run_outbox_sender, start_intake
from mail.transport import MaildirTransport
from storage.models import DeclarationRevision, InboundMail, OutboxMessage, OutboxStatus
from tests.mail.conftest import XLSX_MIME, count, inbound_rows, mail_config, make_mail, xlsx_bytes

CHEF = "Chef BTP <chef@btp-rhone.test>"


def _drop(root, raw: bytes) -> str:
    """Deliver like an MTA would (tmp/ then new/)."""
    box = mailbox.Maildir(root, create=True)
    return box.add(raw)


def _files(path) -> list:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _intake(ctx, root, **overrides) -> MaildirIntake:
    cfg = mail_config(maildir_in=root, **overrides)
    intake = MaildirIntake(IntakeCore(ctx, cfg), root, poll_seconds=0.05)
    intake.ensure()
    return intake


def test_incoming_maildir_processes_then_moves(ctx, world, tmp_path):
    root = tmp_path / "mail" / "incoming"
    intake = _intake(ctx, root)
    decl = make_mail(CHEF, "Heures", "ci-joint", attachments=[
        ("heures.xlsx", xlsx_bytes([["2025-017", 2, "Dupont", "Marie", "03/2025", 40, 0]]), XLSX_MIME)])
    _drop(root, decl)
    _drop(root, make_mail("x@ailleurs.test", "Bonjour", "Qui êtes-vous ?"))
    _drop(root, b"From: chef@btp-rhone.test\r\nContent-Type: multipart/mixed; boundary=\"Z\"\r\n\r\nnothing\r\n")
    assert intake.run_once() == {"traite": 2, "quarantaine": 1}
    assert _files(root / "new") == [] and _files(root / "cur") == []
    assert len(_files(root / ".Traités" / "cur")) == 2 and len(_files(root / ".Quarantaine" / "cur")) == 1
    assert all(name.endswith(":2,S") for name in _files(root / ".Traités" / "cur"))
    assert count(ctx, DeclarationRevision) == 1
    assert {r.kind for r in inbound_rows(ctx)} == {"declaration", "expediteur_inconnu", "mime_invalide"}
    assert all(r.moved_at is not None for r in inbound_rows(ctx))
    assert intake.run_once() == {}  # nothing left, nothing redone


def test_maildir_crash_between_commit_and_move(ctx, world, tmp_path, monkeypatch):
    root = tmp_path / "incoming"
    intake = _intake(ctx, root)
    _drop(root, make_mail(CHEF, "Heures", "ci-joint", attachments=[
        ("heures.xlsx", xlsx_bytes([["2025-017", 2, "Dupont", "Marie", "04/2025", 40, 0]]), XLSX_MIME)]))

    def crash(self, path, key, status):
        raise KeyboardInterrupt("killed after the commit")

    monkeypatch.setattr(MaildirIntake, "move", crash)
    with pytest.raises(KeyboardInterrupt):
        intake.run_once()
    monkeypatch.undo()
    assert len(_files(root / "new")) == 1 and count(ctx, InboundMail) == 1
    assert count(ctx, InboundMail, InboundMail.moved_at.is_(None)) == 1
    assert _intake(ctx, root).run_once() == {}  # only moved
    assert len(_files(root / ".Traités" / "cur")) == 1
    assert count(ctx, InboundMail, InboundMail.moved_at.is_not(None)) == 1  # and recorded
    assert count(ctx, InboundMail) == 1 and count(ctx, DeclarationRevision) == 1
    assert count(ctx, OutboxMessage, OutboxMessage.to_address == "chef@btp-rhone.test") == 1


def test_oversized_maildir_message_is_read_by_its_header_only(ctx, world, tmp_path):
    root = tmp_path / "incoming"
    intake = _intake(ctx, root, max_message_bytes=50_000)
    _drop(root, make_mail(CHEF, "Gros envoi", "x" * 200_000, message_id="<gros@btp-rhone.test>"))
    assert intake.run_once() == {"erreur": 1}
    [row] = inbound_rows(ctx)
    assert (row.kind, row.message_id) == ("trop_volumineux", "<gros@btp-rhone.test>") and row.size > 200_000
    assert len(_files(root / ".Erreurs" / "cur")) == 1


async def test_outgoing_maildir_writes_each_message_once(ctx, world, tmp_path):
    from clauses.outbox import enqueue_email

    out = tmp_path / "mail" / "outgoing"
    with ctx.db.session() as s:
        for i in range(3):
            enqueue_email(s, dedup_key=f"out:{i}", to=f"d{i}@example.test", subject=f"Objet {i}", text="Bonjour")
    cfg = mail_config(maildir_out=out)
    sender = OutboxSender(ctx.db, ctx.documents, MaildirTransport(out), cfg)
    assert (await sender.send_due()).sent == 3
    files = _files(out / "new")
    assert len(files) == 3
    parsed = [message_from_bytes((out / "new" / f).read_bytes(), policy=policy.default) for f in files]
    assert sorted(str(m["To"]) for m in parsed) == ["d0@example.test", "d1@example.test", "d2@example.test"]
    # A resend of the same row (crash before the database update) does not add a file.
    with ctx.db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "out:0"))
        row.status, row.next_attempt_at = OutboxStatus.PENDING, row.created_at
    assert (await sender.send_due()).sent == 1
    assert len(_files(out / "new")) == 3


async def test_service_entry_points_with_maildirs(ctx, world, tmp_path):
    incoming, outgoing = tmp_path / "in", tmp_path / "out"
    cfg = mail_config(maildir_in=incoming, maildir_out=outgoing, maildir_poll_seconds=0.05)
    handle = start_intake(ctx, cfg)
    stop = asyncio.Event()
    sender = asyncio.create_task(run_outbox_sender(ctx, cfg, stop))
    try:
        _drop(incoming, make_mail(CHEF, "Question", "Quand est la réunion ?", message_id="<q1@btp-rhone.test>"))
        deadline = time.monotonic() + 10
        replies: list = []
        while time.monotonic() < deadline:
            replies = [p for p in (outgoing / "new").glob("*")] if (outgoing / "new").exists() else []
            texts = [p.read_bytes() for p in replies]
            if any(b"In-Reply-To: <q1@btp-rhone.test>" in t for t in texts):
                break
            await asyncio.sleep(0.05)
        assert any(b"In-Reply-To: <q1@btp-rhone.test>" in p.read_bytes() for p in replies)
    finally:
        stop.set()
        await asyncio.wait_for(sender, 5)
        assert await asyncio.to_thread(handle.stop, 5)
    assert not handle.alive
