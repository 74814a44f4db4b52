"""Builders for test data: a small territory in a few lines, with sensible defaults.

Every builder adds to the given session and flushes, so ids are available at once.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.orm import Session

from storage.models import (
    Company,
    CompanyKind,
    Contact,
    ContactKind,
    Contract,
    Donneur,
    Eligibility,
    Engagement,
    Lot,
    Market,
    MarketKind,
    Participant,
    Prescriber,
    PrescriberKind,
    Role,
    User,
    utcnow,
)

_seq = itertools.count(1)


def _luhn_siret(prefix: str) -> str:
    """A SIRET that passes the Luhn check (python-stdnum validates them)."""
    from stdnum import luhn

    return prefix + luhn.calc_check_digit(prefix)


def make_siret(n: int | None = None) -> str:
    n = n if n is not None else next(_seq)
    return _luhn_siret(f"{(73282932000000 + n * 10) // 10:013d}")


def user(s: Session, role: Role = Role.FACILITATEUR, **kw) -> User:
    n = next(_seq)
    u = User(role=role, display_name=kw.pop("display_name", f"{role.value} {n}"), **kw)
    s.add(u)
    s.flush()
    return u


def donneur(s: Session, name: str | None = None, **kw) -> Donneur:
    d = Donneur(name=name or f"Ville {next(_seq)}", **kw)
    s.add(d)
    s.flush()
    return d


def referent(s: Session, d: Donneur, email: str | None = None) -> Contact:
    c = Contact(kind=ContactKind.REFERENT, donneur_id=d.id, name="Juliette REY",
                email=email or f"referent{next(_seq)}@ville.test")
    s.add(c)
    s.flush()
    return c


def market(s: Session, d: Donneur, *, reference: str | None = None,
           kind: MarketKind = MarketKind.CLAUSE_EXECUTION,
           start: dt.date = dt.date(2025, 1, 1), end: dt.date = dt.date(2025, 12, 31),
           facilitator: User | None = None, **kw) -> Market:
    m = Market(donneur_id=d.id, reference=reference or f"2025-{next(_seq):03d}",
               title=kw.pop("title", "Réhabilitation groupe scolaire"), kind=kind,
               start_date=start, end_date=end,
               facilitator_id=facilitator.id if facilitator else None, **kw)
    s.add(m)
    s.flush()
    return m


def lot(s: Session, m: Market, number: int = 1, hours: Decimal | int = 500, **kw) -> Lot:
    lt = Lot(market_id=m.id, number=number, label=kw.pop("label", f"Lot {number}"),
             hours_owed=Decimal(hours), **kw)
    s.add(lt)
    s.flush()
    return lt


def company(s: Session, name: str | None = None, *, kind: CompanyKind = CompanyKind.ORDINAIRE,
            facilitator: User | None = None, email: str | None = None) -> Company:
    c = Company(name=name or f"Entreprise {next(_seq)}", siret=make_siret(), kind=kind,
                facilitator_id=facilitator.id if facilitator else None)
    s.add(c)
    s.flush()
    if email:
        s.add(Contact(kind=ContactKind.ENTREPRISE, company_id=c.id, name=f"Contact {c.name}",
                      email=email.lower()))
        s.flush()
    return c


def engagement(s: Session, lt: Lot, c: Company, hours: Decimal | int | None = None) -> Engagement:
    e = Engagement(lot_id=lt.id, company_id=c.id,
                   hours_owed=Decimal(hours if hours is not None else lt.hours_owed))
    s.add(e)
    s.flush()
    return e


def prescriber(s: Session, name: str | None = None) -> Prescriber:
    p = Prescriber(name=name or f"Mission Locale {next(_seq)}", kind=PrescriberKind.MISSION_LOCALE)
    s.add(p)
    s.flush()
    return p


def participant(s: Session, last: str = "Dupont", first: str = "Marie", *,
                birth: dt.date = dt.date(1990, 5, 17), validated_by: User | None = None,
                criterion: str = "deld", proof_date: dt.date = dt.date(2025, 1, 10),
                **kw) -> Participant:
    p = Participant(last_name=last, first_name=first, birth_date=birth,
                    gender=kw.pop("gender", "F"), commune=kw.pop("commune", "Oullins"),
                    qpv=kw.pop("qpv", False), status_at_entry=kw.pop("status_at_entry", criterion),
                    **kw)
    s.add(p)
    s.flush()
    if validated_by is not None:
        s.add(Eligibility(participant_id=p.id, criterion=criterion, proof_date=proof_date,
                          validated_by_id=validated_by.id, validated_at=utcnow()))
        s.flush()
    return p


def contract(s: Session, p: Participant, e: Engagement, *, contract_type: str = "cdd",
             start: dt.date = dt.date(2025, 2, 1), end: dt.date | None = dt.date(2025, 11, 30),
             employer: Company | None = None) -> Contract:
    c = Contract(participant_id=p.id, engagement_id=e.id,
                 employer_id=(employer.id if employer else e.company_id),
                 contract_type=contract_type, start_date=start, end_date=end)
    if p.first_entry_date is None or p.first_entry_date > start:
        p.first_entry_date = start
    s.add(c)
    s.flush()
    return c


def territory(s: Session) -> dict:
    """A minimal working territory: one facilitator, a city, a market with a lot, a company
    with a contact, an engagement, a validated participant with a contract."""
    fac = user(s, Role.FACILITATEUR, display_name="Fanny Facilitatrice", email="fanny@agence.test")
    d = donneur(s, "Ville d'Oullins")
    ref = referent(s, d, "juliette.rey@oullins.test")
    m = market(s, d, reference="2025-017", facilitator=fac, amount_ht=Decimal("1000000"))
    lt = lot(s, m, 2, hours=833, trade="maconnerie", amount_ht=Decimal("1000000"))
    c = company(s, "BTP Rhône", facilitator=fac, email="chef@btp-rhone.test")
    e = engagement(s, lt, c)
    p = participant(s, validated_by=fac)
    k = contract(s, p, e)
    boss = user(s, Role.ENTREPRISE, display_name="Chef BTP", company_id=c.id,
                email="chef@btp-rhone.test")
    return {"facilitator": fac, "donneur": d, "referent": ref, "market": m, "lot": lt,
            "company": c, "engagement": e, "participant": p, "contract": k, "company_user": boss}
