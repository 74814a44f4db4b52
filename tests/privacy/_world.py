"""Two disjoint territories for privacy tests: everything of side A has a twin on side B.

Side A: donneur X, market mX, lot lX, company A (engagement eA), prescriber P1, participant pA
(contract kA, declaration dA, candidature cA). Side B: donneur Y, the same with B/Y/P2. The
actors of side A must see nothing of side B.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from clauses.actors import Actor
from storage.models import (
    Candidature,
    CandidatureStatus,
    Channel,
    HourDeclaration,
    Role,
)
from tests import factories as f

MISSING_ID = 987_654


def declaration(s: Session, contract, month: dt.date, hours: int | str) -> HourDeclaration:
    d = HourDeclaration(contract_id=contract.id, month=month, work_hours=Decimal(hours),
                        training_hours=Decimal(0), counted_hours=Decimal(hours),
                        source=Channel.CLI)
    s.add(d)
    s.flush()
    return d


def candidature(s: Session, participant, company=None, prescriber=None, **kw) -> Candidature:
    c = Candidature(participant_id=participant.id, company_id=company.id if company else None,
                    prescriber_id=prescriber.id if prescriber else None, source=Channel.EMAIL,
                    criteria_claimed=kw.pop("criteria", ["deld"]),
                    status=kw.pop("status", CandidatureStatus.A_VALIDER), **kw)
    s.add(c)
    s.flush()
    return c


def side(s: Session, tag: str, fac) -> dict:
    d = f.donneur(s, f"Ville {tag}")
    m = f.market(s, d, reference=f"M-{tag}", facilitator=fac)
    lt = f.lot(s, m, 1, hours=500)
    c = f.company(s, f"Entreprise {tag}", facilitator=fac)
    e = f.engagement(s, lt, c)
    p_org = f.prescriber(s, f"Prescripteur {tag}")
    p = f.participant(s, f"Personne{tag}", "Alex", validated_by=fac, prescriber_id=p_org.id)
    k = f.contract(s, p, e)
    dcl = declaration(s, k, dt.date(2025, 3, 1), 35)
    cand = candidature(s, p, c, p_org)
    return {"donneur": d, "market": m, "lot": lt, "company": c, "engagement": e,
            "prescriber": p_org, "participant": p, "contract": k, "declaration": dcl,
            "candidature": cand}


def build(s: Session) -> dict:
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny")
    admin = f.user(s, Role.ADMIN, display_name="Ada")
    a = side(s, "A", fac)
    b = side(s, "B", fac)
    users = {
        Role.ADMIN: admin,
        Role.FACILITATEUR: fac,
        Role.ENTREPRISE: f.user(s, Role.ENTREPRISE, company_id=a["company"].id),
        Role.REFERENT: f.user(s, Role.REFERENT, donneur_id=a["donneur"].id),
        Role.PRESCRIPTEUR: f.user(s, Role.PRESCRIPTEUR, prescriber_id=a["prescriber"].id),
    }
    return {"a": a, "b": b, "users": users}


def actor_for(world: dict, role: Role | None) -> Actor:
    if role is None:
        return Actor(role=None, channel=Channel.TELEGRAM, label="inconnu")
    return Actor.from_user(world["users"][role], Channel.TELEGRAM)


def targets(side_: dict) -> dict[str, int]:
    """Every kind the authorization code knows, pointing at this side's rows."""
    return {
        "company": side_["company"].id,
        "engagement": side_["engagement"].id,
        "contract": side_["contract"].id,
        "declaration": side_["declaration"].id,
        "participant": side_["participant"].id,
        "candidature": side_["candidature"].id,
        "market": side_["market"].id,
        "lot": side_["lot"].id,
        "donneur": side_["donneur"].id,
    }
