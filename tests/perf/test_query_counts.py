"""Statement counts of the paths that handle many items: they must not grow with the rows.

Why: "aggregates in SQL, never a query per row" is a project standard, and a loop that issues one
SELECT per item passes every functional test; it only shows on a real territory. Each test builds
the same shape of data at N=5 and N=50 (N=5, 20, 50 and 200 for the mail import) on a freshly emptied
database and compares what the engine executed. Statements are counted with a
``before_cursor_execute`` listener on ``ctx.db.engine``, so every statement counts, ORM or core,
whoever emits it (BEGIN IMMEDIATE on SQLite and SAVEPOINTs included); ``commit``/``rollback``
listeners split them into transactions, which is how the scheduler's per-item units are told
apart.

Run with ``-s`` to see the figures (statements at each N, and the per-item / per-line
breakdown).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.alert_digest import digest_threshold
from clauses.context import Context
from clauses.progress_service import progress_for_actor
from mail.outcome import MailKey
from mail.processing import process_message
from scheduler.jobs import run_job
from storage.db import Database
from storage.models import (
    Base,
    Channel,
    ChatLink,
    DeclarationRevision,
    HourDeclaration,
    OutboxMessage,
    Role,
)
from tests import factories as f
from tests.mail.conftest import XLSX_MIME, mail_config, make_mail, xlsx_bytes

SMALL, LARGE = 5, 50

REMINDER_RUN_BUDGET = 40
"""Upper bound of statements for a whole run of declaration reminders, whatever the number of
companies: the due query, then a chunk of reminders per transaction (claims, recipients,
messages and alerts in a handful of statements each; see :func:`clauses.reminders.send_declaration_reminders`),
and the run's record."""

IMPORT_FILE_BUDGET = 40
"""Upper bound of statements for a whole declaration file, whatever its length: the message's
own bookkeeping, one query each for contracts, idempotency keys, existing months and
eligibilities, then a savepoint around one multi-row write per table."""


# --- counting -------------------------------------------------------------------------------


_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)', re.IGNORECASE)


def label(statement: str) -> str:
    """``SELECT users``, ``INSERT outbox_messages``, ``SAVEPOINT``...: enough to read a breakdown."""
    verb = statement.split(None, 1)[0].upper()
    if verb in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        match = _TABLE.search(statement)
        return f"{verb} {match.group(1) if match else '?'}"
    return verb


@dataclass
class Statements:
    """What the engine executed, one list per transaction (a new one after each COMMIT)."""

    transactions: list[list[str]] = field(default_factory=lambda: [[]])

    @property
    def units(self) -> list[list[str]]:
        return [t for t in self.transactions if t]

    @property
    def total(self) -> int:
        return sum(len(t) for t in self.transactions)


@contextlib.contextmanager
def counted(engine: Engine) -> Iterator[Statements]:
    """Record every statement sent through `engine` while the block runs."""
    log = Statements()

    def on_end(_conn) -> None:
        if log.transactions[-1]:
            log.transactions.append([])

    def on_statement(_conn, _cursor, statement, _params, _context, _many) -> None:
        log.transactions[-1].append(statement)

    # Transactions are split where they end: the SQLite engine emits its BEGIN IMMEDIATE from
    # its own "begin" listener, before any listener of ours could mark a start.
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)
    try:
        yield log
    finally:
        event.remove(engine, "rollback", on_end)
        event.remove(engine, "commit", on_end)
        event.remove(engine, "before_cursor_execute", on_statement)


def empty_database(db: Database) -> None:
    """Delete every row, so each N is measured on the same clean state.

    Users and companies reference each other, so no delete order satisfies the foreign keys:
    PostgreSQL truncates everything at once, SQLite checks the keys at commit only.
    """
    tables = Base.metadata.sorted_tables
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
            return
        conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        for table in reversed(tables):
            conn.execute(table.delete())


def fresh_world(ctx: Context, build: Callable[[Session, int], object], n: int) -> object:
    empty_database(ctx.db)
    with ctx.db.session() as s:
        return build(s, n)


def breakdown(statements: list[str]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(Counter(map(label, statements)).items()))


# --- (a) scheduler: declaration reminders ---------------------------------------------------

FIRST_RUN = dt.datetime(2025, 6, 16, 10, 0)
"""A Monday: April (first reminder due 5 May) and May (5 June) are both missing."""
SECOND_RUN = dt.datetime(2025, 6, 24, 10, 0)
"""Eight days later: the second reminder of both months is due."""


def reminder_world(s: Session, n: int) -> None:
    """`n` companies on one lot, each with a contract and no declaration at all.

    Each company has a user with a chat link and a separate e-mail contact, so every reminder
    goes through both delivery paths (chat and e-mail).
    """
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny", email="fanny@agence.test")
    s.add(ChatLink(user_id=fac.id, chat_id=5001))
    d = f.donneur(s, "Ville d'Oullins")
    m = f.market(s, d, reference="2025-017", facilitator=fac)
    lt = f.lot(s, m, 1, hours=100_000)
    for i in range(n):
        c = f.company(s, f"Entreprise {i:03d}", email=f"contact{i}@entreprise.test")
        boss = f.user(s, Role.ENTREPRISE, display_name=f"Chef {i}", company_id=c.id,
                      email=f"chef{i}@entreprise.test")
        s.add(ChatLink(user_id=boss.id, chat_id=7000 + i))
        e = f.engagement(s, lt, c, hours=500)
        p = f.participant(s, f"Nom{i:03d}", "Marie", validated_by=fac)
        f.contract(s, p, e)


@dataclass(frozen=True)
class JobFigures:
    items: int
    due_phase: list[str]
    writes: list[list[str]]
    record_run: list[str]
    total: int

    def describe(self) -> str:
        return (f"items={self.items} total={self.total} due_phase={len(self.due_phase)} "
                f"write transactions={len(self.writes)} "
                f"record_run={len(self.record_run)}\n    due phase: {breakdown(self.due_phase)}"
                f"\n    writes: {breakdown([q for w in self.writes for q in w])}")


def run_counted(ctx: Context, job_id: str) -> JobFigures:
    with counted(ctx.db.engine) as log:
        result = run_job(ctx, job_id)
    assert result.errors == []
    units = log.units
    # What is due is read first (the months' running engagements once, the highest company
    # id, then one read per slice of ids: one slice here), then a chunk of items per
    # transaction (one chunk here), and one records the run.
    assert len(units) == 5, [breakdown(u) for u in units]
    return JobFigures(items=result.due, due_phase=[q for u in units[:3] for q in u],
                      writes=units[3:-1], record_run=units[-1], total=log.total)


def measure_reminders(ctx: Context, n: int) -> tuple[JobFigures, JobFigures]:
    fresh_world(ctx, reminder_world, n)
    ctx.clock.set(FIRST_RUN)
    first = run_counted(ctx, "declaration_reminders")
    ctx.clock.set(SECOND_RUN)
    second = run_counted(ctx, "declaration_reminders")
    with ctx.db.session() as s:
        queued = s.query(OutboxMessage).count()
    # Per item: chat to the user + e-mail to the contact at both stages; stage 2 also alerts the
    # facilitator once per item, pushed one by one up to the digest threshold, else as one digest.
    alerts = 2 * n
    pushed = alerts if alerts <= digest_threshold() else 1
    assert queued == 2 * n * 2 * 2 + pushed
    return first, second


def test_declaration_reminders_cost_does_not_grow_with_companies(ctx: Context) -> None:
    small = measure_reminders(ctx, SMALL)
    large = measure_reminders(ctx, LARGE)
    for stage, (s, big) in enumerate(zip(small, large, strict=True), start=1):
        print(f"\n(a) declaration reminders, stage {stage}\n  N={SMALL}: {s.describe()}"
              f"\n  N={LARGE}: {big.describe()}")
        assert (s.items, big.items) == (2 * SMALL, 2 * LARGE)  # April and May for each company
        # The due computation: the same statements whatever the number of companies.
        assert len(big.due_phase) == len(s.due_phase)
        assert [label(x) for x in big.due_phase] == [label(x) for x in s.due_phase]
        assert len(big.record_run) == len(s.record_run)
        # The writes too: ten times the reminders, the same statements, one transaction.
        assert [[label(q) for q in w] for w in big.writes] == \
            [[label(q) for q in w] for w in s.writes]
        assert big.total == s.total <= REMINDER_RUN_BUDGET


# --- (b) progress for an actor --------------------------------------------------------------

PROGRESS_AT = dt.date(2025, 5, 31)


def progress_world(s: Session, n: int) -> dict[str, Actor]:
    """One company engaged on `n` lots of one market, 3 months declared on each."""
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny")
    d = f.donneur(s, "Ville d'Oullins")
    referent = f.user(s, Role.REFERENT, display_name="Juliette", donneur_id=d.id)
    m = f.market(s, d, reference="2025-017", facilitator=fac)
    c = f.company(s, "BTP Rhône", facilitator=fac)
    boss = f.user(s, Role.ENTREPRISE, display_name="Chef BTP", company_id=c.id)
    for i in range(n):
        lt = f.lot(s, m, i + 1, hours=400)
        e = f.engagement(s, lt, c)
        k = f.contract(s, f.participant(s, f"Nom{i:03d}", validated_by=fac), e)
        for month in (3, 4, 5):
            s.add(HourDeclaration(contract_id=k.id, month=dt.date(2025, month, 1),
                                  work_hours=Decimal(20), training_hours=Decimal(0),
                                  counted_hours=Decimal(20), source=Channel.TELEGRAM))
    s.flush()
    return {name: Actor.from_user(u, Channel.TELEGRAM)
            for name, u in (("facilitateur", fac), ("referent", referent), ("entreprise", boss))}


def measure_progress(ctx: Context, n: int) -> dict[str, list[str]]:
    actors = fresh_world(ctx, progress_world, n)
    out: dict[str, list[str]] = {}
    for name, actor in actors.items():
        with counted(ctx.db.engine) as log, ctx.db.session() as s:
            views = progress_for_actor(ctx, s, actor, PROGRESS_AT)
        assert len(views) == n, name
        assert {v.done for v in views} == {Decimal(60)}
        out[name] = [x for t in log.transactions for x in t]
    return out


def test_progress_for_actor_is_one_query_whatever_the_engagements(ctx: Context) -> None:
    small = measure_progress(ctx, SMALL)
    large = measure_progress(ctx, LARGE)
    for name in small:
        print(f"\n(b) progress_for_actor ({name}): N={SMALL}: {len(small[name])} "
              f"[{breakdown(small[name])}], N={LARGE}: {len(large[name])}")
        assert len(large[name]) == len(small[name])
        assert sum(label(x).startswith("SELECT") for x in large[name]) == 1


# --- (c) mail: spreadsheet declaration import -----------------------------------------------

SENDER = "Chef BTP <chef@btp-rhone.test>"


def import_world(s: Session, n: int) -> None:
    """`n` persons with a contract each, all with the company that sends the spreadsheet."""
    fac = f.user(s, Role.FACILITATEUR, display_name="Fanny", email="fanny@agence.test")
    d = f.donneur(s, "Ville d'Oullins")
    m = f.market(s, d, reference="2025-017", facilitator=fac)
    lt = f.lot(s, m, 2, hours=100_000)
    c = f.company(s, "BTP Rhône", facilitator=fac, email="chef@btp-rhone.test")
    e = f.engagement(s, lt, c)
    for i in range(n):
        f.contract(s, f.participant(s, f"Nom{i:03d}", f"Prénom{i:03d}", validated_by=fac), e)


def measure_import(ctx: Context, n: int) -> tuple[list[str], list[str]]:
    """Statements of a file of `n` new months, then of a second file correcting all of them."""
    fresh_world(ctx, import_world, n)
    rows = [["2025-017", 2, f"Nom{i:03d}", f"Prénom{i:03d}", "05/2025", 35, 0] for i in range(n)]
    fixes = [[*row[:5], 30, 0, "erreur de saisie"] for row in rows]
    logs = []
    for uid, (sheet, recorded) in enumerate(((rows, n), (fixes, n)), start=1):
        raw = make_mail(SENDER, "Déclaration des heures", "Bonjour, ci-joint nos heures.",
                        attachments=[("heures-mai.xlsx", xlsx_bytes(sheet), XLSX_MIME)])
        with counted(ctx.db.engine) as log, ctx.db.session() as s:
            outcome = process_message(ctx, s, mail_config(), MailKey("perf", "INBOX", 1, uid), raw)
        assert outcome.kind == "declaration"
        assert outcome.result["lines_recorded"] == recorded and outcome.result["lines_refused"] == 0
        logs.append([x for unit in log.transactions for x in unit])
    with ctx.db.session() as s:
        assert s.query(HourDeclaration).count() == n
        assert s.query(DeclarationRevision).count() == 2 * n
    return logs[0], logs[1]


def test_spreadsheet_import_costs_the_same_statements_whatever_the_lines(ctx: Context) -> None:
    sizes = (SMALL, 20, LARGE, 200)
    runs = {n: measure_import(ctx, n) for n in sizes}
    for index, what in enumerate(("new months", "corrections")):
        counts = {n: len(runs[n][index]) for n in sizes}
        print(f"\n(c) spreadsheet import, {what}: "
              + ", ".join(f"N={n}: {c}" for n, c in counts.items())
              + f"\n    whole file: {breakdown(runs[LARGE][index])}")
        # The same statements, in the same order, for 5 lines as for 200: set-based, no loop.
        assert len(set(counts.values())) == 1, counts
        assert [label(x) for x in runs[200][index]] == [label(x) for x in runs[SMALL][index]]
        assert counts[SMALL] <= IMPORT_FILE_BUDGET
