"""Journey: a contract ends, the scheduler asks the employer in chat, the employer answers by
buttons; the exit is stored for the bilans, the prescriber gets the feedback, and six months
later the follow-up in employment is asked and answered the same way."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from bot.console import ConsoleTransport
from bot.outbox_sender import ChatOutboxSender
from scheduler.jobs import run_job
from storage.models import AuditEntry, ExitFollowup, OutboxMessage, Participant
from tests.exits.conftest import ENDED, link_company


def _sender(ctx, transport):
    return ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0)


def test_the_employer_answers_by_buttons_and_the_followup_comes_six_months_later(
        ctx, world, core, ended, clock):
    link_company(ctx, world)
    transport = ConsoleTransport(core)
    boss = transport.chat(1)
    sender = _sender(ctx, transport)

    assert run_job(ctx, "exits").done == 1
    assert run_job(ctx, "exits").done == 0  # asked once
    asyncio.run(sender.drain())
    question = boss.last
    assert "Le contrat de KOFFI Awa a pris fin le 13/06/2025. Que devient KOFFI Awa ?" in question.text
    assert question.labels == ["Emploi durable", "Emploi de transition", "Sortie positive",
                                 "Autres sorties"]
    assert "Quelle situation ?" in boss.press("Emploi durable")[-1].text
    assert "Dans quelle catégorie ?" in boss.press("Autre catégorie")[-1].text
    boss.press("Sortie positive")
    done = boss.press("Formation qualifiante")[-1].text
    assert "sortie enregistrée — « Sortie positive — Formation qualifiante »" in done

    with ctx.db.session() as s:
        p = s.get(Participant, ended["participant"])
        assert (p.exit_situation, p.exit_date) == ("formation_qualifiante", ENDED)
        row = s.scalar(select(ExitFollowup))
        assert (row.kind, row.situation, row.answered_by_user_id) == (
            "sortie", "formation_qualifiante", world["company_user"])
        assert s.scalar(select(AuditEntry.detail).where(AuditEntry.action == "participant.exit"))[
            "situation"] == "formation_qualifiante"
        feedback = s.scalars(select(OutboxMessage).where(
            OutboxMessage.to_address == "conseiller@ml-sud.test")).all()
    assert len(feedback) == 1 and feedback[0].subject == "Retour de fin de mission : KOFFI A."
    assert "Sortie positive — Formation qualifiante" in feedback[0].body_text
    assert "Awa" not in feedback[0].body_text  # initials only

    # The annual bilan's « état de situation » counts her exit.
    from clauses.bilan import annual_figures

    with ctx.db.session() as s:
        figures = annual_figures(s, world["donneur"], dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                                 ctx.rulebook)
    assert figures.persons_exited == 1
    assert {c.key: c.persons for c in figures.exits if c.persons} == {"sortie_positive": 1}

    # The same button pressed again: nothing written, the answer is said to be recorded.
    again = boss.press_data(f"ex:s:{row.id}:cdi")[-1].text
    assert "déjà enregistrée (« Sortie positive — Formation qualifiante »)" in again

    # Six months later, to the day: the follow-up question.
    def followups() -> int:
        with ctx.db.session() as s:
            return len(s.scalars(select(ExitFollowup).where(ExitFollowup.kind == "suivi_6_mois")).all())

    clock.set(dt.datetime(2025, 12, 12, 10, 0))
    run_job(ctx, "exits")  # asks about Marie's and Carla's CDD (ended 30/11), not yet Awa's follow-up
    assert followups() == 0
    clock.set(dt.datetime(2025, 12, 13, 10, 0))
    assert run_job(ctx, "exits").done == 1
    assert followups() == 1
    asyncio.run(sender.drain())
    assert "Suivi dans l'emploi : six mois après sa sortie du 13/06/2025" in boss.last.text
    boss.press("Emploi durable")
    assert "suivi à 6 mois enregistrée — « Emploi durable — CDI »" in boss.press("CDI")[-1].text
    with ctx.db.session() as s:
        rows = {r.kind: r.situation for r in s.scalars(select(ExitFollowup).where(
            ExitFollowup.participant_id == ended["participant"]))}
        assert rows == {"sortie": "formation_qualifiante", "suivi_6_mois": "cdi"}
        assert s.get(Participant, ended["participant"]).exit_situation == "formation_qualifiante"
    assert run_job(ctx, "exits").done == 0


def test_another_company_cannot_answer_and_a_running_contract_means_no_question(
        ctx, world, core, ended):
    link_company(ctx, world)
    from tests.bot.conftest import link_user

    link_user(ctx, world["other_user"], -2)
    transport = ConsoleTransport(core)
    assert run_job(ctx, "exits").done == 1
    with ctx.db.session() as s:
        qid = s.scalar(select(ExitFollowup.id))
    intruder = transport.chat(2)
    assert "Accès refusé" in intruder.press_data(f"ex:s:{qid}:cdi")[-1].text
    with ctx.db.session() as s:
        assert s.get(Participant, ended["participant"]).exit_situation is None
        # Paul and Luc (no end date) and Carla (ends 30/11/2025) were never asked about.
        assert s.scalar(select(ExitFollowup.participant_id)) == ended["participant"]


def test_the_facilitator_records_an_exit_in_chat(ctx, world, core, ended):
    from bot.console import ConsoleChat
    from tests.bot.conftest import link_user

    link_user(ctx, world["facilitator"], -3)
    fanny = ConsoleChat(core, account=3)
    pid = ended["participant"]
    assert "par exemple « /sortie 12 cdi 30/06/2025 »" in fanny.send("/sortie")[-1].text
    assert "encore sous contrat le 12/06/2025" in fanny.send(f"/sortie {pid} cdi 12/06/2025")[-1].text
    assert "Date de sortie : date illisible" in fanny.send(f"/sortie {pid} cdi hier")[-1].text
    done = fanny.send(f"/sortie {pid} cdi 13/06/2025")[-1].text
    assert done == "✅ Sortie enregistrée pour KOFFI Awa au 13/06/2025 : Emploi durable — CDI."
    link_company(ctx, world, account=4)
    boss = ConsoleChat(core, account=4)
    assert "n'est pas disponible pour votre profil" in boss.send(f"/sortie {pid} cdi 13/06/2025")[-1].text
    assert "bouton" in boss.send("/aide")[-1].text
    with ctx.db.session() as s:
        assert s.get(Participant, pid).exit_situation == "cdi"
    assert run_job(ctx, "exits").done == 0  # recorded already: the employer is not asked
