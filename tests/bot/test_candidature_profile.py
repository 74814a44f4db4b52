"""Journey: a company proposes a candidate with the bilan's profile in chat, the facilitator
opens the CV from the alert (e-mailed to them only, audited) and completes the profile."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.console import ConsoleTransport
from bot.outbox_sender import ChatOutboxSender
from clauses.actors import Actor
from clauses.candidatures import CandidateInput, submit_candidature
from clauses.errors import DomainError
from storage.models import AuditEntry, Channel, Gender, OutboxMessage, Participant, Role
from tests.bot.conftest import PDF, link_user


def _drain(ctx, transport) -> None:
    asyncio.run(ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0).drain())


def test_profile_in_chat_then_cv_and_completion_by_the_facilitator(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    link_user(ctx, world["facilitator"], -2)
    transport = ConsoleTransport(core)
    boss, fanny = transport.chat(1), transport.chat(2)
    for line in ("/candidat", "Koffi", "Awa"):
        boss.send(line)
    boss.press("Passer")
    boss.press("RSA")
    boss.press("Terminé")
    summary = boss.send_file(PDF, "cv.pdf")[-1].text
    assert "Profil pour le bilan : non renseigné" in summary
    assert "Date de naissance" in boss.press("Profil")[-1].text
    assert "illisible" in boss.send("31/02/1990")[-1].text  # no such day
    assert "improbable (âge 10 ans)" in boss.send("2015")[-1].text
    assert "Genre ?" in boss.send("1990")[-1].text
    boss.press("Femme")
    assert "illisible" in boss.send("<script>")[-1].text
    boss.send("Oullins")
    boss.press("Oui")
    summary = boss.press("RSA")[-1].text
    assert "Profil pour le bilan : né·e 01/01/1990, femme, Oullins, QPV, statut RSA" in summary
    assert "transmise" in boss.press("Confirmer")[-1].text
    with ctx.db.session() as s:
        p = s.scalar(select(Participant).where(Participant.last_name == "Koffi"))
        assert (p.birth_date, p.gender, p.commune, p.qpv, p.status_at_entry) == (
            dt.date(1990, 1, 1), Gender.F, "Oullins", True, "rsa")

    _drain(ctx, transport)
    alert = fanny.last
    assert "Profil : né·e en 1990, femme, Oullins, QPV, statut RSA" in alert.text
    assert "/completer" not in alert.text  # nothing missing
    cand_id = int(alert.callbacks[0].rsplit(":", 1)[1])
    sent = fanny.press("Voir le CV")[-1].text
    assert "vous est envoyé par e-mail (fanny@agence.test), à vous seul·e" in sent
    assert "déjà été envoyé aujourd'hui" in fanny.press_data(f"cv:{cand_id}")[-1].text
    # The company cannot open it with a tampered button.
    assert "Accès refusé" in boss.press_data(f"cv:{cand_id}")[-1].text
    with ctx.db.session() as s:
        mails = s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like("cv:%"))).all()
        assert [(m.to_address, len(m.attachments)) for m in mails] == [("fanny@agence.test", 1)]
        assert s.scalar(select(func.count()).where(AuditEntry.action == "candidature.cv_read")) == 1

    # Completing (correcting) the profile; bad input says what to write and changes nothing.
    assert "Genre « Z » non reconnu" in fanny.send(f"/completer {cand_id} genre Z")[-1].text
    assert "par exemple" in fanny.send("/completer")[-1].text
    assert "Statut à l'entrée inconnu" in fanny.send(f"/completer {cand_id} statut ministre")[-1].text
    done = fanny.send(f"/completer {cand_id} commune Pierre-Bénite naissance 14/03/1991")[-1].text
    assert "Pierre-Bénite" in done and "né·e en 1991" in done
    assert "n'est pas disponible pour votre profil" in boss.send(f"/completer {cand_id} genre H")[-1].text
    with ctx.db.session() as s:
        p = s.get(Participant, p.id)
        assert (p.commune, p.birth_date, p.gender) == ("Pierre-Bénite", dt.date(1991, 3, 14), Gender.F)
        changes = s.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "participant.typology")).all()
        assert changes == [{"candidature_id": cand_id, "fields": ["birth_date", "commune"]}]


def test_a_candidature_without_profile_asks_the_facilitator_to_complete_it(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    link_user(ctx, world["facilitator"], -2)
    transport = ConsoleTransport(core)
    boss = transport.chat(1)
    for line in ("/candidat", "Petit", "Jean"):
        boss.send(line)
    boss.press("Passer")
    boss.press("Terminé")
    boss.press("Passer")
    boss.press("Confirmer")
    _drain(ctx, transport)
    fanny = transport.chat(2)
    alert = fanny.last
    assert "Profil : hors QPV — à compléter : /completer 1 naissance" in alert.text
    assert "Voir le CV" not in alert.labels
    validated = fanny.press("Valider")[-1].text  # validating says it again
    assert "validée" in validated and "à compléter : /completer 1" in validated


def test_the_submit_use_case_takes_the_typology_keywords(ctx, world):
    """What the e-mail intake calls (i17): the same keywords, the same checks."""
    actor = Actor(role=Role.ADMIN, channel=Channel.EMAIL, label="test")
    with ctx.db.session() as s:
        with pytest.raises(DomainError, match="Genre"):
            submit_candidature(ctx, s, actor, CandidateInput("Sow", "Ali"), source=Channel.EMAIL,
                               gender="?")
        cand = submit_candidature(ctx, s, actor, CandidateInput("Sow", "Ali"), source=Channel.EMAIL,
                                  birth_date=1988, gender="h", commune="Lyon", qpv="non",
                                  status_at_entry="deld")
        p = s.get(Participant, cand.participant_id)
        assert (p.birth_date, p.gender, p.commune, p.qpv, p.status_at_entry) == (
            dt.date(1988, 1, 1), Gender.M, "Lyon", False, "deld")
        # The same person again (same name and birth date) by e-mail, where nobody can confirm:
        # a new record for the facilitator to merge (issue 22), and nothing of the known person
        # is overwritten silently.
        again = submit_candidature(ctx, s, actor, CandidateInput("Sow", "Ali"), source=Channel.EMAIL,
                                   birth_date="1988", commune="Vénissieux", status_at_entry="rsa")
        assert again.participant_id != p.id and (p.commune, p.status_at_entry) == ("Lyon", "deld")
        assert s.get(Participant, again.participant_id).commune == "Vénissieux"
