"""``python -m bench.catch_up_counts``: what the scheduler's first catch-up queues, per person.

Copies a cached bench database (SQLite; the source is only read), runs ``run_daily`` on the copy
as the service's catch-up does, and prints as JSON the alerts recorded (per kind), the outbox
rows queued (per dedup-key prefix) and the most alert messages one person is pushed; then
deletes the copy. Run it with each tree first on ``PYTHONPATH`` to compare two trees on the
same data (k21digest's section of docs/benchmarks.md).

Example::

    PYTHONPATH=$PWD python -m bench.catch_up_counts \\
        /tmp/clausebot-bench/territory-s1-h3-seed20250101-2026-12-06-v7-schema0011.sqlite3 \\
        --today 2026-12-06
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def counts(source: Path, today: dt.date, workdir: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from clauses.clock import FixedClock
    from clauses.context import Context, Policy
    from clauses.rulebook import load_rulebook
    from scheduler.jobs import run_daily
    from storage.db import Database
    from storage.documents import DocumentStore
    from storage.models import Alert, OutboxMessage

    copy = workdir / "catch-up.sqlite3"
    shutil.copy(source, copy)
    db = Database(f"sqlite:///{copy}")
    try:
        with db.session() as s:
            outbox_before = s.scalar(select(func.max(OutboxMessage.id))) or 0
            alerts_before = s.scalar(select(func.max(Alert.id))) or 0
        ctx = Context(db=db, documents=DocumentStore(workdir / "documents"),
                      rulebook=load_rulebook("default"), policy=Policy(),
                      clock=FixedClock(dt.datetime.combine(today, dt.time(10, 0))))
        began = time.perf_counter()
        results = run_daily(ctx, describe=False)
        seconds = time.perf_counter() - began
        with db.session() as s:
            rows = s.execute(select(OutboxMessage.dedup_key, OutboxMessage.to_user_id,
                                    OutboxMessage.to_chat_id, OutboxMessage.to_address)
                             .where(OutboxMessage.id > outbox_before)).all()
            kinds = {str(k): n for k, n in s.execute(
                select(Alert.kind, func.count()).where(Alert.id > alerts_before)
                .group_by(Alert.kind))}
    finally:
        db.dispose()
    pushes = [r for r in rows if r.dedup_key.startswith(("alert:", "digest:"))]
    per_person = collections.Counter(r.to_user_id or r.to_chat_id or r.to_address for r in pushes)
    return {
        "seconds": round(seconds, 1),
        "errors": sum(len(r.errors) for r in results),
        "alerts": sum(kinds.values()), "alert_kinds": kinds,
        "outbox_rows": len(rows),
        "by_prefix": dict(collections.Counter(r.dedup_key.split(":")[0] for r in rows).most_common()),
        "people_pushed": len(per_person),
        "most_alert_messages_to_one_person": max(per_person.values(), default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a cached bench SQLite file (only read)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(),
                        help="the catch-up's day (the file's generation day)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="catch-up-") as work:
        print(json.dumps(counts(args.source, args.today, Path(work)), indent=1))


if __name__ == "__main__":
    main()
