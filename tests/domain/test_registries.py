"""The registry and fee rules at their edges (factories for the surroundings; the journeys are
in tests/cli/test_registries_journey.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.due import DueRules, convention_renewals
from clauses.fees import FINAL, START, MilestoneDue, milestones_due, reach_milestone
from clauses.registries import (
    RegistryError,
    add_referent,
    convention_in_force,
    convention_last_day,
    create_convention,
    create_prescriber,
    edit_convention,
    edit_prescriber,
    end_referent,
    parse_prescriber_kind,
)
from clauses.reminders import donneur_recipients
from clauses.senders import identify_sender
from storage.models import (
    Channel,
    Convention,
    FeeMilestone,
    MarketStatus,
    PrescriberKind,
    Role,
)
from tests import factories as f

D = dt.date
ADMIN = Actor(role=Role.ADMIN, channel=Channel.CLI, label="test")


def _conv(s, donneur, ref: str, start: dt.date, months: int = 48, **kw):
    return create_convention(s, ADMIN, donneur=donneur.name, reference=ref, start=start,
                             duration_months=months, **kw)


def test_convention_last_day_edges(db):
    with db.session() as s:
        d = f.donneur(s, "Ville A")
        first = _conv(s, d, "C1", D(2022, 1, 1), 48)  # starts on the 1st
        assert convention_last_day(first) == D(2025, 12, 31)
        other = f.donneur(s, "Ville B")
        late = _conv(s, other, "C2", D(2024, 1, 31), 1, notice_months=0)  # from the 31st
        assert convention_last_day(late) == D(2024, 2, 28)


def test_conventions_may_follow_each_other_but_not_overlap_by_one_day(db):
    with db.session() as s:
        d = f.donneur(s, "Ville A")
        c1 = _conv(s, d, "C1", D(2022, 7, 25))  # last day 24/07/2026
        with pytest.raises(RegistryError, match="Chevauchement"):
            _conv(s, d, "C2", D(2026, 7, 24))
        assert s.scalar(select(Convention.id).where(Convention.reference == "C2")) is None
        nxt = _conv(s, d, "C3", D(2026, 7, 25))
        assert convention_in_force(s, d.id, D(2026, 7, 24)).reference == "C1"
        assert convention_in_force(s, d.id, D(2026, 7, 25)) is nxt
        assert convention_in_force(s, d.id, D(2022, 7, 24)) is None
        with pytest.raises(RegistryError, match="Chevauchement"):
            edit_convention(s, ADMIN, "C1", duration_months=49)  # would reach 24/08/2026
        assert convention_last_day(c1) == D(2026, 7, 24)  # unchanged


def test_renewal_is_due_from_end_minus_notice_until_the_last_day(db):
    rules = DueRules()
    with db.session() as s:
        d = f.donneur(s, "Ville A")
        _conv(s, d, "C1", D(2022, 7, 25), notice_months=3)  # last day Fri 24/07/2026
        assert convention_renewals(s, D(2026, 4, 23), rules) == []
        assert [i.reference for i in convention_renewals(s, D(2026, 4, 24), rules)] == ["C1"]
        assert len(convention_renewals(s, D(2026, 7, 24), rules)) == 1  # expiry day
        assert convention_renewals(s, D(2026, 7, 27), rules) == []


def test_fee_milestones_on_the_start_day_with_the_convention_in_force(db):
    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville A")
        _conv(s, d, "C1", D(2022, 3, 1), 48, fee_amount=Decimal(4000),
              fee_start_share=Decimal("0.33"))  # last day 28/02/2026
        on_last_day = f.market(s, d, reference="M1", start=D(2026, 2, 28),
                               end=D(2026, 12, 31), facilitator=fac)
        after = f.market(s, d, reference="M2", start=D(2026, 3, 1), end=D(2026, 12, 31),
                         status=MarketStatus.PREVU)
        assert [i.market_id for i in milestones_due(s, D(2026, 2, 27))] == []
        [due] = milestones_due(s, D(2026, 2, 28))
        assert due.market_id == on_last_day.id and due.on == D(2026, 2, 28)
        assert reach_milestone(s, due) and not reach_milestone(s, due)
        [m1] = s.scalars(select(FeeMilestone)).all()
        assert (m1.amount, m1.convention_id is not None) == (Decimal("1320.00"), True)
        [due2] = milestones_due(s, D(2026, 3, 1))
        assert reach_milestone(s, due2)
        assert after.status == MarketStatus.EN_COURS
        m2 = s.scalar(select(FeeMilestone).where(FeeMilestone.market_id == after.id))
        assert (m2.amount, m2.convention_id) == (None, None)  # no convention on 01/03/2026
        # The final part is the rest of the fee: 4 000 − 1 320 = 2 680.
        assert reach_milestone(s, MilestoneDue("k", on_last_day.id, FINAL, D(2026, 2, 28)))
        final = s.scalar(select(FeeMilestone).where(FeeMilestone.kind == FINAL))
        assert final.amount == Decimal("2680.00")
        assert {m.kind for m in s.scalars(select(FeeMilestone))} == {START, FINAL}


def test_an_old_milestone_seen_first_is_recorded_without_an_alert(db):
    from storage.models import Alert

    with db.session() as s:
        d = f.donneur(s, "Ville A")
        old = f.market(s, d, reference="OLD", start=D(2025, 1, 1), end=D(2025, 12, 31))
        recent = f.market(s, d, reference="NEW", start=D(2025, 5, 16), end=D(2025, 12, 31))
        items = {i.market_id: i for i in milestones_due(s, D(2025, 6, 16))}
        assert (items[old.id].alert, items[recent.id].alert) == (False, True)  # 31 days: alerted
        for item in items.values():
            assert reach_milestone(s, item)
        assert [a.subject_id for a in s.scalars(select(Alert))] == [recent.id]
        assert len(s.scalars(select(FeeMilestone)).all()) == 2


def test_a_deactivated_company_is_no_longer_recognised_nor_reminded(db):
    from clauses.registries import deactivate_company
    from storage.models import Engagement, User

    with db.session() as s:
        d = f.donneur(s, "Ville A")
        lt = f.lot(s, f.market(s, d, reference="M1"))
        company = f.company(s, "BTP", email="chef@btp.test")
        other = f.company(s, "Autre", email="chef@autre.test")
        eng = f.engagement(s, lt, company)
        kept = f.engagement(s, lt, other)
        boss = f.user(s, Role.ENTREPRISE, email="boss@btp.test", company_id=company.id)
        assert deactivate_company(s, ADMIN, company, D(2025, 9, 30)) == 1
        assert (eng.ended_on, s.get(Engagement, kept.id).ended_on) == (D(2025, 9, 30), None)
        assert s.get(User, boss.id).active is False
        assert identify_sender(s, "chef@btp.test") is None
        assert identify_sender(s, "boss@btp.test") is None
        assert identify_sender(s, "chef@autre.test").company_id == other.id
        with pytest.raises(RegistryError, match="déjà désactivée"):
            deactivate_company(s, ADMIN, company, D(2025, 10, 1))


def test_an_engagement_ended_mid_month_is_reminded_for_that_month_only(db):
    from clauses.due import _missing_lines
    from clauses.registries import end_engagement

    with db.session() as s:
        d = f.donneur(s, "Ville A")
        lt = f.lot(s, f.market(s, d, reference="M1"))
        eng = f.engagement(s, lt, f.company(s, "BTP"))
        f.contract(s, f.participant(s), eng, start=D(2025, 2, 1), end=None)
        end_engagement(s, ADMIN, eng, D(2025, 9, 15))
        assert list(_missing_lines(s, D(2025, 9, 1))) == [eng.company_id]  # ends mid-September
        assert list(_missing_lines(s, D(2025, 10, 1))) == []
        end_day = f.engagement(s, f.lot(s, lt.market, number=2), f.company(s, "Autre"))
        f.contract(s, f.participant(s, "Martin"), end_day, start=D(2025, 2, 1), end=None)
        end_engagement(s, ADMIN, end_day, D(2025, 10, 1))  # a period ending on the 1st
        assert list(_missing_lines(s, D(2025, 10, 1))) == [end_day.company_id]
        assert list(_missing_lines(s, D(2025, 11, 1))) == []


def test_a_share_finer_than_a_percent_is_refused_not_rounded(db):
    with db.session() as s:
        d = f.donneur(s, "Ville A")
        with pytest.raises(RegistryError, match="au pour cent près"):
            _conv(s, d, "C1", D(2022, 3, 1), fee_amount=Decimal(4000),
                  fee_start_share=Decimal("0.333"))


def test_prescriber_domain_and_staff_recognise_mail_until_ended(db):
    with db.session() as s:
        company = f.company(s, "BTP", email="chef@btp.test")
        ft = create_prescriber(s, ADMIN, name="France Travail Sud", kind=PrescriberKind.FRANCE_TRAVAIL,
                               domains=["@FranceTravail.test"], emails=["lea@ml.test"])
        actor = identify_sender(s, "Conseiller <any.one@francetravail.test>")
        assert (actor.role, actor.prescriber_id) == (Role.PRESCRIPTEUR, ft.id)
        assert identify_sender(s, "lea@ml.test").prescriber_id == ft.id
        assert identify_sender(s, "chef@btp.test").company_id == company.id
        with pytest.raises(RegistryError, match="déjà celui de « France Travail Sud »"):
            create_prescriber(s, ADMIN, name="Autre", kind=PrescriberKind.AUTRE,
                              domains=["francetravail.test"])
        edit_prescriber(s, ADMIN, "france travail", remove_emails=["lea@ml.test"])
        assert identify_sender(s, "lea@ml.test") is None
        edit_prescriber(s, ADMIN, "France Travail Sud", remove_domains=["francetravail.test"])
        assert identify_sender(s, "any.one@francetravail.test") is None
        # Now free, the domain can be claimed by another organisation.
        create_prescriber(s, ADMIN, name="Autre", kind=PrescriberKind.AUTRE,
                          domains=["francetravail.test"])
        assert parse_prescriber_kind("Mission Locale") == PrescriberKind.MISSION_LOCALE
        assert parse_prescriber_kind("département") == PrescriberKind.DEPARTEMENT


def test_an_ended_referent_gets_nothing_more_and_a_company_cannot_act(db):
    with db.session() as s:
        d = f.donneur(s, "Ville A")
        add_referent(s, ADMIN, donneur="Ville A", name="Juliette REY", email="j@ville.test")
        add_referent(s, ADMIN, donneur="Ville A", name="Marc ROUX", email="m@ville.test",
                     position="DGS")
        assert [r.email for r in donneur_recipients(s, d.id)] == ["j@ville.test", "m@ville.test"]
        end_referent(s, ADMIN, "J@ville.test")
        assert [r.email for r in donneur_recipients(s, d.id)] == ["m@ville.test"]
        assert identify_sender(s, "j@ville.test") is None
        company_user = Actor(role=Role.ENTREPRISE, channel=Channel.EMAIL, label="x", company_id=1)
        with pytest.raises(NotAllowed):
            add_referent(s, company_user, donneur="Ville A", name="X", email="x@ville.test")


def _milestone_world(s, n: int, fac, name: str = "A") -> tuple[list, list]:
    """`n` pairs of markets alike but for their reference: one of each pair goes through the
    set-based path, its twin through the per-item path. Starts on the convention's last day
    (28/02/2026), the day after (01/03/2026, no convention) and earlier; some « prévu »."""
    d = f.donneur(s, f"Ville {name}")
    _conv(s, d, f"C-{name}", D(2022, 3, 1), 48, fee_amount=Decimal(4000),
          fee_start_share=Decimal("0.33"))  # last day 28/02/2026
    starts = [D(2026, 2, 28), D(2026, 3, 1), D(2025, 1, 1), D(2022, 3, 1)]
    pairs: tuple[list, list] = ([], [])
    for k in range(n):
        for side, label in zip(pairs, "AB", strict=True):
            side.append(f.market(s, d, reference=f"{name}-{label}{k}", start=starts[k % 4],
                                 end=D(2026, 12, 31), facilitator=fac,
                                 status=MarketStatus.PREVU if k % 3 == 0 else MarketStatus.EN_COURS))
    return pairs


def test_past_milestones_set_based_match_the_per_item_rule(db):
    """The first run after a history import records old milestones set-based: same rows,
    amounts, conventions, market status and audit entries as :func:`reach_milestone`."""
    from clauses.fees import record_past_milestones
    from storage.models import Alert, AuditEntry

    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        set_side, item_side = _milestone_world(s, 8, fac)
        due = [i for i in milestones_due(s, D(2026, 6, 1)) if not i.alert]
        assert len(due) == 16  # every start is more than 31 days before 01/06/2026
        ids_a = {m.id for m in set_side}
        assert record_past_milestones(s, [i for i in due if i.market_id in ids_a]) == 8
        assert record_past_milestones(s, [i for i in due if i.market_id in ids_a]) == 0  # once
        for item in (i for i in due if i.market_id not in ids_a):
            assert reach_milestone(s, item)
        s.expire_all()

        def seen(market) -> tuple:
            row = s.scalar(select(FeeMilestone).where(FeeMilestone.market_id == market.id))
            actions = sorted(s.scalars(select(AuditEntry.action).where(
                AuditEntry.subject_type == "market", AuditEntry.subject_id == market.id)))
            return (row.kind, row.reached_on, row.amount, row.convention_id, market.status, actions)

        for a, b in zip(set_side, item_side, strict=True):
            assert seen(a) == seen(b)
        assert seen(set_side[0])[2:4] == (Decimal("1320.00"), s.scalar(select(Convention.id)))
        assert seen(set_side[1])[2:4] == (None, None)  # the day after the convention's last day
        assert seen(set_side[0])[4] == MarketStatus.EN_COURS  # was « prévu »
        assert s.scalar(select(Alert.id)) is None  # old milestones: no alert


def test_the_fee_job_records_a_history_in_statements_that_do_not_grow_with_it(db, ctx, clock):
    """Statements of the job's first run for 6 and for 60 old markets are the same count."""
    from sqlalchemy import event

    from scheduler.jobs import run_job

    def statements(n: int) -> tuple[int, int]:
        with db.session() as s:
            fac = f.user(s, display_name=f"F{n}", email=f"f{n}@agence.test")
            _milestone_world(s, n // 2, fac, name=str(n))
        count = [0]

        def one(*_args) -> None:
            count[0] += 1

        event.listen(db.engine, "before_cursor_execute", one)
        try:
            result = run_job(ctx, "fee_milestones")
        finally:
            event.remove(db.engine, "before_cursor_execute", one)
        return count[0], result.done

    clock.set(dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC))
    small, done_small = statements(6)
    with db.session() as s:
        s.execute(FeeMilestone.__table__.delete())
    large, done_large = statements(60)
    assert (done_small, done_large) == (6, 66)  # the second run also finds the first's markets
    assert large <= small + 2, (small, large)
