"""A bilan's transaction runs with the settings of large reads on PostgreSQL, and only it.

Why (issue 20, docs/benchmarks.md § k21pgbilan): at national size PostgreSQL JIT-compiled the
bilan's statements for seconds and spilled its aggregates to disk with the default 4 MB of
``work_mem``; and in a long-running service, prepared statements switched to generic plans
from the 11th bilan of a kind on a connection, 2-3 times slower. The settings are ``LOCAL``: the
next transaction on the same pooled connection (a chat reply, an outbox claim) gets the
server's own again. SQLite is sent nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from clauses.bilan import annual_figures, market_figures, territory_figures
from clauses.bilan.figures import BilanFigures
from storage.db import Database
from tests.reports import territory as T

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
LARGE_READ = {"jit": "off", "work_mem": "64MB", "plan_cache_mode": "force_custom_plan"}


@pytest.fixture
def built(db: Database) -> T.Built:
    with db.session() as s:
        return T.build(s)


def _show(s: Session) -> dict[str, str]:
    return {name: str(s.execute(text(f"SHOW {name}")).scalar()) for name in LARGE_READ}


@pytest.mark.parametrize("kind", ["annual", "market", "territory"])
def test_a_bilan_transaction_reads_with_large_read_settings_and_the_next_one_does_not(
    db: Database, built: T.Built, rulebook, kind: str
) -> None:
    calls: dict[str, Callable[[Session], BilanFigures]] = {
        "annual": lambda s: annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook),
        "market": lambda s: market_figures(s, built.markets["GIV-2025-01"],
                                           dt.date(2025, 9, 30), rulebook),
        "territory": lambda s: territory_figures(s, Y0, Y1, rulebook),
    }
    sent: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with db.read_session() as s:
            figures = calls[kind](s)
            during = _show(s) if db.dialect == "postgresql" else {}
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert figures.engagements, "the bilan saw the territory's engagements"
    settings = [st for st in sent if st.lstrip().upper().startswith("SET LOCAL")]
    if db.dialect != "postgresql":
        assert settings == []
        return
    assert len(settings) == 1, "one round trip, before the bilan's statements"
    assert sent.index(settings[0]) < next(
        i for i, st in enumerate(sent) if st.lstrip().upper().startswith("WITH"))
    assert during == LARGE_READ
    with db.read_session() as s:
        after = _show(s)
    # jit stays off: every service connection starts with it off (storage.db.SERVER_OPTIONS)
    assert after["jit"] == "off"
    assert all(after[name] != value for name, value in LARGE_READ.items() if name != "jit"), after
