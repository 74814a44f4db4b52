"""The scheduled jobs: thin loops that ask the domain what is due and queue what it says.

Every job is declared once, in :data:`JOBS` (id, title, trigger, work); APScheduler calls the
storable entry point :func:`scheduled` with the job's id, against the installed
:mod:`scheduler.runtime`. The work itself is :func:`run_job`, callable directly with any context
(tests simulate a year by calling it day after day with a fixed clock; the CLI calls it for
``clausebot jobs run``).

Each due item is handled in its own transaction: the ledger claim, the outbox rows and the alerts
commit together, and one failing item (logged as a service event) does not hold back the others.
A dry run does the very same work inside one transaction that is rolled back at the end, and
reports what would have been queued and to whom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from clauses import due, fees, reminders
from clauses import exits as exit_questions
from clauses import meeting_planning as planning
from clauses import paths as path_ends
from clauses.alerts import raise_alerts
from clauses.clock import PARIS
from clauses.context import Context
from clauses.errors import DomainError
from clauses.outbox import written
from scheduler import runtime
from storage.models import (
    Alert,
    Company,
    KeyValue,
    Market,
    OutboxChannel,
    OutboxMessage,
    OutboxStatus,
    ServiceEvent,
    User,
)

log = logging.getLogger(__name__)

COMPONENT = "scheduler"
LAST_RUN_PREFIX = "job_last_run:"


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One message a run queued (or would queue): for dry runs and the CLI."""

    channel: str  # "email", "chat" or "alerte"
    to: str
    subject: str
    key: str


@dataclass
class JobResult:
    job_id: str
    day: dt.date
    dry_run: bool = False
    due: int = 0
    done: int = 0
    messages: int = 0
    """Outbox rows and alerts queued by the items (counted even when not described)."""
    planned: list[Planned] = field(default_factory=list)
    """Each message described (recipient, subject), for people: the CLI and dry runs. The
    service only counts: at national size a catch-up queues tens of thousands of messages, and
    describing each costs a query and keeps a row in memory until the job ends."""
    errors: list[str] = field(default_factory=list)
    describe: bool = True

    def summary_fr(self) -> str:
        verb = "seraient traités" if self.dry_run else "traités"
        text = f"{self.job_id} : {self.due} élément(s) dus, {self.done} {verb}"
        if self.messages:
            text += f", {self.messages} message(s)"
        if self.errors:
            text += f", {len(self.errors)} erreur(s)"
        return text


# --- units of work --------------------------------------------------------------------------


class _Run:
    """Hands out one transaction per item (or savepoints of one rolled-back transaction)."""

    def __init__(self, ctx: Context, result: JobResult,
                 renderer: runtime.BilanRenderer | None = None) -> None:
        self.ctx = ctx
        self.result = result
        self.renderer = renderer
        """Who renders the annual bilans (None: the report renderer, see :mod:`scheduler.bilans`)."""
        self._shared: Session | None = None

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        if not self.result.dry_run:
            yield
            return
        session = Session(self.ctx.db.engine, expire_on_commit=False)  # never committed
        self._shared = session
        try:
            yield
        finally:
            self._shared = None
            session.rollback()
            session.close()

    @contextlib.contextmanager
    def unit(self) -> Iterator[Session]:
        if self._shared is not None:
            with self._shared.begin_nested():
                yield self._shared
        else:
            with self.ctx.db.session() as session:
                yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit for the due query, which only reads.

        A read session takes no write lock on SQLite: the due queries of a catch-up can take a
        while, and the outbox sender must be able to write meanwhile. A dry run reads inside
        its shared transaction, to see what its earlier items would have written.
        """
        if self._shared is not None:
            with self.unit() as session:
                yield session
        else:
            with self.ctx.db.read_session() as session:
                yield session

    def item(self, label: str, action: Callable[[Session], bool]) -> None:
        """Run one item in its unit; record what it queued; never let it stop the job."""
        queued: list[object] = []

        def collect(session: Session, _flush_context: object) -> None:
            queued.extend(o for o in session.new if isinstance(o, OutboxMessage | Alert))

        try:
            with self.unit() as session:
                event.listen(session, "after_flush", collect)
                written(session).clear()
                try:
                    acted = action(session)
                    session.flush()
                    if acted:
                        kept = [o for o in queued if inspect(o).persistent] + written(session)
                        self.result.messages += len(kept)
                        if self.result.describe or self.result.dry_run:
                            self.result.planned.extend(_describe(session, kept))
                finally:
                    event.remove(session, "after_flush", collect)
        except Exception as exc:  # one bad item must not stop the others
            message = exc.message_fr if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
            self.result.errors.append(f"{label} : {message}")
            log.exception("job %s: item %s failed", self.result.job_id, label)
            return
        if acted:
            self.result.done += 1

    def batch(self, label: str, action: Callable[[Session], int]) -> bool:
        """Run a chunk of items set-based in one unit (``action`` returns how many it did).

        False when the chunk failed as a whole (a concurrent run's row met a unique key, or any
        error): nothing of it was kept, and the caller hands its items to :meth:`item` one by
        one, where each claim answers "already done" or fails alone.
        """
        queued: list[object] = []

        def collect(session: Session, _flush_context: object) -> None:
            queued.extend(o for o in session.new if isinstance(o, OutboxMessage | Alert))

        described: list[Planned] = []
        try:
            with self.unit() as session:
                event.listen(session, "after_flush", collect)
                written(session).clear()
                try:
                    done = action(session)
                    session.flush()
                    kept = [o for o in queued if inspect(o).persistent] + written(session)
                    if self.result.describe or self.result.dry_run:
                        described = _describe(session, kept)
                finally:
                    event.remove(session, "after_flush", collect)
        except Exception:
            log.warning("job %s: chunk %s failed, its items go one by one", self.result.job_id,
                        label, exc_info=True)
            return False
        self.result.done += done
        self.result.messages += len(kept)
        self.result.planned.extend(described)
        return True


CHUNK = 500
"""Due items written per transaction by the set-based jobs (see :func:`_in_chunks`). A chunk's
ORM rows (claims, persons, outbox rows, alerts) are alive until it commits: 2,000 made a
national first catch-up peak 12 MB higher (in process, 127 against 114 MB) for no gain in time."""


def _in_chunks(run: _Run, items: Sequence[Item], bulk: Callable[[Session, Sequence[Item]], int],
               one: Callable[[Session, Item], bool], label: Callable[[Item], str]) -> None:
    """Items a chunk per transaction through ``bulk`` (the domain's set-based twin of ``one``);
    a chunk that fails is retried item by item through ``one``, each in its own transaction.

    Crash-safe and exactly-once as the per-item units are: a chunk commits whole or not at all,
    and the unique keys (ledger, alerts, outbox) make a retried or concurrent item a no-op.
    """
    for low in range(0, len(items), CHUNK):
        chunk = items[low:low + CHUNK]
        if run.batch(f"{label(chunk[0])}…", functools.partial(_call_bulk, bulk, chunk)):
            continue
        for item in chunk:
            run.item(label(item), functools.partial(_call_one, one, item))


def _call_bulk(bulk: Callable[[Session, Sequence[Item]], int], chunk: Sequence[Item],
               session: Session) -> int:
    return bulk(session, chunk)


def _call_one(one: Callable[[Session, Item], bool], item: Item, session: Session) -> bool:
    return one(session, item)


def _describe(session: Session, rows: Sequence[object]) -> list[Planned]:
    user_ids = {r.to_user_id for r in rows if isinstance(r, OutboxMessage) and r.to_user_id}
    user_ids |= {r.facilitator_id for r in rows if isinstance(r, Alert) and r.facilitator_id}
    names = dict(session.execute(select(User.id, User.display_name)
                                 .where(User.id.in_(user_ids))).all()) if user_ids else {}
    out: list[Planned] = []
    for r in rows:
        if isinstance(r, Alert):
            who = names.get(r.facilitator_id, "?") if r.facilitator_id else "tous les facilitateurs"
            out.append(Planned("alerte", who, r.message.splitlines()[0][:160], r.dedup_key or ""))
        elif isinstance(r, OutboxMessage):
            if r.channel == OutboxChannel.CHAT:
                who = names.get(r.to_user_id, f"chat {r.to_chat_id}") if r.to_user_id else f"chat {r.to_chat_id}"
                out.append(Planned("chat", who, r.body_text.splitlines()[0][:160], r.dedup_key))
            else:
                out.append(Planned("email", r.to_address or "?", r.subject or "", r.dedup_key))
    return out


# --- the jobs' work -------------------------------------------------------------------------


def rules_for(ctx: Context) -> due.DueRules:
    return due.DueRules.from_policy(ctx.policy)


Item = Any
"""A due item of :mod:`clauses.due` (each has a ``key``)."""


def _run_items(run: _Run, items: Sequence[Item], label: Callable[[Item], str],
               act: Callable[..., bool]) -> None:
    """Record how many are due, then handle each in its own unit (see :meth:`_Run.item`)."""
    run.result.due = len(items)

    def bound(item: Item) -> Callable[[Session], bool]:
        return lambda s: act(s, item)

    for item in items:
        run.item(label(item), bound(item))


def _item_job(
    find: Callable[[Context, Session, dt.date, due.DueRules], Sequence[Item]],
    act: Callable[[Context, Session, Item], bool],
) -> Callable[[Context, _Run], None]:
    """The work of a job that is "ask :mod:`clauses.due`, hand each item to :mod:`clauses.reminders`".

    Most jobs are exactly that; one factory keeps their unit handling identical.
    """

    def work(ctx: Context, run: _Run) -> None:
        with run.reading() as s:
            items = find(ctx, s, ctx.clock.today(), rules_for(ctx))
        _run_items(run, items, lambda item: item.key, functools.partial(act, ctx))

    return work


def _fee_milestones(ctx: Context, run: _Run) -> None:
    """Milestones a slice of market ids at a time, a chunk per transaction
    (:func:`fees.record_milestones`, alerts included); a chunk that meets a concurrent run's
    row is done one by one."""
    for ids in _id_slices(run, Market.id, MARKET_SLICE):
        with run.reading() as s:
            items = fees.milestones_due(s, ctx.clock.today(), market_range=ids)
        run.result.due += len(items)
        _in_chunks(run, items, fees.record_milestones, fees.reach_milestone, lambda i: i.key)


def _paths(ctx: Context, run: _Run) -> None:
    """The endings' alerts computed for all at once in a read session (their openings read
    every running engagement of the trades concerned: once, not once per ending), then written
    a chunk per transaction."""
    with run.reading() as s:
        items = path_ends.endings_due(s, ctx.clock.today())
        alerts = {a.dedup_key: a for a in path_ends.path_alerts(s, items)}
    run.result.due = len(items)
    _in_chunks(run, items,
               lambda s, chunk: len(raise_alerts(s, [alerts[i.key] for i in chunk
                                                     if i.key in alerts])),
               functools.partial(path_ends.alert_path, ctx), lambda i: i.key)


def _exits(ctx: Context, run: _Run) -> None:
    """The questions due, a chunk per transaction (:func:`exit_questions.ask_questions`)."""
    with run.reading() as s:
        items = exit_questions.questions_due(s, ctx.clock.today())
    run.result.due = len(items)
    _in_chunks(run, items, functools.partial(exit_questions.ask_questions, ctx),
               functools.partial(exit_questions.ask_question, ctx), lambda i: i.key)


COMPANY_SLICE = 2000
"""Company ids whose reminders are computed per due query."""
LATENESS_SLICE = 2000
"""Engagement ids judged per due query (see :func:`clauses.due.lateness_changes`)."""
MARKET_SLICE = 2000
"""Market ids whose fee milestones are computed per due query (see :func:`_fee_milestones`)."""


def _id_slices(run: _Run, column: Any, size: int) -> Iterator[tuple[int, int]]:
    """[low, high) ranges covering every id of ``column``: a job's due items are computed and
    handled a slice at a time, so a national catch-up never holds them all in memory."""
    with run.reading() as s:
        top = s.scalar(select(func.max(column))) or 0
    for low in range(0, top + 1, size):
        yield low, low + size


def _declaration_reminders(ctx: Context, run: _Run) -> None:
    today, rules = ctx.clock.today(), rules_for(ctx)
    with run.reading() as s:  # the month's running engagements once, not once per slice
        scope = due.reminder_scope(s, today, rules)
    for ids in _id_slices(run, Company.id, COMPANY_SLICE):
        with run.reading() as s:
            gaps = due.declaration_gaps(s, today, rules, company_range=ids, scope=scope)
        run.result.due += len(gaps)
        # a chunk per transaction, its recipients read with it (one pair of queries)
        _in_chunks(run, gaps, functools.partial(reminders.send_declaration_reminders, ctx),
                   functools.partial(reminders.send_declaration_reminder, ctx),
                   lambda g: g.key)


def _meeting_planning(ctx: Context, run: _Run) -> None:
    """Only the meetings not prompted yet (most of those to plan were prompted on an earlier
    day), a chunk per transaction (:func:`planning.prompt_meeting_plannings`)."""
    today = ctx.clock.today()
    if not rules_for(ctx).calendar().is_business_day(today):
        return
    with run.reading() as s:
        items = planning.meetings_to_prompt(s, today)
    run.result.due = len(items)
    _in_chunks(run, items, functools.partial(planning.prompt_meeting_plannings, ctx),
               functools.partial(planning.prompt_meeting_planning, ctx), lambda i: i.key)


def _lateness(ctx: Context, run: _Run) -> None:
    """Lateness a slice of engagement ids at a time: what a slice holds is handled, then freed."""
    today, rules = ctx.clock.today(), rules_for(ctx)
    with run.reading() as s:
        slices = due.lateness_slices(s, today, rules, LATENESS_SLICE)
    for ids in slices:
        with run.reading() as s:
            changes = due.lateness_changes(ctx, s, today, rules, ids=ids)
        run.result.due += len(changes)
        _in_chunks(run, changes, functools.partial(reminders.apply_lateness_many, ctx),
                   functools.partial(reminders.apply_lateness, ctx),
                   lambda c: f"engagement {c.engagement_id}")


def _annual_bilans(ctx: Context, run: _Run) -> None:
    with run.reading() as s:
        items = due.annual_bilans(s, ctx.clock.today(), rules_for(ctx))
    if run.renderer is None:
        from scheduler.bilans import render_annual_bilan

        render: runtime.BilanRenderer = render_annual_bilan
    else:
        render = run.renderer

    def act(s: Session, item: due.AnnualBilan) -> bool:
        if item.send:
            return reminders.send_annual_bilan(ctx, s, item, lambda: render(ctx, s, item))
        return reminders.ask_bilan_approval(ctx, s, item)

    _run_items(run, items, lambda i: i.key, act)


def _outbox_preview(ctx: Context, run: _Run) -> None:
    """What the senders would deliver now (the flush itself is the senders' work)."""
    now = ctx.clock.now()
    with run.reading() as s:
        rows = list(s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING,
                   OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id).limit(500)
        ))
        run.result.due = len(rows)
        run.result.messages = len(rows)
        run.result.planned.extend(_describe(s, rows))


# --- registry -------------------------------------------------------------------------------

SCHEDULED = "scheduler.jobs:scheduled"
"""The one storable entry point of the daily jobs (APScheduler calls it with the job's id)."""


@dataclass(frozen=True)
class JobSpec:
    """One job, declared once: what ``clausebot jobs`` lists, when the scheduler fires it and
    the work :func:`run_job` does (with the CLI, the tests and the service alike)."""

    id: str
    title_fr: str
    trigger: Callable[[], BaseTrigger]
    work: Callable[[Context, _Run], None]
    daily: bool = True
    """Part of the catch-up run at start-up (the outbox flush is not: it runs every few seconds)."""
    func: str = SCHEDULED
    """``module:function`` reference, as APScheduler stores it."""

    @property
    def args(self) -> tuple[str, ...]:
        """What APScheduler passes to :attr:`func`: the job's id to :func:`scheduled`."""
        return (self.id,) if self.func == SCHEDULED else ()


def _cron(hour: str | int, minute: int) -> Callable[[], BaseTrigger]:
    return lambda: CronTrigger(hour=hour, minute=minute, timezone=PARIS)


OUTBOX_INTERVAL_SECONDS = 30

JOBS: tuple[JobSpec, ...] = (
    JobSpec("lateness", "Retards d'exécution (alerte au facilitateur)", _cron(7, 45), _lateness),
    JobSpec("declaration_reminders", "Rappels de déclaration mensuelle (1er, 2e rappel, alerte)",
            _cron(8, 0), _declaration_reminders),
    JobSpec("escalation_deadlines", "Échéances des courriers de relance", _cron(8, 5), _item_job(
        lambda ctx, s, today, rules: due.escalation_deadlines(s, today, rules),
        reminders.alert_escalation_deadline)),
    JobSpec("meetings", "Rappels de réunions (lancement, SIAE, partenariat)", _cron(8, 10), _item_job(
        lambda ctx, s, today, rules: due.meeting_reminders(s, today, ctx.clock.now(), rules),
        reminders.send_meeting_reminder)),
    JobSpec("meeting_planning", "Réunions à planifier (lancement, SIAE, partenariat annuel)",
            _cron(8, 12), _meeting_planning),
    JobSpec("conventions", "Renouvellement des conventions (préavis)", _cron(8, 15), _item_job(
        lambda ctx, s, today, rules: due.convention_renewals(s, today, rules),
        reminders.alert_convention_renewal)),
    JobSpec("market_ends", "Fins de marché : bilan final à établir", _cron(8, 20), _item_job(
        lambda ctx, s, today, rules: due.market_ends(s, today, rules),
        reminders.prompt_final_bilan)),
    JobSpec("exits", "Sorties et suivi dans l'emploi à 6 mois (question à l'employeur)",
            _cron(8, 25), _exits),
    JobSpec("paths", "Parcours : fins de contrat à 30 jours, entreprises aux heures encore dues",
            _cron(8, 27), _paths),
    JobSpec("fee_milestones", "Jalons de facturation (démarrage des marchés, bilan final)",
            _cron(8, 25), _fee_milestones),
    JobSpec("annual_bilans", "Bilan annuel aux référents (après approbation)", _cron("8-18", 30),
            _annual_bilans),
    JobSpec("outbox", "Envoi de la file (e-mails, chat) et nouvelles tentatives",
            lambda: IntervalTrigger(seconds=OUTBOX_INTERVAL_SECONDS, timezone=PARIS),
            _outbox_preview, daily=False, func="scheduler.jobs:outbox"),
)
"""Every job, in the order of a day (the catch-up runs the daily ones in this order). The
outbox's scheduled call is the senders' flush (:func:`outbox`); its work here is the preview
that ``clausebot jobs run outbox --dry-run`` prints."""
BY_ID = {spec.id: spec for spec in JOBS}
DAILY = tuple(spec.id for spec in JOBS if spec.daily)


class UnknownJob(DomainError):
    code = "unknown_job"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Tâche inconnue : « {name} ». Tâches possibles : {', '.join(BY_ID)}.",
            f"Unknown job {name!r}.",
        )


def run_job(
    ctx: Context,
    job_id: str,
    *,
    dry_run: bool = False,
    renderer: runtime.BilanRenderer | None = None,
    describe: bool = True,
) -> JobResult:
    """Run one job once now (``ctx.clock`` says when); never raises for a failing item.

    ``describe=False`` (the service) counts the messages queued instead of listing them.
    """
    if job_id not in BY_ID:
        raise UnknownJob(job_id)
    result = JobResult(job_id=job_id, day=ctx.clock.today(), dry_run=dry_run, describe=describe)
    run = _Run(ctx, result, renderer)
    try:
        with run.shared():
            BY_ID[job_id].work(ctx, run)
    except Exception as exc:  # the due query itself failed: report, do not crash the service
        log.exception("job %s failed", job_id)
        result.errors.append(f"{type(exc).__name__}: {exc}")
    if not dry_run:
        _record_run(ctx, result)
    return result


def run_daily(ctx: Context, *, renderer: runtime.BilanRenderer | None = None,
              describe: bool = True) -> list[JobResult]:
    """Every daily job once, in order (the catch-up at start-up; tests' simulated days)."""
    return [run_job(ctx, job_id, renderer=renderer, describe=describe) for job_id in DAILY]


def _record_run(ctx: Context, result: JobResult) -> None:
    """Last run per job (for `clausebot jobs`), and a service event when it did or failed
    something (for `clausebot status`)."""
    now = ctx.clock.now()
    try:
        with ctx.db.session() as s:
            key = f"{LAST_RUN_PREFIX}{result.job_id}"
            value = json.dumps({"at": now.isoformat(), "due": result.due, "done": result.done,
                                "errors": len(result.errors)})
            row = s.get(KeyValue, key)
            if row is None:
                s.add(KeyValue(key=key, value=value, updated_at=now))
            else:
                row.value, row.updated_at = value, now
            if result.errors:
                s.add(ServiceEvent(component=COMPONENT, level="error", at=now,
                                   message=result.summary_fr(),
                                   detail={"job": result.job_id, "errors": result.errors[:20]}))
            elif result.done:
                s.add(ServiceEvent(component=COMPONENT, level="info", at=now,
                                   message=result.summary_fr(), detail={"job": result.job_id}))
    except Exception:
        log.exception("could not record the run of %s", result.job_id)


def last_runs(ctx: Context) -> dict[str, dt.datetime]:
    with ctx.db.read_session() as s:
        rows = s.execute(select(KeyValue.key, KeyValue.value)
                         .where(KeyValue.key.like(f"{LAST_RUN_PREFIX}%"))).all()
    out: dict[str, dt.datetime] = {}
    for key, value in rows:
        if value is None:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            out[key.removeprefix(LAST_RUN_PREFIX)] = dt.datetime.fromisoformat(json.loads(value)["at"])
    return out


def next_runs(ctx: Context, now: dt.datetime | None = None) -> list[tuple[str, dt.datetime | None]]:
    """(job id, next fire time in Europe/Paris) for every job, without a running scheduler."""
    now = (now or ctx.clock.now()).astimezone(PARIS)
    return [(spec.id, spec.trigger().get_next_fire_time(None, now)) for spec in JOBS]


# --- the storable entry points (what APScheduler calls) -------------------------------------


def scheduled(job_id: str) -> JobResult:
    """Run one daily job against the installed runtime: the entry point of every job but the
    outbox (``scheduler.jobs:scheduled``, with the job's id as argument), so a job declared
    in :data:`JOBS` needs nothing else to be scheduled."""
    rt = runtime.current()
    return run_job(rt.ctx, job_id, renderer=rt.renderer, describe=False)


def catch_up() -> list[JobResult]:
    """Every daily job once: what came due while the service was down goes out now."""
    rt = runtime.current()
    return run_daily(rt.ctx, renderer=rt.renderer, describe=False)


async def outbox() -> int:
    """Call each sender's flush; a failing sender is logged, the others still run."""
    rt = runtime.current()
    failures = 0
    for flusher in rt.flushers:
        try:
            await flusher()
        except Exception as exc:
            failures += 1
            log.exception("outbox flusher failed")
            with contextlib.suppress(Exception), rt.ctx.db.session() as s:
                s.add(ServiceEvent(component="outbox", level="error", at=rt.ctx.clock.now(),
                                   message=f"Envoi de la file en échec : {type(exc).__name__}: {exc}"[:2000]))
    return failures


def with_clock(ctx: Context, clock) -> Context:
    """A copy of ``ctx`` reading another clock (dry runs "as of" a date)."""
    return dataclasses.replace(ctx, clock=clock)
