"""/reunion and /reunions: a facilitator records meetings in one line; others cannot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from bot.console import ConsoleChat
from clauses.clock import PARIS
from storage.models import AuditEntry, Engagement, Market, Meeting, MeetingKind, User
from tests import factories as f
from tests.bot.conftest import link_user
from tests.dialogue import converse
from tests.privacy._world import declaration


def test_a_facilitator_records_lists_and_cancels_meetings(ctx, world, core):
    link_user(ctx, world["facilitator"], -501)
    chat = ConsoleChat(core, account=501)
    done = chat.send("/reunion lancement 2025-017 03/07/2025 14h30 Mairie d'Oullins")[-1].text
    assert "Réunion de lancement enregistrée" in done and "03/07/2025 à 14:30" in done
    done = chat.send("/reunion partenariat Ville d'Oullins 05/09/2025 10h")[-1].text
    assert "Réunion annuelle de partenariat enregistrée" in done
    done = chat.send("/reunion siae-fin 09/12/2025 à 9h")[-1].text  # every SIAE, no market
    assert "fin d'année" in done

    listed = chat.send("/reunions")[-1].text
    assert listed.index("03/07/2025") < listed.index("05/09/2025") < listed.index("09/12/2025")
    assert "Mairie d'Oullins" in listed
    with ctx.db.session() as s:
        meetings = {m.kind: m for m in s.scalars(select(Meeting))}
        assert meetings[MeetingKind.PARTENARIAT_ANNUEL].donneur_id == world["donneur"]
        assert meetings[MeetingKind.SIAE_FIN_ANNEE].market_id is None
        launch = meetings[MeetingKind.LANCEMENT].id
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "meeting.schedule"))
    assert "supprimée" in chat.send(f"/reunion annuler {launch}")[-1].text
    assert "03/07/2025" not in chat.send("/reunions")[-1].text


def test_mistakes_get_what_to_fix(ctx, world, core):
    link_user(ctx, world["facilitator"], -502)
    chat = ConsoleChat(core, account=502)
    converse(chat, [
        ("/reunion", "Exemples"),
        ("/reunion apero 2025-017 03/07/2025", "Type de réunion inconnu"),
        ("/reunion lancement 1999-404 03/07/2025", "Ni marché ni donneur"),
        ("/reunion lancement 2025-017 03/01/2025", "est passée"),
        ("/reunion lancement 2025-017 demain", "la date"),
        ("/reunion annuler douze", "numéro"),
    ])
    with ctx.db.session() as s:
        assert s.scalar(select(Meeting.id)) is None


def test_companies_and_referents_do_not_have_the_command(ctx, world, core):
    link_user(ctx, world["company_user"], -503)
    link_user(ctx, world["referent_user"], -504)
    for account in (503, 504):
        reply = ConsoleChat(core, account=account).send(
            "/reunion lancement 2025-017 03/07/2025")[-1].text
        assert "enregistrée" not in reply
    with ctx.db.session() as s:
        assert s.scalar(select(Meeting.id)) is None


def test_the_point_of_an_anru_market_says_where_the_qpv_share_stands(ctx, world, core):
    """/point in the chat, on a market with a 5 % target for QPV residents."""
    with ctx.db.session() as s:
        s.get(Market, world["market"]).qpv_hours_share_min = Decimal("0.05")
        resident = f.participant(s, "Benali", "Sami", qpv=True,
                                 validated_by=s.get(User, world["facilitator"]))
        k = f.contract(s, resident, s.get(Engagement, world["engagement"]),
                       start=dt.date(2025, 1, 6))
        declaration(s, k, dt.date(2025, 3, 1), 40)
    link_user(ctx, world["facilitator"], -505)
    text = ConsoleChat(core, account=505).send("/point 2025-017")[0].text.replace("\u202f", " ")
    assert "Résident·es QPV : 40 h" in text and "objectif 5 %" in text


def test_the_time_and_place_are_read_as_typed(ctx, world, core):
    link_user(ctx, world["facilitator"], -506)
    chat = ConsoleChat(core, account=506)
    for line, when, place in (
        ("/reunion lancement 2025-017 03/07/2025 à 14h30 Mairie d'Oullins", (14, 30), "Mairie d'Oullins"),
        ("/reunion suivi 2025-017 04/07/2025 10 h 30", (10, 30), None),
        ("/reunion suivi 2025-017 07/07/2025 14H Chantier", (14, 0), "Chantier"),
    ):
        assert "enregistrée" in chat.send(line)[-1].text, line
        with ctx.db.session() as s:
            m = s.scalar(select(Meeting).order_by(Meeting.id.desc()))
            local = m.scheduled_at.astimezone(PARIS)
            assert ((local.hour, local.minute), m.location) == (when, place), line
    assert "illisible" in chat.send("/reunion suivi 2025-017 03/07/99999")[-1].text


def test_odd_numbers_and_long_places_get_an_answer(ctx, world, core):
    link_user(ctx, world["facilitator"], -507)
    chat = ConsoleChat(core, account=507)
    assert "Aucune réunion n° 99999999999999999999" in chat.send(
        "/reunion annuler 99999999999999999999")[-1].text
    assert "numéro" in chat.send("/reunion annuler ²")[-1].text
    reply = chat.send("/reunion suivi 2025-017 03/07/2025 9h " + "x" * 250)[-1].text
    assert "Lieu trop long (250 caractères)" in reply
    with ctx.db.session() as s:
        assert s.scalar(select(Meeting.id)) is None


def test_cancelling_a_meeting_cancels_its_queued_reminders_and_its_number_is_not_reused(
        ctx, world, core, clock):
    from scheduler.jobs import run_job
    from storage.models import OutboxMessage, OutboxStatus

    link_user(ctx, world["facilitator"], -508)
    chat = ConsoleChat(core, account=508)
    chat.send("/reunion lancement 2025-017 17/06/2025 14h Mairie")  # tomorrow: J-1 is due today
    with ctx.db.session() as s:
        first = s.scalar(select(Meeting.id))
    assert run_job(ctx, "meetings").done == 1
    with ctx.db.session() as s:
        queued = s.scalars(select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.PENDING)).all()
        assert queued and any(m.dedup_key.startswith(f"reunion:meeting:{first}:") for m in queued)
    reply = chat.send(f"/reunion annuler {first}")[-1].text
    assert "supprimée" in reply and "rappel(s) déjà prévu(s) annulé(s)" in reply
    with ctx.db.session() as s:
        assert s.scalars(select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.PENDING)).all() == []
    chat.send("/reunion lancement 2025-017 17/06/2025 16h Mairie")  # entered again, corrected
    with ctx.db.session() as s:
        assert s.scalar(select(Meeting.id)) != first
    assert run_job(ctx, "meetings").done == 1  # the corrected meeting is reminded
