"""Meetings: entered by staff, refused with a reason when wrong, prompted when missing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.clock import PARIS
from clauses.meeting_planning import meetings_to_plan, prompt_meeting_planning
from clauses.meetings import (
    MeetingError,
    cancel_meeting,
    kind_from_word,
    parse_when,
    schedule_meeting,
    upcoming_meetings,
)
from storage.models import Alert, Channel, Convention, MarketKind, Meeting, MeetingKind, Role
from tests import factories as f

STAFF = Actor(role=Role.FACILITATEUR, channel=Channel.CLI, label="test")


def at(ctx, day: dt.date) -> None:
    ctx.clock.set(dt.datetime.combine(day, dt.time(8, 0), tzinfo=PARIS))


def test_when_is_read_as_paris_time_in_the_usual_french_shapes():
    assert parse_when("03/12/2026 14h30") == dt.datetime(2026, 12, 3, 14, 30, tzinfo=PARIS)
    assert parse_when("3/12/2026 à 9h") == dt.datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)
    assert parse_when("03/12/2026 14:05") == dt.datetime(2026, 12, 3, 14, 5, tzinfo=PARIS)
    assert parse_when("03/12/2026") == dt.datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)
    for bad in ("demain", "31/02/2026", "2026-12-03"):
        with pytest.raises(MeetingError) as refused:
            parse_when(bad)
        assert "03/12/2026 14h30" in refused.value.message_fr or "impossible" in refused.value.message_fr


def test_kind_words_are_forgiving_and_unknown_ones_list_the_choices():
    assert kind_from_word("Lancement") is MeetingKind.LANCEMENT
    assert kind_from_word("siae_mi_annee") is MeetingKind.SIAE_MI_ANNEE
    assert kind_from_word("Partenariat") is MeetingKind.PARTENARIAT_ANNUEL
    with pytest.raises(MeetingError) as refused:
        kind_from_word("apéro")
    assert "lancement" in refused.value.message_fr and "partenariat" in refused.value.message_fr


def test_schedule_list_and_cancel(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        soon = ctx.clock.now() + dt.timedelta(days=10)
        m = schedule_meeting(s, ctx.clock, STAFF, kind=MeetingKind.LANCEMENT, at=soon,
                             market_reference="2025-017", location="Mairie")
        p = schedule_meeting(s, ctx.clock, STAFF, kind=MeetingKind.PARTENARIAT_ANNUEL,
                             at=soon + dt.timedelta(days=1), market_reference="2025-017")
        assert (m.market_id, p.market_id, p.donneur_id) == (t["market"].id, None, t["donneur"].id)
        lines = [v.line_fr() for v in upcoming_meetings(s, STAFF, ctx.clock.now())]
        assert "réunion de lancement — marché 2025-017 — Mairie" in lines[0]
        assert "réunion annuelle de partenariat — Ville d'Oullins" in lines[1]
        cancel_meeting(s, STAFF, m.id)
        assert [v.id for v in upcoming_meetings(s, STAFF, ctx.clock.now())] == [p.id]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"kind": MeetingKind.LANCEMENT}, "indiquez sa référence"),
    ({"kind": MeetingKind.LANCEMENT, "market_reference": "1999-404"}, "Marché inconnu : « 1999-404 »"),
    ({"kind": MeetingKind.PARTENARIAT_ANNUEL}, "donneur d'ordre"),
    ({"kind": MeetingKind.LANCEMENT, "market_reference": "2025-017", "days": -1}, "est passée"),
])
def test_wrong_meetings_are_refused_with_what_to_fix(ctx, kwargs, expected):
    with ctx.db.session() as s:
        f.territory(s)
        kwargs = dict(kwargs)  # parametrised values are shared between the two backends
        days = kwargs.pop("days", 3)
        with pytest.raises(MeetingError) as refused:
            schedule_meeting(s, ctx.clock, STAFF, at=ctx.clock.now() + dt.timedelta(days=days),
                             **kwargs)
        assert expected in refused.value.message_fr
        assert s.scalar(select(func.count()).select_from(Meeting)) == 0


def test_companies_and_referents_cannot_schedule_or_list(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        for actor in (Actor(role=Role.ENTREPRISE, channel=Channel.TELEGRAM, label="x",
                            company_id=t["company"].id),
                      Actor(role=Role.REFERENT, channel=Channel.TELEGRAM, label="y",
                            donneur_id=t["donneur"].id)):
            with pytest.raises(NotAllowed):
                schedule_meeting(s, ctx.clock, actor, kind=MeetingKind.LANCEMENT,
                                 at=ctx.clock.now() + dt.timedelta(days=3),
                                 market_reference="2025-017")
            with pytest.raises(NotAllowed):
                upcoming_meetings(s, actor, ctx.clock.now())


def _siae_world(s):
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny", email="fanny@agence.test")
    d = f.donneur(s, "Métropole")
    s.add(Convention(donneur_id=d.id, reference="CONV-1", start_date=dt.date(2025, 1, 1),
                     duration_months=36))
    reserved = f.market(s, d, reference="R-1", kind=MarketKind.MARCHE_RESERVE,
                        start=dt.date(2026, 3, 2), end=dt.date(2027, 12, 31), facilitator=fac,
                        notified_on=dt.date(2026, 2, 10))
    ordinary = f.market(s, d, reference="O-1", start=dt.date(2026, 3, 2),
                        end=dt.date(2026, 12, 31), facilitator=fac)
    s.flush()
    return fac, d, reserved, ordinary


def _keys(s, day):
    return sorted(i.key for i in meetings_to_plan(s, day))


def test_the_calendar_asks_for_each_missing_meeting_in_its_period(ctx):
    with ctx.db.session() as s:
        _fac, d, reserved, ordinary = _siae_world(s)
        r, o, dn = reserved.id, ordinary.id, d.id
        assert _keys(s, dt.date(2026, 1, 20)) == []  # nothing notified, nothing starting soon
        feb = set(_keys(s, dt.date(2026, 2, 10)))  # the reserved market is notified
        assert {f"planifier:lancement:market:{r}", f"planifier:lancement:market:{o}",
                f"planifier:siae_collective_debut:market:{r}",
                f"planifier:partenariat_annuel:donneur:{dn}:2026"} == feb
        assert _keys(s, dt.date(2026, 4, 10)) == [  # 30 days after the start: too late to ask
            f"planifier:partenariat_annuel:donneur:{dn}:2026"]
        june = set(_keys(s, dt.date(2026, 6, 1)))
        assert f"planifier:siae_mi_annee:market:{r}:2026" in june
        assert not any(f"market:{o}" in k for k in june)  # ordinary market: no SIAE meetings
        assert f"planifier:siae_collective_fin:market:{r}:2026" in set(_keys(s, dt.date(2026, 11, 2)))
        assert f"planifier:siae_collective_fin:market:{r}:2027" in set(_keys(s, dt.date(2027, 11, 2)))

        # entering the meetings satisfies the prompts
        for kind, when in ((MeetingKind.LANCEMENT, dt.datetime(2026, 3, 5, 10, tzinfo=PARIS)),
                           (MeetingKind.SIAE_DEBUT, dt.datetime(2026, 3, 6, 10, tzinfo=PARIS)),
                           (MeetingKind.SIAE_MI_ANNEE, dt.datetime(2026, 6, 20, 10, tzinfo=PARIS))):
            s.add(Meeting(kind=kind, market_id=r, scheduled_at=when))
        s.add(Meeting(kind=MeetingKind.PARTENARIAT_ANNUEL, donneur_id=dn,
                      scheduled_at=dt.datetime(2026, 10, 1, 10, tzinfo=PARIS)))
        s.flush()
        assert _keys(s, dt.date(2026, 2, 10)) == [f"planifier:lancement:market:{o}"]
        assert not any(f"market:{r}" in k for k in _keys(s, dt.date(2026, 6, 1)))


def test_a_prompt_is_one_alert_once_with_how_to_enter_the_meeting(ctx):
    with ctx.db.session() as s:
        _fac, _d, _reserved, _o = _siae_world(s)
    at(ctx, dt.date(2026, 6, 1))
    for _ in range(2):
        with ctx.db.session() as s:
            for item in meetings_to_plan(s, ctx.clock.today()):
                prompt_meeting_planning(ctx, s, item)
    with ctx.db.session() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.dedup_key.like("planifier:%"))))
        mid_year = [a for a in alerts if "mi-année" in a.message]
        assert len(mid_year) == 1
        assert "R-1" in mid_year[0].message and "/reunion siae-mi-annee R-1" in mid_year[0].message
        assert "30/09/2026" in mid_year[0].message
        assert len({a.dedup_key for a in alerts}) == len(alerts)
        [partnership] = [a for a in alerts if "partenariat" in a.message]
        assert "/reunion partenariat Métropole JJ/MM/AAAA" in partnership.message
        assert '--donneur "Métropole"' in partnership.message
