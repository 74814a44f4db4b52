"""Statements per chat update of the guided /declarer flow: few, and the same at any size.

Why: the chat benchmark (docs/benchmarks.md, "4. Chat") showed the flow spending most of its time
in the database, at every keystroke: the company's whole contract list was read (and
audit-logged) again at each step. The flow now lists the declarable contracts once, keeps what it
needs in the conversation state, and later steps only touch the update id and the state. This
test drives :class:`bot.core.ChatCore` through the whole flow for a company with N contracts
(N=5 and N=50, plus ended contracts and another company's) and checks each step's statement count
against a budget, and that it does not move with N. Statements are counted like in
tests/perf/test_query_counts.py (every statement the engine sends, SAVEPOINTs and BEGIN
included). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import ChatCore
from bot.messages import Incoming, Outcome
from clauses.context import Context
from storage.models import AuditEntry, Channel, HourDeclaration, Role
from tests import factories as f
from tests.perf.test_query_counts import LARGE, SMALL, breakdown, counted, fresh_world

BOSS_TG = 424_242

STEP_BUDGET = {
    "/declarer": 6,    # claim, user+state, the one listing of the flow, its audit row, state
    "lot": 4,          # claim, user+state, state (BEGIN on SQLite)
    "contract": 5,     # + which offered months are already declared (issue 18), one read
    "month": 5,        # + the month checked at once (issue 18), one read
    "work": 5,         # + the hours checked against the month's limit (issue 18), one read
    "training": 5,     # + the domain's checks of the draft, one read
    "skip proof": 4,
    "confirm": 18,     # the declaration itself (authorisation, revision, audit...)
}
"""Upper bound of statements per update at each step (update claim and state included)."""


@dataclass(frozen=True)
class DeclareWorld:
    lot_id: int
    contract_id: int


def declare_world(s: Session, n: int) -> DeclareWorld:
    """A company with `n` running contracts on each of two lots, `n` ended ones, and a rival."""
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny")
    d = f.donneur(s, "Ville d'Oullins")
    m = f.market(s, d, reference="2025-017", facilitator=fac)
    c = f.company(s, "BTP Rhône", facilitator=fac)
    f.user(s, Role.ENTREPRISE, display_name="Chef BTP", company_id=c.id, telegram_user_id=BOSS_TG)
    lots = [f.lot(s, m, number, hours=100_000) for number in (1, 2)]
    first = None
    for lt in lots:
        e = f.engagement(s, lt, c)
        for i in range(n):
            k = f.contract(s, f.participant(s, f"Nom{lt.number}{i:03d}", validated_by=fac), e,
                           start=dt.date(2025, 2, 1), end=None)
            first = first or k
        for i in range(n):  # ended before the months the flow offers
            f.contract(s, f.participant(s, f"Ancien{lt.number}{i:03d}", validated_by=fac), e,
                       start=dt.date(2025, 1, 6), end=dt.date(2025, 2, 28))
    rival = f.company(s, "Peintures Lyonnaises", facilitator=fac)
    e = f.engagement(s, f.lot(s, m, 3, hours=100_000), rival)
    for i in range(n):
        f.contract(s, f.participant(s, f"Autre{i:03d}", validated_by=fac), e)
    assert first is not None
    return DeclareWorld(lot_id=lots[0].id, contract_id=first.id)


def _button_data(outcome: Outcome, prefix: str) -> str:
    return next(data for reply in outcome.replies for row in reply.buttons for _, data in row
                if data.startswith(prefix))


def measure_flow(ctx: Context, n: int) -> dict[str, list[str]]:
    """Statements of each update of one guided declaration, by step name."""
    w = fresh_world(ctx, declare_world, n)
    assert isinstance(w, DeclareWorld)
    core = ChatCore(ctx)
    ids = itertools.count(1)

    def send(text: str | None = None, data: str | None = None) -> tuple[Outcome, list[str]]:
        inc = Incoming(Channel.TELEGRAM, chat_id=BOSS_TG, user_id=BOSS_TG, update_id=next(ids),
                       text=text, callback_data=data)
        with counted(ctx.db.engine) as log:
            outcome = core.handle(inc)
        assert not outcome.duplicate
        return outcome, [x for t in log.transactions for x in t]

    steps: dict[str, list[str]] = {}
    out, steps["/declarer"] = send("/declarer")
    assert "Pour quel marché et quel lot" in out.replies[-1].text
    out, steps["lot"] = send(data=f"d:lot:{w.lot_id}")
    assert "Pour quelle personne" in out.replies[-1].text
    out, steps["contract"] = send(data=f"d:ct:{w.contract_id}")
    assert "Pour quel mois" in out.replies[-1].text
    out, steps["month"] = send(data="d:m:2025-05")
    assert "heures de travail" in out.replies[-1].text
    out, steps["work"] = send("35")
    assert "heures de formation" in out.replies[-1].text
    out, steps["training"] = send("0")
    assert "Justificatif" in out.replies[-1].text
    out, steps["skip proof"] = send(data="d:skip")
    assert "Récapitulatif" in out.replies[-1].text
    out, steps["confirm"] = send(data=_button_data(out, "d:ok:"))
    assert "Déclaration enregistrée" in out.replies[-1].text
    with ctx.db.session() as s:
        decl = s.scalar(select(HourDeclaration))
        assert (decl.contract_id, decl.month, decl.work_hours) == (
            w.contract_id, dt.date(2025, 5, 1), Decimal(35))
        listings = s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == "contracts.list"))
        assert listings == 1  # the listing is logged once per flow, not once per step
    return steps


def test_declare_flow_statements_per_update_are_few_and_do_not_grow(ctx: Context) -> None:
    small = measure_flow(ctx, SMALL)
    large = measure_flow(ctx, LARGE)
    lines = [f"\n/declarer statements per update (N={SMALL} / N={LARGE} contracts per lot):"]
    for step, statements in small.items():
        lines.append(f"  {step:<11} {len(statements):>3} / {len(large[step]):>3}   "
                     f"{breakdown(large[step])}")
    total = sum(map(len, small.values()))
    lines.append(f"  average: {total / len(small):.1f} statements per update")
    print("\n".join(lines))
    for step, statements in small.items():
        assert len(large[step]) == len(statements), step
        assert len(statements) <= STEP_BUDGET[step], (step, breakdown(statements))
