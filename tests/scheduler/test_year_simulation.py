"""A year simulated day by day with a fixed clock: exactly the expected reminders and alerts, each
once, including across a downtime of 17 days and duplicate runs.

Every expected value below is derived by hand from the facts in :mod:`tests.scheduler.world`
and the French calendar of 2025 (reminder day 5, second reminder 7 days after the first,
Saturdays open, Sundays and public holidays moved to the next business day).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select

from clauses import escalation_service as esc
from clauses.actors import Actor
from clauses.alert_digest import TALLY
from clauses.reminders import approve_annual_bilan
from scheduler.jobs import run_daily
from storage.models import (
    Alert,
    AlertKind,
    Channel,
    EscalationCase,
    KeyValue,
    OutboxChannel,
    OutboxMessage,
    User,
)
from tests.scheduler import world as w

D = dt.date
START, END = D(2025, 1, 1), D(2026, 2, 3)

# (company, month) -> day of the first reminder.
FIRST = {
    ("a", D(2025, 5, 1)): D(2025, 6, 5),
    ("a", D(2025, 7, 1)): D(2025, 8, 16),  # due 2025-08-05, during the downtime: sent on restart
    ("a", D(2025, 9, 1)): D(2025, 10, 6),  # 2025-10-05 is a Sunday
    **{("b", D(2025, m, 1)): day for m, day in [
        (3, D(2025, 4, 5)), (4, D(2025, 5, 5)), (5, D(2025, 6, 5)), (6, D(2025, 7, 5)),
        (7, D(2025, 8, 16)), (8, D(2025, 9, 5)), (9, D(2025, 10, 6)), (10, D(2025, 11, 5))]},
    **{("d", D(y, m, 1)): day for y, m, day in [
        (2025, 1, D(2025, 2, 5)), (2025, 2, D(2025, 3, 5)), (2025, 3, D(2025, 4, 5)),
        (2025, 6, D(2025, 7, 5)), (2025, 7, D(2025, 8, 16)), (2025, 8, D(2025, 9, 5)),
        (2025, 9, D(2025, 10, 6)), (2025, 10, D(2025, 11, 5)), (2025, 11, D(2025, 12, 5)),
        (2025, 12, D(2026, 1, 5))]},
}
# (company, month) -> day of the second reminder (first + 7 days, if still not declared).
# A's July was declared on 2025-08-20, before its second reminder (2025-08-23): none.
# D's January-March were declared on 2025-04-15, after all their second reminders.
SECOND = {
    ("a", D(2025, 5, 1)): D(2025, 6, 12),
    ("a", D(2025, 9, 1)): D(2025, 10, 13),
    **{("b", D(2025, m, 1)): day for m, day in [
        (3, D(2025, 4, 12)), (4, D(2025, 5, 12)), (5, D(2025, 6, 12)), (6, D(2025, 7, 12)),
        (7, D(2025, 8, 23)), (8, D(2025, 9, 12)), (9, D(2025, 10, 13)), (10, D(2025, 11, 12))]},
    **{("d", D(y, m, 1)): day for y, m, day in [
        (2025, 1, D(2025, 2, 12)), (2025, 2, D(2025, 3, 12)), (2025, 3, D(2025, 4, 12)),
        (2025, 6, D(2025, 7, 12)), (2025, 7, D(2025, 8, 23)), (2025, 8, D(2025, 9, 12)),
        (2025, 9, D(2025, 10, 13)), (2025, 10, D(2025, 11, 12)), (2025, 11, D(2025, 12, 12)),
        (2025, 12, D(2026, 1, 12))]},
}
RECIPIENTS = {"a": 1, "b": 1, "d": 2}  # A: its user by chat (contact = same address); D: 2 contacts

# Meeting -> {lead: day the reminder goes out}. J-1 on a Sunday moves back to Saturday; the
# mid-year SIAE meeting's J-7 (2025-08-12) fell in the downtime and goes out on restart.
MEETINGS = {
    "launch": (D(2025, 1, 20), {7: D(2025, 1, 13), 1: D(2025, 1, 18)}),
    "siae_start": (D(2025, 2, 10), {7: D(2025, 2, 3), 1: D(2025, 2, 8)}),
    "siae_mid": (D(2025, 8, 19), {7: D(2025, 8, 16), 1: D(2025, 8, 18)}),
    "siae_end": (D(2025, 12, 9), {7: D(2025, 12, 2), 1: D(2025, 12, 8)}),
    "partnership": (D(2025, 11, 20), {7: D(2025, 11, 13), 1: D(2025, 11, 19)}),
}
MEETING_RECIPIENTS = {"launch": 6, "siae_start": 1, "siae_mid": 1, "siae_end": 1, "partnership": 2}

ALERTS = {
    AlertKind.DECLARATION_MANQUANTE: len(SECOND),
    AlertKind.ENTREPRISE_EN_RETARD: 4,  # B, C, and D twice (late, recovered, late again)
    AlertKind.REUNION: 10 + 4,  # reminders, and the meetings to plan (see below)
    AlertKind.CONVENTION: 1,
    AlertKind.BILAN_FINAL: 2,
    AlertKind.BILAN_ANNUEL: 2,
    AlertKind.COURRIER_A_APPROUVER: 1,
    AlertKind.ESCALADE_ECHEANCE: 1,
    AlertKind.FACTURATION: 2,  # the start fee milestone of each market (seed art. 7)
}


def _events(ctx, s, day: dt.date, ids: dict[str, int]) -> None:
    """What people do that day: the escalation against B, the approval of a bilan."""
    paul = Actor.from_user(s.get(User, ids["paul"]), Channel.TELEGRAM)
    case_id = s.scalar(select(EscalationCase.id).where(EscalationCase.engagement_id == ids["eb"]))
    if day == D(2025, 5, 12):
        case = esc.open_case(ctx, s, paul, ids["eb"])
        esc.transition(ctx, s, paul, case.id, "contact", note="Appel au gérant, sans suite.")
    elif day == D(2025, 5, 13):
        esc.transition(ctx, s, paul, case_id, "relance_ecrite", note="Courriel de relance.")
    elif day == D(2025, 5, 20):
        esc.approve_letter(ctx, s, paul, case_id, consent_note="Accord de la Métropole par courriel.")
    elif day == D(2025, 6, 10):
        esc.transition(ctx, s, paul, case_id, "alerte_donneur")
    elif day == D(2025, 6, 20):
        esc.transition(ctx, s, paul, case_id, "notification_defaillance")
    elif day == D(2025, 6, 23):
        esc.transition(ctx, s, paul, case_id, "calcul_penalites")
    elif day == D(2025, 7, 1):
        esc.transition(ctx, s, paul, case_id, "cloture_penalites")
    elif day == D(2026, 2, 2):
        fanny = Actor.from_user(s.get(User, ids["fanny"]), Channel.TELEGRAM)
        assert approve_annual_bilan(ctx, s, fanny, ids["oullins"], 2025)


def _ledger(s) -> dict[str, dt.date]:
    rows = s.execute(select(KeyValue.key, KeyValue.value).where(KeyValue.key.like("sent:%")))
    return {k.removeprefix("sent:"): D.fromisoformat(json.loads(v)["day"]) for k, v in rows}


def _count(s, prefix: str) -> int:
    return s.scalar(select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.dedup_key.like(f"{prefix}%"))) or 0


def test_a_year_day_by_day_sends_exactly_the_expected_reminders_once(ctx, clock, backend):
    with ctx.db.session() as s:
        world = w.build(s)
    ids = world.ids
    runs = 0
    started = time.perf_counter()
    day = START
    while day <= END:
        clock.set(w.at(day))
        with ctx.db.session() as s:
            for contract_id, month, hours in world.declarations.get(day, []):
                w.declare(s, contract_id, month, hours, clock.now())
            _events(ctx, s, day, ids)
        if not w.DOWN_FROM <= day <= w.DOWN_UNTIL:
            # Mondays, Thursdays and the restart day run twice: a duplicate run sends nothing.
            for _ in range(2 if day.weekday() in (0, 3) or day == D(2025, 8, 16) else 1):
                results = run_daily(ctx)
                runs += 1
                assert [r.errors for r in results if r.errors] == []
        day += dt.timedelta(days=1)
    elapsed = time.perf_counter() - started
    print(f"\n[{backend}] {(END - START).days + 1} days simulated, {runs} daily runs, "
          f"{elapsed:.1f} s")

    with ctx.db.session() as s:
        ledger = _ledger(s)
        case_id = s.scalar(select(EscalationCase.id))
        by_company = {ids[k]: k for k in ("a", "b", "c", "d")}

        def sent(kind: str) -> dict[tuple[str, dt.date], dt.date]:
            out = {}
            for key, when in ledger.items():
                if key.startswith(f"{kind}:company:"):
                    _, _, company_id, month = key.split(":")
                    out[(by_company[int(company_id)], D.fromisoformat(f"{month}-01"))] = when
            return out

        # Declarations: each first and second reminder on its day, none for C (no contract).
        assert sent("rappel_declaration") == FIRST
        assert sent("relance_declaration") == SECOND
        assert _count(s, "rappel_declaration:") == sum(RECIPIENTS[c] for c, _ in FIRST)
        assert _count(s, "relance_declaration:") == sum(RECIPIENTS[c] for c, _ in SECOND)
        chats = s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like("r%_declaration:%"),
            OutboxMessage.channel == OutboxChannel.CHAT)).all()
        assert {m.to_chat_id for m in chats} == {7001}
        assert len(chats) == sum(1 for c, _ in [*FIRST, *SECOND] if c == "a")

        # Lateness: one alert per change into "en retard", judged at month ends.
        retard = set(s.scalars(select(Alert.dedup_key)
                               .where(Alert.kind == AlertKind.ENTREPRISE_EN_RETARD)))
        assert retard == {
            f"retard:engagement:{ids['eb']}:2025-03-31",
            f"retard:engagement:{ids['ec']}:2025-01-31",
            f"retard:engagement:{ids['ed']}:2025-01-31",
            f"retard:engagement:{ids['ed']}:2025-09-30",
        }
        status = {k: w.engagement_status(s, ids[k]) for k in ("ea", "eb", "ec", "ed")}
        assert status == {"ea": "solde", "eb": "en_retard", "ec": "en_retard", "ed": "en_retard"}

        # Meetings: the latest due reminder of each meeting not yet started, once.
        expected_meetings = {
            f"reunion:meeting:{ids['meeting_' + name]}:{meeting_day}:j{lead}": when
            for name, (meeting_day, leads) in MEETINGS.items() for lead, when in leads.items()
        }
        assert {k: v for k, v in ledger.items() if k.startswith("reunion:")} == expected_meetings
        assert _count(s, "reunion:") == sum(2 * n for n in MEETING_RECIPIENTS.values())

        # Convention renewal, market ends, annual bilans, escalation deadline.
        assert {k: v for k, v in ledger.items() if not k.startswith(
            ("rappel_", "relance_", "reunion:"))} == {
            f"convention_renouvellement:convention:{ids['conv_oullins']}:2026-02-28":
                D(2025, 11, 28),
            f"bilan_final:market:{ids['m2']}:2025-10-31": D(2025, 11, 3),  # 1/11 holiday, 2/11 Sunday
            f"bilan_final:market:{ids['m1']}:2025-12-31": D(2026, 1, 2),  # 1/1 holiday
            f"bilan_annuel_approbation:donneur:{ids['oullins']}:2025": D(2026, 1, 31),
            f"bilan_annuel_approbation:donneur:{ids['metro']}:2025": D(2026, 1, 31),
            f"bilan_annuel:donneur:{ids['oullins']}:2025": D(2026, 2, 2),
            f"escalade_echeance:case:{case_id}:2025-06-04": D(2025, 6, 5),
            # Meetings nobody entered: 2025-030 starts on 1 March without a launch meeting
            # (asked 30 days before); the partnership meetings of each running convention's
            # year, asked from 1 February (2026-02-01 is a Sunday). Oullins has its 2025 one.
            f"planifier:lancement:market:{ids['m2']}": D(2025, 1, 30),
            f"planifier:partenariat_annuel:donneur:{ids['metro']}:2025": D(2025, 2, 1),
            f"planifier:partenariat_annuel:donneur:{ids['metro']}:2026": D(2026, 2, 2),
            f"planifier:partenariat_annuel:donneur:{ids['oullins']}:2026": D(2026, 2, 2),
        }
        bilans = s.scalars(select(OutboxMessage)
                           .where(OutboxMessage.dedup_key.like("bilan_annuel:%"))).all()
        assert sorted(m.to_address for m in bilans) == ["juliette.rey@oullins.test",
                                                        "marc.roux@oullins.test"]
        assert all(m.body_html and m.attachments for m in bilans)

        case = s.scalar(select(EscalationCase))
        assert (case.state.value, case.outcome, case.letter_deadline) == ("clos", "penalise",
                                                                         D(2025, 6, 4))
        assert case.penalty_amount == Decimal(600 * 60 + 19 * 100)  # 19 days after the deadline
        assert len(case.steps) == 8
        assert _count(s, "escalade_courrier:") == 2  # the company, and the référent's copy
        assert _count(s, "escalade_alerte_donneur:") == 1
        assert _count(s, "escalade_penalites:") == 1

        # Alerts: exact counts per kind, each pushed once to its facilitator (or to both):
        # alone, or counted in a digest (no sender runs here, so the pushes pile up past the
        # digest threshold: clauses.alert_digest).
        kinds = Counter(s.scalars(select(Alert.kind)))
        assert dict(kinds) == ALERTS
        alert_rows = expected_pushes = 0
        for alert in s.scalars(select(Alert)):
            n = _count(s, f"alert:{alert.id}:")
            assert n <= (1 if alert.facilitator_id else 2), alert.dedup_key
            alert_rows += n
            expected_pushes += 1 if alert.facilitator_id else 2
        digests = s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like("digest:%"))).all()
        assert alert_rows + sum(d.headers[TALLY]["total"] for d in digests) == expected_pushes
        alert_rows += len(digests)

        # B's contract ended on 31/10: its employer is asked once what became of the person
        # (the answer never comes, so no follow-up 6 months later).
        exit_questions = s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like("sortie:%"))).all()
        assert len(exit_questions) == 1 and "pris fin le 31/10/2025" in exit_questions[0].body_text
        assert _count(s, "suivi:") == 0

        # Nothing else went out.
        expected_total = (
            _count(s, "rappel_declaration:") + _count(s, "relance_declaration:")
            + _count(s, "reunion:") + 2 + 1 + 1 + len(bilans) + alert_rows + len(exit_questions)
        )
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == expected_total
