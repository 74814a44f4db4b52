"""A mailbox of several e-mails taken in one scan, from an EMPTY database (issue 20, item 3).

The intake fetches and processes new messages by batches (`mail.intake.INGEST_BATCH`: one IMAP
FETCH, one transaction). What a user must not notice, tested through Dovecot and SMTP: every
e-mail recorded once and answered once, each filed in its folder; a crash after the batch's
commit and before its MOVE records nothing twice at the restart; one e-mail that breaks the
intake is quarantined alone, the others of its batch recorded and answered once."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from sqlalchemy import event, select

from clauses.context import Context
from mail.imap_intake import ImapIntake
from mail.intake import INGEST_BATCH, IntakeCore
from storage.models import Alert, AlertKind, InboundMail, MailStatus
from tests.journeys.conftest import Run
from tests.journeys.test_mail_as_people_write import (
    RH,
    RH_ADDR,
    Mailroom,
    _declared,
    _hired_people,
    _xlsx,
)
from tests.mail.conftest import XLSX_MIME, deliver, imap_config, mail_config, make_mail

HEADER = ["Salarié", "Marché / lot", "Mois", "Heures"]


def _morning(tag: str) -> list[bytes]:
    """What the company sends in a morning: three hour files, two questions, a template asked."""
    files = [make_mail(RH, f"Heures {last} {tag}", "Bonjour, ci-joint.",
                       message_id=f"<{tag}-{last.lower()}@btp-rhone-confluent.example>",
                       attachments=[(f"{last.lower()}.xlsx", _xlsx(("Feuil1", [
                           HEADER, [f"{last} {first}", "2025-017 lot 2", "05/2025", hours]])), XLSX_MIME)])
             for last, first, hours in (("KOFFI", "Awa", 120), ("DIALLO", "Moussa", 90),
                                        ("NGUYEN", "Linh", 61))]
    return [*files,
            make_mail(RH, f"Question {tag}", "Bonjour,\n\nFaut-il déclarer les heures d'un arrêt "
                      "maladie ?\n\nSophie MARTIN", message_id=f"<{tag}-q1@btp-rhone-confluent.example>"),
            make_mail(RH, f"Relance {tag}", "Bonjour,\n\nPouvez-vous nous rappeler ?\n\nSophie MARTIN",
                      message_id=f"<{tag}-q2@btp-rhone-confluent.example>"),
            make_mail(RH, f"Modèle {tag}", "Bonjour,\n\nPouvez-vous m'envoyer le modèle de "
                      "déclaration des heures ?", message_id=f"<{tag}-m@btp-rhone-confluent.example>")]


def _intake(ctx: Context, imap_account) -> tuple[ImapIntake, object]:
    cfg = mail_config(imap_config(imap_account))
    return ImapIntake(IntakeCore(ctx, cfg), cfg.imap), cfg


def _commits(ctx: Context) -> list[int]:
    """A counter of the transactions committed on the test database from now on."""
    done: list[int] = []
    event.listen(ctx.db.engine, "commit", lambda _conn: done.append(1))
    return done


def test_a_morning_mailbox_in_one_transaction_then_a_crash_before_the_move(
        ctx, cli: Run, territory, tmp_path, imap_account, smtp_sink, monkeypatch):
    _hired_people(ctx, cli, territory, Mailroom(ctx, tmp_path / "incoming"))
    messages = _morning("matin")
    assert len(messages) < INGEST_BATCH  # one batch
    for raw in messages:
        imap_account.append("INBOX", raw)
    intake, cfg = _intake(ctx, imap_account)
    commits = _commits(ctx)
    moves: list[list[int]] = []

    def dies(self, uids, folder):
        moves.append(list(uids))
        raise ConnectionResetError("the connection dies after the commit, at the MOVE")

    monkeypatch.setattr(IMAPClient, "move", dies)
    with pytest.raises(ConnectionResetError):
        intake.run_once()
    monkeypatch.undo()
    # Six e-mails committed together: the folder's state, one transaction for the six, the
    # record of the moves (none done) — not one transaction an e-mail.
    assert len(commits) <= 3 and len(moves) == 1
    assert len(imap_account.folder_uids("INBOX")) == 6  # nothing moved
    with ctx.db.session() as s:
        rows = s.scalars(select(InboundMail).where(InboundMail.subject.like("%matin%"))).all()
    assert len(rows) == 6 and all(r.moved_at is None for r in rows)
    assert {r.kind for r in rows} == {"declaration", "autre", "modele"}

    stats = _intake(ctx, imap_account)[0].run_once()  # the restart only moves them
    assert stats.processed == 0 and stats.moved == 6
    assert not imap_account.folder_uids("INBOX") and len(imap_account.folder_uids("Traités")) == 6
    assert {d for d in _declared(ctx) if d[1] == "2025-05"} == {
        ("KOFFI", "2025-05", 120.0), ("DIALLO", "2025-05", 90.0), ("NGUYEN", "2025-05", 61.0)}
    deliver(ctx, cfg, smtp_sink)
    answers = sorted(m.subject for m in smtp_sink.messages_to(RH_ADDR) if "matin" in m.subject)
    assert answers == ["Re: Heures DIALLO matin", "Re: Heures KOFFI matin", "Re: Heures NGUYEN matin",
                       "Re: Modèle matin", "Re: Question matin", "Re: Relance matin"]  # once each


def test_one_e_mail_that_breaks_the_intake_costs_the_others_of_its_batch_nothing(
        ctx, cli: Run, territory, tmp_path, imap_account, smtp_sink, monkeypatch):
    import mail.handlers

    _hired_people(ctx, cli, territory, Mailroom(ctx, tmp_path / "incoming"))
    real = mail.handlers.handle_other

    def breaks_on_the_reminder(job, classified):
        if "Relance" in job.parsed.subject:
            raise RuntimeError("a bug met by one e-mail")
        return real(job, classified)

    monkeypatch.setattr(mail.handlers, "handle_other", breaks_on_the_reminder)
    for raw in _morning("lundi"):
        imap_account.append("INBOX", raw)
    intake, cfg = _intake(ctx, imap_account)
    stats = intake.run_once()

    assert stats.processed == 6 and stats.by_status == {"traite": 5, "quarantaine": 1}
    assert not imap_account.folder_uids("INBOX")
    assert len(imap_account.folder_uids("Traités")) == 5
    assert len(imap_account.folder_uids("Quarantaine")) == 1
    with ctx.db.session() as s:
        rows = s.scalars(select(InboundMail).order_by(InboundMail.uid)
                         .where(InboundMail.account == cfg.imap.account)).all()
        quarantined = s.scalars(select(Alert.message).where(Alert.kind == AlertKind.QUARANTAINE)).all()
    assert len(rows) == 6  # the first attempt of the batch left nothing behind
    broken = [r for r in rows if r.status == MailStatus.QUARANTAINE]
    assert len(broken) == 1 and "a bug met by one e-mail" in broken[0].result["error"]
    assert len(quarantined) == 1 and f"E-mail n° {broken[0].id}" in quarantined[0]
    assert {d for d in _declared(ctx) if d[1] == "2025-05"} == {
        ("KOFFI", "2025-05", 120.0), ("DIALLO", "2025-05", 90.0), ("NGUYEN", "2025-05", 61.0)}
    deliver(ctx, cfg, smtp_sink)
    answers = sorted(m.subject for m in smtp_sink.messages_to(RH_ADDR) if "lundi" in m.subject)
    assert answers == ["Re: Heures DIALLO lundi", "Re: Heures KOFFI lundi", "Re: Heures NGUYEN lundi",
                       "Re: Modèle lundi", "Re: Question lundi"]  # the broken one: no answer
