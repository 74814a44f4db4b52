"""One check shared by the set-based jobs' tests: a chunk that fails is redone item by item.

Why: every set-based job (lateness, exits, paths, fees, reminders, meeting planning) promises the
same thing when its bulk writer meets a concurrent run's row — the chunk keeps nothing, each item
is then done once by the per-item path, and a second run finds nothing left. One helper states it.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from scheduler import jobs
from storage.models import Alert, OutboxMessage


def assert_failing_chunk_redone_one_by_one(db: Any, ctx: Any, monkeypatch: Any, job_id: str,
                                           module: str, bulk: str) -> None:
    """Make ``module.bulk`` raise a unique-key error after writing; the job still does each
    item exactly once, and a second run does nothing."""
    target = importlib.import_module(module)
    real = getattr(target, bulk)

    def concurrent(*args: Any) -> None:
        real(*args)
        raise IntegrityError("INSERT …", {}, Exception("a concurrent run's row"))

    monkeypatch.setattr(target, bulk, concurrent)
    result = jobs.run_job(ctx, job_id)
    assert result.errors == []
    assert result.done == result.due > 0
    with db.session() as s:
        keys = list(s.scalars(select(Alert.dedup_key)))
        outbox = list(s.scalars(select(OutboxMessage.dedup_key)))
    assert len(keys) == len(set(keys)) and len(outbox) == len(set(outbox))
    assert result.messages == len(keys) + len(outbox) > 0
    monkeypatch.setattr(target, bulk, real)
    assert jobs.run_job(ctx, job_id).done == 0
