"""A fixture territory for the year simulation, with known gaps in the declarations.

Everything the simulated year must produce follows from the facts written here (see the
expected counts in test_year_simulation.py, derived by hand from these facts and the calendar).

* Facilitators: Fanny (chat linked) and Paul (e-mail only).
* Ville d'Oullins (2 référents) — convention 2023-03-01, 36 months, 3 months' notice (ends
  2026-02-28, renewal reminder 2025-11-28); market 2025-017 from 2025-01-01 to 2025-12-31
  (facilitator Fanny) with three lots.
* Métropole (1 référent) — convention ending 2027; market 2025-030 from 2025-03-01 to 2025-10-31
  (facilitator Paul), one lot of 600 h, amount 400 000 € HT.
* A "BTP Rhône" (facilitator Fanny; one user with chat whose address is also the contact's):
  lot 1 of 2025-017, 1 200 h; declares 150 h on the 3rd of the next month, except May and
  September (never) and July (declared late, on 2025-08-20).
* B "Façades Lyon" (facilitator Paul; one e-mail contact): 2025-030, 600 h; never declares.
  An escalation runs against it from May to July.
* C "Tremplin Bâtiment" (EI, an SIAE; one e-mail contact): lot 2 of 2025-017, 300 h, no contract.
* D "Peinture Dupuis" (no facilitator of its own: the market's, Fanny; two e-mail contacts):
  lot 3 of 2025-017, 600 h; declares January to March (80 h each) late on 2025-04-15, April and
  May (60 h each) on the 3rd of the next month, then nothing.
* Meetings: launch of 2025-017 on 2025-01-20; SIAE meetings on 2025-02-10, 2025-08-19 (reminder
  J-7 falls in the downtime) and 2025-12-09; partnership with Oullins on 2025-11-20; a follow-up
  meeting on 2025-08-07, entirely inside the downtime (no reminder: too late).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from clauses.clock import PARIS
from clauses.counting import add_months
from storage.models import (
    Channel,
    ChatLink,
    CompanyKind,
    Contact,
    ContactKind,
    Convention,
    Engagement,
    HourDeclaration,
    Meeting,
    MeetingKind,
    Role,
)
from tests import factories as f

DOWN_FROM = dt.date(2025, 7, 30)
DOWN_UNTIL = dt.date(2025, 8, 15)
"""The service is down on these days, inclusive (restart on Saturday 2025-08-16)."""


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    declarations: dict[dt.date, list[tuple[int, dt.date, Decimal]]] = field(default_factory=dict)
    """Day -> (contract id, month, hours) declared that day."""

    def plan(self, day: dt.date, contract_id: int, month: dt.date, hours: int) -> None:
        self.declarations.setdefault(day, []).append((contract_id, month, Decimal(hours)))


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)


def declared_territory(s: Session) -> dict:
    """The factory territory with 120 h declared in February, March and April 2025 and a
    référent to send to: what an annual bilan of 2025 needs (tests of the annual bilan job)."""
    t = f.territory(s)
    for month in (2, 3, 4):
        s.add(HourDeclaration(contract_id=t["contract"].id, month=dt.date(2025, month, 1),
                              work_hours=Decimal(120), counted_hours=Decimal(120),
                              source=Channel.EMAIL))
    f.referent(s, t["donneur"], "marc.roux@oullins.test")
    return t


def _contact(s: Session, company_id: int, name: str, email: str) -> Contact:
    c = Contact(kind=ContactKind.ENTREPRISE, company_id=company_id, name=name, email=email)
    s.add(c)
    s.flush()
    return c


def build(s: Session) -> World:
    w = World()
    fanny = f.user(s, Role.FACILITATEUR, display_name="Fanny", email="fanny@agence.test")
    paul = f.user(s, Role.FACILITATEUR, display_name="Paul", email="paul@agence.test")
    s.add(ChatLink(user_id=fanny.id, chat_id=5001))

    oullins = f.donneur(s, "Ville d'Oullins")
    f.referent(s, oullins, "juliette.rey@oullins.test")
    f.referent(s, oullins, "marc.roux@oullins.test")
    metro = f.donneur(s, "Métropole de Lyon")
    f.referent(s, metro, "achats@metropole.test")
    conv = Convention(donneur_id=oullins.id, reference="CONV-OULLINS-2023",
                      start_date=dt.date(2023, 3, 1), duration_months=36, notice_months=3)
    s.add_all([conv, Convention(donneur_id=metro.id, reference="CONV-METRO-2025",
                                start_date=dt.date(2025, 1, 1), duration_months=36,
                                notice_months=3)])

    m1 = f.market(s, oullins, reference="2025-017", facilitator=fanny,
                  start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    m1_l1 = f.lot(s, m1, 1, hours=1200, amount_ht=Decimal("1000000"))
    m1_l2 = f.lot(s, m1, 2, hours=300)
    m1_l3 = f.lot(s, m1, 3, hours=600)
    m2 = f.market(s, metro, reference="2025-030", facilitator=paul,
                  start=dt.date(2025, 3, 1), end=dt.date(2025, 10, 31))
    m2_l1 = f.lot(s, m2, 1, hours=600, amount_ht=Decimal("400000"))
    # The contract's penalty terms (penalties are computed only on a lot that has them).
    m2_l1.penalty_per_hour, m2_l1.penalty_per_day_late, m2_l1.penalty_cap_share = (
        Decimal(60), Decimal(100), Decimal("0.20"))

    a = f.company(s, "BTP Rhône", facilitator=fanny, email="chef@btp-rhone.test")
    ua = f.user(s, Role.ENTREPRISE, display_name="Chef BTP", company_id=a.id,
                email="chef@btp-rhone.test")
    s.add(ChatLink(user_id=ua.id, chat_id=7001))
    b = f.company(s, "Façades Lyon", facilitator=paul, email="contact@facades.test")
    c = f.company(s, "Tremplin Bâtiment", kind=CompanyKind.EI, facilitator=fanny,
                  email="contact@tremplin.test")
    d = f.company(s, "Peinture Dupuis")
    _contact(s, d.id, "Denis Dupuis", "denis@dupuis.test")
    _contact(s, d.id, "Comptabilité Dupuis", "compta@dupuis.test")

    ea = f.engagement(s, m1_l1, a)
    eb = f.engagement(s, m2_l1, b)
    ec = f.engagement(s, m1_l2, c)
    ed = f.engagement(s, m1_l3, d)

    pa = f.participant(s, "Martin", "Ali", validated_by=fanny)
    pb = f.participant(s, "Bernard", "Lucie", validated_by=paul)
    pd = f.participant(s, "Durand", "Nora", validated_by=fanny)
    ka = f.contract(s, pa, ea, start=dt.date(2025, 1, 1), end=None)
    kb = f.contract(s, pb, eb, start=dt.date(2025, 3, 1), end=dt.date(2025, 10, 31))
    kd = f.contract(s, pd, ed, start=dt.date(2025, 1, 1), end=None)

    meetings = {
        "launch": Meeting(kind=MeetingKind.LANCEMENT, market_id=m1.id, scheduled_at=at(dt.date(2025, 1, 20)),
                          location="Mairie d'Oullins"),
        "siae_start": Meeting(kind=MeetingKind.SIAE_DEBUT, scheduled_at=at(dt.date(2025, 2, 10), 14)),
        "siae_mid": Meeting(kind=MeetingKind.SIAE_MI_ANNEE, scheduled_at=at(dt.date(2025, 8, 19), 14)),
        "siae_end": Meeting(kind=MeetingKind.SIAE_FIN_ANNEE, scheduled_at=at(dt.date(2025, 12, 9), 14)),
        "partnership": Meeting(kind=MeetingKind.PARTENARIAT_ANNUEL, donneur_id=oullins.id,
                               scheduled_at=at(dt.date(2025, 11, 20))),
        "follow_up_in_downtime": Meeting(kind=MeetingKind.SUIVI, market_id=m1.id,
                                         scheduled_at=at(dt.date(2025, 8, 7))),
    }
    s.add_all(meetings.values())
    s.flush()

    w.ids.update(
        conv_oullins=conv.id, fanny=fanny.id, paul=paul.id, oullins=oullins.id, metro=metro.id, m1=m1.id, m2=m2.id,
        a=a.id, b=b.id, c=c.id, d=d.id, ea=ea.id, eb=eb.id, ec=ec.id, ed=ed.id,
        ka=ka.id, kb=kb.id, kd=kd.id,
        **{f"meeting_{k}": v.id for k, v in meetings.items()},
    )

    # A: 150 h on the 3rd of the next month; May and September never; July on 2025-08-20.
    for month_no in range(1, 13):
        month = dt.date(2025, month_no, 1)
        if month_no in (5, 9):
            continue
        day = dt.date(2025, 8, 20) if month_no == 7 else add_months(month, 1).replace(day=3)
        w.plan(day, ka.id, month, 150)
    # D: January-March late on 2025-04-15 (80 h), April and May on time (60 h), then nothing.
    for month_no in (1, 2, 3):
        w.plan(dt.date(2025, 4, 15), kd.id, dt.date(2025, month_no, 1), 80)
    w.plan(dt.date(2025, 5, 3), kd.id, dt.date(2025, 4, 1), 60)
    w.plan(dt.date(2025, 6, 3), kd.id, dt.date(2025, 5, 1), 60)
    return w


def declare(s: Session, contract_id: int, month: dt.date, hours: Decimal, when: dt.datetime) -> None:
    """A company's declaration as the intake stores it (CDD hours count in full)."""
    s.add(HourDeclaration(contract_id=contract_id, month=month, work_hours=hours,
                          training_hours=Decimal(0), counted_hours=hours, source=Channel.EMAIL,
                          created_at=when, updated_at=when))


def engagement_status(s: Session, engagement_id: int) -> str | None:
    return s.get(Engagement, engagement_id).last_progress_status
