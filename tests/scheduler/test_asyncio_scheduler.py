"""The AsyncIOScheduler really starts inside a running loop with every job registered."""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle

import pytest
from sqlalchemy import func, select

from clauses.clock import PARIS
from scheduler import runtime
from scheduler.jobs import BY_ID, JOBS, next_runs
from scheduler.service import MISFIRE_GRACE_SECONDS, start_scheduler, stop_scheduler
from storage.models import KeyValue, OutboxMessage
from tests import factories as f


async def _until(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_scheduler_runs_in_the_loop_with_its_jobs_and_paris_times(ctx):
    with ctx.db.session() as s:
        f.territory(s)  # 2025-06-16 (fixture clock): April and May not declared
    flushed = asyncio.Event()
    loop_of_flusher: list[asyncio.AbstractEventLoop] = []

    async def flusher() -> None:
        loop_of_flusher.append(asyncio.get_running_loop())
        flushed.set()

    scheduler = start_scheduler(ctx, flushers=[flusher], catch_up=False)
    try:
        assert scheduler.running
        assert scheduler._eventloop is asyncio.get_running_loop()
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == set(BY_ID)
        now = dt.datetime.now(PARIS)
        for spec in JOBS:
            job = jobs[spec.id]
            assert job.func_ref == spec.func  # a module-level reference: storable
            assert job.coalesce and job.misfire_grace_time == MISFIRE_GRACE_SECONDS
            assert job.max_instances == 1
            assert str(job.next_run_time.tzinfo) == "Europe/Paris"
            assert now - dt.timedelta(seconds=1) < job.next_run_time
            pickle.dumps(job.__getstate__())  # what a persistent job store would store
        assert (jobs["declaration_reminders"].next_run_time.hour,
                jobs["declaration_reminders"].next_run_time.minute) == (8, 0)
        assert jobs["outbox"].next_run_time <= now + dt.timedelta(seconds=31)

        # The outbox job awaits the senders' coroutines on the bot's loop.
        jobs["outbox"].modify(next_run_time=dt.datetime.now(PARIS))
        await asyncio.wait_for(flushed.wait(), timeout=15)
        assert loop_of_flusher == [asyncio.get_running_loop()]

        # A synchronous job runs in the loop's thread pool and does its work.
        jobs["declaration_reminders"].modify(next_run_time=dt.datetime.now(PARIS))

        def sent() -> int:
            with ctx.db.session() as s:
                return s.scalar(select(func.count()).select_from(OutboxMessage)) or 0

        await _until(lambda: sent() == 2)
        await _until(lambda: _last_run(ctx) is not None)
    finally:
        stop_scheduler(scheduler)
        await asyncio.sleep(0.05)
    assert not scheduler.running
    with pytest.raises(RuntimeError):
        runtime.current()


def _last_run(ctx) -> str | None:
    with ctx.db.session() as s:
        return s.scalar(select(KeyValue.value)
                        .where(KeyValue.key == "job_last_run:declaration_reminders"))


def test_start_outside_a_running_loop_is_refused(ctx):
    with pytest.raises(RuntimeError, match="inside the running event loop"):
        start_scheduler(ctx)


def test_next_runs_without_a_scheduler(ctx, clock):
    runs = dict(next_runs(ctx))  # clock: Monday 2025-06-16 10:00 Paris
    assert runs["declaration_reminders"] == dt.datetime(2025, 6, 17, 8, 0, tzinfo=PARIS)
    assert runs["lateness"] == dt.datetime(2025, 6, 17, 7, 45, tzinfo=PARIS)
    assert runs["annual_bilans"] == dt.datetime(2025, 6, 16, 10, 30, tzinfo=PARIS)
    assert all(str(at.tzinfo) == "Europe/Paris" for at in runs.values())
