"""What `clausebot status` reports, read from the database (works while the service runs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from clauses.clock import PARIS
from clauses.context import Context
from clauses.formatting import fr_date
from clauses.service_health import service_health


@dataclass
class Status:
    last_poll: dt.datetime | None
    mailboxes: list[tuple[str, str, dt.datetime | None]]
    outbox: dict[tuple[str, str], int]
    dead: list[tuple[int, str, str | None]]
    next_jobs: list[tuple[str, dt.datetime | None]] = field(default_factory=list)
    errors: list[tuple[dt.datetime, str, str]] = field(default_factory=list)


def collect_status(ctx: Context) -> Status:
    # Read-only: `clausebot status` must never hold the write lock of the running service.
    with ctx.db.read_session() as s:
        health = service_health(s)
    boxes, backlog, dead, errors = health.mailboxes, health.outbox, health.dead, health.errors
    polls = [b[2] for b in boxes if b[2] is not None]
    status = Status(last_poll=max(polls) if polls else None, mailboxes=boxes, outbox=backlog,
                    dead=dead, errors=errors)
    from scheduler.jobs import next_runs

    status.next_jobs = list(next_runs(ctx))
    return status


def _when(at: dt.datetime | None) -> str:
    if at is None:
        return "jamais"
    local = at.astimezone(PARIS)
    return f"{fr_date(local.date())} {local:%H:%M}"


def format_status(st: Status) -> str:
    lines = [f"Dernière relève du courrier : {_when(st.last_poll)}"]
    for account, folder, at in st.mailboxes:
        lines.append(f"  {account} / {folder} : {_when(at)}")
    pending = sum(n for (_, s), n in st.outbox.items() if s in ("pending", "sending"))
    dead = sum(n for (_, s), n in st.outbox.items() if s == "dead")
    sent = sum(n for (_, s), n in st.outbox.items() if s == "sent")
    lines.append(f"File d'envoi : {pending} en attente, {sent} envoyés, {dead} en échec définitif")
    for oid, key, err in st.dead:
        lines.append(f"  échec n° {oid} ({key}) : {err or '?'}")
    if st.next_jobs:
        lines.append("Prochaines tâches :")
        for name, at in st.next_jobs:
            lines.append(f"  {name:<28} {_when(at)}")
    lines.append("Erreurs récentes :" if st.errors else "Erreurs récentes : aucune")
    for at, component, message in st.errors:
        lines.append(f"  {_when(at)} [{component}] {message}")
    return "\n".join(lines)
