"""The persisted escalation procedure: dated steps, refusals in French, consent, deadlines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from clauses import escalation_service as esc
from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.due import DueRules, escalation_deadlines
from clauses.errors import (
    ConsentRequiredError,
    DeadlineNotPassedError,
    IllegalTransitionError,
    NotEnoughContactsError,
)
from clauses.escalation_letters import letter_request
from clauses.penalties import compute_penalties, statement_lines
from mail.letters import render_letter
from storage.models import (
    Alert,
    AlertKind,
    Channel,
    EscalationCase,
    EscalationState,
    EscalationStep,
    OutboxMessage,
    User,
)
from tests import factories as f
from tests.scheduler.world import at

D = dt.date


def _setup(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        lot = t["lot"]  # the contract's penalty terms (the rulebook's default figures)
        lot.penalty_per_hour, lot.penalty_per_day_late, lot.penalty_cap_share = (
            Decimal(60), Decimal(100), Decimal("0.20"))
        ids = {k: v.id for k, v in t.items()}
    return ids


def _text(row: OutboxMessage) -> str:
    """The letter as the e-mail sender renders it from its template (mail.letters)."""
    request = letter_request(row.attachments)
    assert request is not None
    return render_letter(request["template"], request["context"]).text


def _staff(s, ids) -> Actor:
    return Actor.from_user(s.get(User, ids["facilitator"]), Channel.TELEGRAM)


def _outbox(s, prefix: str) -> list[OutboxMessage]:
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like(f"{prefix}%"))
                          .order_by(OutboxMessage.id)))


def _case_to_letter(ctx, clock, ids) -> int:
    """Open, two contacts (one written), the buyer's consent and the letter on 2025-06-18."""
    with ctx.db.session() as s:
        staff = _staff(s, ids)
        clock.set(at(D(2025, 6, 16), 9, 0))
        case = esc.open_case(ctx, s, staff, ids["engagement"], note="Retard constaté.")
        clock.set(at(D(2025, 6, 16), 11, 30))
        esc.transition(ctx, s, staff, case.id, "contact", note="Appel au conducteur de travaux.")
        clock.set(at(D(2025, 6, 17), 15, 0))
        esc.transition(ctx, s, staff, case.id, "relance_ecrite", note="Courriel de relance.")
        clock.set(at(D(2025, 6, 18), 10, 0))
        esc.approve_letter(ctx, s, staff, case.id, consent_note="Accord de J. Rey par téléphone.")
        return case.id


def test_legal_path_records_each_step_with_who_and_when(ctx, clock):
    ids = _setup(ctx)
    case_id = _case_to_letter(ctx, clock, ids)
    with ctx.db.session() as s:
        staff = _staff(s, ids)
        case = s.get(EscalationCase, case_id)
        assert case.state == EscalationState.COURRIER_ENVOYE
        assert case.buyer_consent_note == "Accord de J. Rey par téléphone."
        assert (case.letter_sent_on, case.letter_deadline) == (D(2025, 6, 18), D(2025, 7, 3))
        # The facilitator was asked for the letter once two contacts (one written) were made.
        offer = s.scalar(select(Alert).where(Alert.kind == AlertKind.COURRIER_A_APPROUVER))
        assert offer.facilitator_id == ids["facilitator"]
        letters = _outbox(s, f"escalade_courrier:case:{case_id}:")
        assert [m.to_address for m in letters] == ["chef@btp-rhone.test",
                                                   "juliette.rey@oullins.test"]
        assert "au plus tard le 03/07/2025" in _text(letters[0])
        assert "2 prises de contact, dont 1 par écrit" in _text(letters[0])
        assert _text(letters[1]).startswith("Copie pour information")
        esc.approve_letter(ctx, s, staff, case_id)  # a second press of the button: nothing
        assert len(_outbox(s, f"escalade_courrier:case:{case_id}:")) == 2
        assert s.get(EscalationCase, case_id).letter_deadline == D(2025, 7, 3)

        clock.set(at(D(2025, 7, 4), 9, 0))  # the day after the deadline
        esc.transition(ctx, s, staff, case_id, "alerte_donneur")
        clock.set(at(D(2025, 7, 10), 9, 0))
        esc.transition(ctx, s, staff, case_id, "notification_defaillance",
                       note="Mise en demeure notifiée par la Ville.")
        clock.set(at(D(2025, 7, 15), 9, 0))
        esc.transition(ctx, s, staff, case_id, "calcul_penalites")
        clock.set(at(D(2025, 7, 31), 9, 0))
        esc.transition(ctx, s, staff, case_id, "cloture_penalites")

    with ctx.db.session() as s:
        steps = s.scalars(select(EscalationStep).where(EscalationStep.case_id == case_id)
                          .order_by(EscalationStep.id)).all()
        assert [(st.event, st.from_state, st.to_state) for st in steps] == [
            ("ouverture", None, EscalationState.OUVERT),
            ("contact", EscalationState.OUVERT, EscalationState.CONTACTE),
            ("relance_ecrite", EscalationState.CONTACTE, EscalationState.RELANCE_ECRITE),
            ("courrier", EscalationState.RELANCE_ECRITE, EscalationState.COURRIER_ENVOYE),
            ("alerte_donneur", EscalationState.COURRIER_ENVOYE, EscalationState.DONNEUR_ALERTE),
            ("notification_defaillance", EscalationState.DONNEUR_ALERTE,
             EscalationState.DEFAILLANCE_NOTIFIEE),
            ("calcul_penalites", EscalationState.DEFAILLANCE_NOTIFIEE,
             EscalationState.PENALITES_CALCULEES),
            ("cloture_penalites", EscalationState.PENALITES_CALCULEES, EscalationState.CLOS),
        ]
        assert [st.at for st in steps] == [
            at(D(2025, 6, 16), 9), at(D(2025, 6, 16), 11, 30), at(D(2025, 6, 17), 15),
            at(D(2025, 6, 18), 10), at(D(2025, 7, 4), 9), at(D(2025, 7, 10), 9),
            at(D(2025, 7, 15), 9), at(D(2025, 7, 31), 9),
        ]
        assert {st.by_user_id for st in steps} == {ids["facilitator"]}
        history = esc.history(s, _staff(s, ids), case_id)
        assert history[1].description_fr == ("16/06/2025 11:30 : contact (téléphone, rencontre) "
                                             "(Fanny Facilitatrice) — Appel au conducteur de travaux.")

        case = s.get(EscalationCase, case_id)
        assert (case.state, case.outcome, case.formal_notice_on) == (
            EscalationState.CLOS, "penalise", D(2025, 7, 10))
        assert case.closed_at == at(D(2025, 7, 31), 9)
        # Penalties from clauses.penalties: 833 h missing, 12 days after the 3 July deadline.
        expected = compute_penalties(Decimal(833), Decimal(0), Decimal(1000000), 12, None,
                                     ctx.rulebook)
        assert case.penalty_amount == expected.total
        assert case.penalty_explanation == "\n".join(statement_lines(expected))
        [buyer_alert] = _outbox(s, f"escalade_alerte_donneur:case:{case_id}:")
        assert buyer_alert.to_address == "juliette.rey@oullins.test"
        assert "échu le 03/07/2025" in _text(buyer_alert)
        [penalties] = _outbox(s, f"escalade_penalites:case:{case_id}:")
        assert all(line in _text(penalties) for line in statement_lines(expected))
        assert esc.open_cases(s, _staff(s, ids)) == []


def test_illegal_transition_is_refused_in_french_and_nothing_is_written(ctx, clock):
    ids = _setup(ctx)
    with ctx.db.session() as s:
        staff = _staff(s, ids)
        case = esc.open_case(ctx, s, staff, ids["engagement"])
        with pytest.raises(IllegalTransitionError) as err:
            esc.transition(ctx, s, staff, case.id, "alerte_donneur")
        assert "Impossible : « alerte du donneur d'ordre » depuis l'état « ouvert »" in str(err.value)
        assert "Actions possibles : contact" in err.value.message_fr
        with pytest.raises(IllegalTransitionError, match="Action inconnue : « bidule »"):
            esc.transition(ctx, s, staff, case.id, "bidule")
        assert s.get(EscalationCase, case.id).state == EscalationState.OUVERT
        assert s.scalar(select(func.count()).select_from(EscalationStep)) == 1
        with pytest.raises(esc.CaseAlreadyOpen, match="déjà ouverte"):
            esc.open_case(ctx, s, staff, ids["engagement"])
        with pytest.raises(esc.CaseNotFound, match="Procédure n° 999 introuvable"):
            esc.transition(ctx, s, staff, 999, "contact")
        company = Actor.from_user(s.get(User, ids["company_user"]), Channel.TELEGRAM)
        with pytest.raises(NotAllowed):
            esc.transition(ctx, s, company, case.id, "contact")
        with pytest.raises(NotAllowed):
            esc.open_cases(s, company)


def test_the_letter_requires_the_buyers_consent_and_enough_contacts(ctx, clock):
    ids = _setup(ctx)
    with ctx.db.session() as s:
        staff = _staff(s, ids)
        case = esc.open_case(ctx, s, staff, ids["engagement"])
        with pytest.raises(NotEnoughContactsError, match="au moins 2 contacts dont 1 par écrit"):
            esc.approve_letter(ctx, s, staff, case.id)
        assert s.get(EscalationCase, case.id).buyer_consent_at is None  # rolled back with it
        esc.transition(ctx, s, staff, case.id, "contact")
        esc.transition(ctx, s, staff, case.id, "relance_ecrite")
        with pytest.raises(ConsentRequiredError, match="avec l'accord du donneur d'ordre"):
            esc.transition(ctx, s, staff, case.id, "courrier")
        assert s.get(EscalationCase, case.id).state == EscalationState.RELANCE_ECRITE
        assert _outbox(s, "escalade_courrier:") == []
        esc.transition(ctx, s, staff, case.id, "courrier", consent_note="Accord écrit du 15/06.")
        row = s.get(EscalationCase, case.id)
        assert row.state == EscalationState.COURRIER_ENVOYE
        assert row.buyer_consent_note == "Accord écrit du 15/06."
        assert len(_outbox(s, "escalade_courrier:")) == 2


def test_deadline_passed_is_detected_on_the_next_business_day(ctx, clock):
    ids = _setup(ctx)
    case_id = _case_to_letter(ctx, clock, ids)  # deadline Thursday 3 July 2025
    rules = DueRules()
    with ctx.db.session() as s:
        staff = _staff(s, ids)
        case = s.get(EscalationCase, case_id)
        clock.set(at(D(2025, 7, 3), 18))
        assert not esc.deadline_passed(ctx, case)
        assert escalation_deadlines(s, clock.today(), rules) == []
        with pytest.raises(DeadlineNotPassedError, match="court jusqu'au 03/07/2025"):
            esc.transition(ctx, s, staff, case_id, "alerte_donneur")
        clock.set(at(D(2025, 7, 4), 8))
        assert esc.deadline_passed(ctx, case)
        [due] = escalation_deadlines(s, clock.today(), rules)
        assert (due.case_id, due.deadline, due.facilitator_id) == (case_id, D(2025, 7, 3),
                                                                   ids["facilitator"])
        [view] = esc.open_cases(s, staff, now=clock.now())
        assert view.deadline_passed and view.state_label.startswith("courrier de rappel")
        assert view.allowed == (("alerte_donneur", "alerte du donneur d'ordre"),
                                ("resolution", "résolution (l'entreprise a régularisé)"))


def test_a_refusal_allows_the_buyer_alert_before_the_deadline(ctx, clock):
    ids = _setup(ctx)
    case_id = _case_to_letter(ctx, clock, ids)
    with ctx.db.session() as s:
        clock.set(at(D(2025, 6, 20), 9))
        esc.transition(ctx, s, _staff(s, ids), case_id, "alerte_donneur", refused=True,
                       note="Le gérant refuse par écrit.")
        assert s.get(EscalationCase, case_id).state == EscalationState.DONNEUR_ALERTE
        [mail] = _outbox(s, f"escalade_alerte_donneur:case:{case_id}:")
        assert "a refusé de régulariser" in _text(mail)


def test_the_service_itself_is_named_on_the_step(ctx, clock):
    ids = _setup(ctx)
    with ctx.db.session() as s:
        case = esc.open_case(ctx, s, Actor.system(label="planificateur"), ids["engagement"])
        step = s.scalar(select(EscalationStep).where(EscalationStep.case_id == case.id))
        assert (step.by_user_id, step.note) == (None, "par planificateur")
