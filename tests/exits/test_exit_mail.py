"""Journey by e-mail: a company without a chat account is asked by e-mail and answers by
replying with a number (Maildir intake, as the embedded default runs it)."""

from __future__ import annotations

import mailbox

from sqlalchemy import select

from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from scheduler.jobs import run_job
from storage.models import ExitFollowup, InboundMail, OutboxMessage, Participant
from tests.exits.conftest import ENDED
from tests.mail.conftest import mail_config, make_mail

CHEF = "Chef BTP <chef@btp-rhone.test>"


def _reply(root, sender: str, subject: str, text: str) -> None:
    mailbox.Maildir(root, create=True).add(make_mail(sender, subject, text))


def _last_reply(ctx, to: str) -> OutboxMessage:
    with ctx.db.session() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                         .order_by(OutboxMessage.id.desc())).first()


def test_the_employer_answers_by_e_mail_with_a_number(ctx, world, ended, tmp_path):
    root = tmp_path / "incoming"
    intake = MaildirIntake(IntakeCore(ctx, mail_config(maildir_in=root)), root, poll_seconds=0.05)
    intake.ensure()
    assert run_job(ctx, "exits").done == 1
    question = _last_reply(ctx, "chef@btp-rhone.test")
    with ctx.db.session() as s:
        qid = s.scalar(select(ExitFollowup.id))
    assert question.subject == f"Que devient KOFFI Awa ? [sortie n° {qid}]"
    assert "1. Emploi durable — CDI" in question.body_text
    assert "15. Autres sorties — Autre situation" in question.body_text
    subject = f"RE: {question.subject}"
    quoted = "\n".join("> " + line for line in question.body_text.splitlines())

    # Someone who is not the employer (the prescriber's adviser) answers: refused, alerted.
    _reply(root, "Paul Conseiller <conseiller@ml-sud.test>", subject, "1\n" + quoted)
    # The employer writes a number that is not in the list.
    _reply(root, CHEF, subject, "Bonjour, 42.\n\nLe 16/06/2025, Agence a écrit :\n" + quoted)
    intake.run_once()
    refused = _last_reply(ctx, "conseiller@ml-sud.test")
    assert "n'est pas celle de l'employeur" in refused.body_text
    assert "de 1 à 15" in _last_reply(ctx, "chef@btp-rhone.test").body_text
    with ctx.db.session() as s:
        assert s.get(Participant, ended["participant"]).exit_situation is None

    _reply(root, CHEF, subject, "Bonjour,\n3\nCordialement\n\n" + quoted)  # 3 = intérim 6 mois+
    intake.run_once()
    assert "« Emploi durable — Intérim de 6 mois ou plus »" in _last_reply(
        ctx, "chef@btp-rhone.test").body_text
    _reply(root, CHEF, subject, "Pardon : 12\n" + quoted)  # answered twice
    intake.run_once()
    assert "déjà enregistrée" in _last_reply(ctx, "chef@btp-rhone.test").body_text
    with ctx.db.session() as s:
        p = s.get(Participant, ended["participant"])
        assert (p.exit_situation, p.exit_date) == ("interim_6_mois_plus", ENDED)
        row = s.get(ExitFollowup, qid)
        assert (row.answered_by_email, row.answered_by_user_id) == ("chef@btp-rhone.test", None)
        kinds = [k for (k,) in s.execute(select(InboundMail.kind).order_by(InboundMail.id))]
        assert kinds == ["sortie_non_autorise", "sortie_refusee", "sortie", "sortie_refusee"]
        feedback = s.scalars(select(OutboxMessage).where(
            OutboxMessage.subject == "Retour de fin de mission : KOFFI A.")).all()
        assert [m.to_address for m in feedback] == ["conseiller@ml-sud.test"]
