"""What the module-level job functions run against, installed once by the service.

APScheduler stores a job as a reference to a module-level function (``scheduler.jobs:outbox``)
plus picklable arguments. Live objects (the context, the senders' flush callables, the bilan
renderer) are therefore not passed as arguments but installed here when the service starts;
a service is one process with one database, so one runtime per process is enough.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clauses.context import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from clauses.due import AnnualBilan
    from clauses.reminders import BilanMail

Flusher = Callable[[], Awaitable[object]]
"""One sender's "deliver what is due in the outbox" coroutine (mail/ and bot/ provide them)."""

BilanRenderer = Callable[["Context", "Session", "AnnualBilan"], "BilanMail"]


@dataclass(frozen=True)
class Runtime:
    ctx: Context
    flushers: Sequence[Flusher] = field(default_factory=tuple)
    renderer: BilanRenderer | None = None


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("scheduler runtime not installed: call scheduler.service.start_scheduler")
    return _current


def clear() -> None:
    global _current
    _current = None
