"""Start the scheduler inside the service's running event loop (the bot's loop).

The service (clausebot/) takes the instance lock, starts its loop and the bot, then calls
:func:`start_scheduler` from inside that loop (e.g. python-telegram-bot's ``post_init``): an
``AsyncIOScheduler`` binds to the loop that is running when it starts. Synchronous jobs (the
database work) run in the loop's default thread pool, so they never block the chat; the outbox
job is a coroutine that awaits the senders' flush callables.

Timing: daily jobs fire in the morning (Europe/Paris). A generous misfire grace time and
coalescing mean that a loop busy or suspended at the firing time still runs the job once, late.
Downtime longer than that is covered by the domain itself (each run sends what is due *up to*
today and not yet sent) and by a catch-up run shortly after start-up during the day.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
from collections.abc import Callable, Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from clauses.clock import PARIS
from clauses.context import Context
from scheduler import jobs, runtime
from storage.models import ServiceEvent

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 6 * 3600
CATCH_UP_DELAY_SECONDS = 15
CATCH_UP_HOURS = range(7, 21)
"""Local hours in which a (re)start runs the catch-up at once; at night the morning run does."""
LOCK_CHECK_SECONDS = 30

JOB_DEFAULTS = {
    "coalesce": True,
    "misfire_grace_time": MISFIRE_GRACE_SECONDS,
    "max_instances": 1,
}


def build_scheduler(
    ctx: Context,
    *,
    flushers: Sequence[runtime.Flusher] = (),
    renderer: runtime.BilanRenderer | None = None,
) -> AsyncIOScheduler:
    """The scheduler with every job registered (not started)."""
    runtime.install(runtime.Runtime(ctx=ctx, flushers=tuple(flushers), renderer=renderer))
    scheduler = AsyncIOScheduler(timezone=PARIS, job_defaults=dict(JOB_DEFAULTS))
    for spec in jobs.JOBS:
        scheduler.add_job(spec.func, trigger=spec.trigger(), args=spec.args, id=spec.id,
                          name=spec.title_fr, replace_existing=True)
    return scheduler


def start_scheduler(
    ctx: Context,
    *,
    flushers: Sequence[runtime.Flusher] = (),
    renderer: runtime.BilanRenderer | None = None,
    catch_up: bool | None = None,
) -> AsyncIOScheduler:
    """Build and start the scheduler on the running loop; must be called from inside it.

    ``catch_up``: run every daily job once shortly after start (None: only during the day).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "start_scheduler() must be called from inside the running event loop "
            "(for instance in the bot application's post_init)"
        ) from None
    jobs.rules_for(ctx)  # a bad setting (reminder day 31...) fails the start, not every run
    scheduler = build_scheduler(ctx, flushers=flushers, renderer=renderer)
    scheduler.start()
    now = dt.datetime.now(PARIS)
    if catch_up is None:
        catch_up = now.hour in CATCH_UP_HOURS
    if catch_up:
        scheduler.add_job(
            "scheduler.jobs:catch_up", trigger=DateTrigger(
                run_date=now + dt.timedelta(seconds=CATCH_UP_DELAY_SECONDS), timezone=PARIS),
            id="catch_up", name="Rattrapage au démarrage", replace_existing=True,
        )
    _event(ctx, "info", f"Planificateur démarré (pid {os.getpid()}) : "
                        f"{len(jobs.JOBS)} tâches, fuseau Europe/Paris.")
    return scheduler


def stop_scheduler(scheduler: AsyncIOScheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)
    runtime.clear()


def _event(ctx: Context, level: str, message: str) -> None:
    try:
        with ctx.db.session() as s:
            s.add(ServiceEvent(component=jobs.COMPONENT, level=level, message=message,
                               at=ctx.clock.now(), detail={"pid": os.getpid()}))
    except Exception:
        log.exception("could not record a scheduler event")


async def serve(
    ctx: Context,
    *,
    lock_check: Callable[[], bool] | None = None,
    flushers: Sequence[runtime.Flusher] = (),
    run_now: bool = False,
    duration: float | None = None,
    say: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> int:
    """The scheduler alone (`clausebot jobs serve`), until SIGINT/SIGTERM or ``duration``.

    The caller holds the instance lock; ``lock_check`` is polled and the scheduler stops if
    the lock is lost (another instance may then take over). Returns an exit status.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    scheduler = start_scheduler(ctx, flushers=flushers, catch_up=False if run_now else None)
    say(f"Planificateur démarré (pid {os.getpid()}) : {len(jobs.JOBS)} tâches, fuseau "
        "Europe/Paris.")
    status = 0
    try:
        if run_now:
            results = await loop.run_in_executor(None, jobs.run_daily, ctx)
            for result in results:
                say(result.summary_fr())
        deadline = None if duration is None else loop.time() + duration
        while not stop.is_set():
            wait = LOCK_CHECK_SECONDS if deadline is None else min(LOCK_CHECK_SECONDS,
                                                                   deadline - loop.time())
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if lock_check is not None and not lock_check():
                say("Verrou d'instance perdu (connexion à la base coupée) : arrêt du "
                    "planificateur.")
                _event(ctx, "error", "Verrou d'instance perdu : planificateur arrêté.")
                status = 1
                break
    finally:
        stop_scheduler(scheduler)
        await asyncio.sleep(0)
        _event(ctx, "info", f"Planificateur arrêté (pid {os.getpid()}).")
        say("Planificateur arrêté.")
    return status
