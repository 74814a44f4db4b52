"""The bilans' SQL statements do not grow with the number of engagements (issue 20, item 5).

A territory bilan of all of France covers tens of thousands of engagements: any statement run
per engagement, per company or per market (an N+1) would make its cost grow faster than the
scope. The fixture territory gets more engagements on new companies and new markets of one
donneur (each with a contract, declarations of the period, one of them contested, an open
escalation and a note), and every kind of bilan must run the same statements as before while
showing the new engagements and their contested hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from clauses.bilan import annual_figures, market_figures, territory_figures
from clauses.bilan.figures import BilanFigures
from storage.db import Database
from storage.models import (
    Channel,
    Company,
    CompanyKind,
    Contract,
    DeclarationStatus,
    Engagement,
    EngagementMeans,
    EscalationCase,
    EscalationState,
    HourDeclaration,
    Lot,
    Market,
    MarketKind,
    Participant,
    QualitativeNote,
)
from tests.factories import make_siret
from tests.reports import territory as T

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
CONTESTED = Decimal("7.50")
"""Counted hours of the one contested month of each added engagement."""


@pytest.fixture
def built(db: Database) -> T.Built:
    with db.session() as s:
        return T.build(s)


def _statements(db: Database, call: Callable[[Session], BilanFigures]
                ) -> tuple[list[str], BilanFigures]:
    """The SELECT statements ``call`` runs, in order, and what it returned."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with db.session() as s:
            figures = call(s)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return seen, figures


def _add_engagements(db: Database, built: T.Built, n: int) -> None:
    """``n`` engagements of new companies: on a new lot of GIV-2025-01 (so the market's bilan
    grows too) and on ``n - 1`` new markets of Givors in 2025, each with one person, a contract,
    three declared months (the last one contested), an open escalation and a company note."""
    with db.session() as s:
        for i in range(n):
            company = Company(name=f"Ajout Élan {i}", siret=make_siret(500 + i),
                              kind=CompanyKind.ORDINAIRE)
            s.add(company)
            if i == 0:
                market_id = built.markets["GIV-2025-01"]
            else:
                market = Market(donneur_id=built.donneurs["givors"], reference=f"GIV-ADD-{i:03d}",
                                title=f"Ajout {i}", kind=MarketKind.CLAUSE_EXECUTION,
                                start_date=dt.date(2025, 2, 1), end_date=dt.date(2025, 11, 30))
                s.add(market)
                s.flush()
                market_id = market.id
            s.flush()
            lot = Lot(market_id=market_id, number=90 + i, label=f"Lot ajouté {i}",
                      hours_owed=Decimal(100))
            s.add(lot)
            s.flush()
            engagement = Engagement(lot_id=lot.id, company_id=company.id,
                                    hours_owed=Decimal(100), means=EngagementMeans.ETTI)
            person = Participant(last_name=f"Ajout{i}", first_name="Y",
                                 birth_date=dt.date(1995, 5, 5), gender="M",
                                 commune="Givors", qpv=False, status_at_entry="deld")
            s.add_all([engagement, person])
            s.flush()
            contract = Contract(participant_id=person.id, engagement_id=engagement.id,
                                employer_id=company.id, contract_type="cdd",
                                start_date=dt.date(2025, 3, 1), end_date=dt.date(2025, 8, 31))
            s.add(contract)
            s.flush()
            for month, status in ((3, DeclarationStatus.VALIDEE), (4, DeclarationStatus.VALIDEE),
                                  (5, DeclarationStatus.CONTESTEE)):
                s.add(HourDeclaration(contract_id=contract.id, month=dt.date(2025, month, 1),
                                      work_hours=CONTESTED, training_hours=Decimal(0),
                                      counted_hours=CONTESTED, source=Channel.CLI,
                                      status=status))
            s.add(EscalationCase(engagement_id=engagement.id, state=EscalationState.OUVERT,
                                 opened_at=dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)))
            s.add(QualitativeNote(company_id=company.id, written_on=dt.date(2025, 6, 3),
                                  body=f"Démarrage de l'entreprise ajoutée {i}"))


@pytest.mark.parametrize("which", ["annual", "market", "territory"])
def test_statements_do_not_grow_with_the_engagements(db, built, rulebook, which):
    def call(s: Session) -> BilanFigures:
        if which == "annual":
            return annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)
        if which == "market":
            return market_figures(s, built.markets["GIV-2025-01"], dt.date(2025, 9, 30),
                                  rulebook)
        return territory_figures(s, Y0, Y1, rulebook)

    before, small = _statements(db, call)
    added = 12
    _add_engagements(db, built, added)
    after, big = _statements(db, call)

    # the same statements, in the same order, whatever the number of engagements
    assert after == before
    assert len(after) == {"annual": 10, "market": 11, "territory": 9}[which]
    # ...and they really read the new rows: every added engagement of the scope is a line,
    # its company a line with its contested hours (one contested month each), its market too
    grown = 1 if which == "market" else added
    assert len(big.engagements) == len(small.engagements) + grown
    assert len(big.companies) == len(small.companies) + grown
    assert len(big.market_lines) == len(small.market_lines) + grown - 1
    assert big.hours_contested == small.hours_contested + grown * CONTESTED
    new = [c for c in big.companies if c.name.startswith("Ajout Élan")]
    assert {big.contested_by_company[c.company_id] for c in new} == {CONTESTED}
    assert {c.relation.value for c in new} == {"sous_procedure"}
    assert big.contracts == small.contracts + grown
