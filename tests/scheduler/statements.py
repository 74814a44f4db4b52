"""How many SQL statements one scheduler job runs: the set-based jobs' promise is a count flat
in the number of due items, checked by running the same job on a small and a large world."""

from __future__ import annotations

from sqlalchemy import event

from clauses.context import Context
from scheduler import jobs
from storage.db import Database


def run_counting_statements(db: Database, ctx: Context, job_id: str) -> tuple[int, jobs.JobResult]:
    """Run ``job_id`` once; the statements it sent to the database, and its result."""
    count = 0

    def one(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", one)
    try:
        result = jobs.run_job(ctx, job_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", one)
    return count, result
