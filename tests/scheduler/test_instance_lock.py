"""One service per database: real `clausebot jobs serve` processes on PostgreSQL and on SQLite,
and the lock itself (advisory lock on a dedicated connection, file lock next to the database)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from scheduler.jobs import JOBS
from storage.db import Database
from storage.instance_lock import InstanceBusy, InstanceLock
from storage.models import Alert, AlertKind, ServiceEvent
from tests import factories as f

REPO = Path(__file__).resolve().parents[2]
BUSY = "Une autre instance de clausebot tourne déjà sur cette base de données"


def _seed_late_engagement(db: Database) -> None:
    """An engagement with no hours declared, in a market running around today (real clock)."""
    today = dt.date.today()
    with db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville d'Oullins")
        m = f.market(s, d, reference="2026-001", facilitator=fac,
                     start=today - dt.timedelta(days=300), end=today + dt.timedelta(days=300))
        lt = f.lot(s, m, 1, hours=1000, amount_ht=Decimal("500000"))
        c = f.company(s, "BTP Rhône", facilitator=fac, email="chef@btp-rhone.test")
        e = f.engagement(s, lt, c)
        p = f.participant(s, validated_by=fac)
        f.contract(s, p, e, start=today - dt.timedelta(days=250), end=None)


def _serve(db: Database, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSEBOT_")}
    env.update(CLAUSEBOT_DATABASE_URL=db.url, CLAUSEBOT_DATA_DIR=str(tmp_path / "data"),
               CLAUSEBOT_RULEBOOK="default", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "clausebot.cli", "jobs", "serve", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60,
                   stream: str = "stdout") -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    while time.monotonic() < deadline:
        line = pipe.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    other = proc.stderr if stream == "stdout" else proc.stdout
    raise AssertionError(f"{needle!r} not printed; got {lines!r}; other stream: {other.read()!r}")


def _started_events(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(ServiceEvent.message)
                              .where(ServiceEvent.message.like("Planificateur démarré%"))
                              .order_by(ServiceEvent.id)))


def _late_alerts(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Alert)
                        .where(Alert.kind == AlertKind.ENTREPRISE_EN_RETARD)) or 0


def test_two_service_processes_started_together_only_one_schedules(db, tmp_path):
    _seed_late_engagement(db)
    procs = [_serve(db, tmp_path, "--run-now", "--duration", "120") for _ in range(2)]
    # The loser leaves at once; the winner runs until told to stop, once the loser has left (a
    # fixed duration could end the winner before a slow loser even tried the lock).
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    read = {id(p): "" for p in procs}
    for p in procs:
        if p.poll() is None:  # the winner: stopped once it ran its jobs
            read[id(p)] = "".join(_wait_for_line(p, "lateness :"))
            p.send_signal(signal.SIGTERM)
    outs = [(read[id(p)] + out, err) for p in procs for out, err in [p.communicate(timeout=120)]]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 75], outs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    w_out, _ = outs[winner]
    _, l_err = outs[loser]
    assert f"Planificateur démarré (pid {procs[winner].pid})" in w_out
    assert "lateness : 1 élément(s) dus, 1 traités" in w_out
    assert BUSY in l_err and "--wait" in l_err
    assert ("pid" in l_err) or ("connexion" in l_err)  # says who holds the lock
    assert "Planificateur démarré" not in outs[loser][0]
    assert _started_events(db) == [
        f"Planificateur démarré (pid {procs[winner].pid}) : {len(JOBS)} tâches, fuseau Europe/Paris."
    ]
    assert _late_alerts(db) == 1


def test_a_second_process_with_wait_takes_over_when_the_first_stops(db, tmp_path):
    _seed_late_engagement(db)
    # The first runs until it is told to stop (SIGTERM, as systemd would), and it is told only once
    # the second says it waits: no duration to guess on a loaded machine.
    first = _serve(db, tmp_path, "--run-now", "--duration", "120")
    _wait_for_line(first, "Planificateur démarré")
    second = _serve(db, tmp_path, "--wait", "--run-now", "--duration", "1")
    waited = _wait_for_line(second, "en attente de son arrêt", stream="stderr")
    first.send_signal(signal.SIGTERM)
    out2, err2 = second.communicate(timeout=120)
    out1, _ = first.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), (out1, out2, err2)
    assert "Une autre instance de clausebot tient le verrou" in waited[-1]
    assert "lateness : 0 élément(s) dus" in out2  # the first one already alerted: once
    assert _started_events(db) == [
        f"Planificateur démarré (pid {first.pid}) : {len(JOBS)} tâches, fuseau Europe/Paris.",
        f"Planificateur démarré (pid {second.pid}) : {len(JOBS)} tâches, fuseau Europe/Paris.",
    ]
    with db.session() as s:
        stops = s.scalars(select(ServiceEvent).where(ServiceEvent.message.like("Planificateur arrêté%"))
                          .order_by(ServiceEvent.id)).all()
        starts = s.scalars(select(ServiceEvent).where(ServiceEvent.message.like("Planificateur démarré%"))
                           .order_by(ServiceEvent.id)).all()
        assert stops[0].id < starts[1].id  # the second started only after the first stopped
    assert _late_alerts(db) == 1


def test_lock_in_process_is_exclusive_and_released(db):
    first, second = InstanceLock(db.url), InstanceLock(db.url)
    try:
        first.acquire()
        assert first.held and first.kind == ("postgresql" if db.dialect == "postgresql" else "file")
        with pytest.raises(InstanceBusy) as busy:
            second.acquire()
        assert BUSY in busy.value.message_fr
        assert busy.value.holder is not None and str(os.getpid()) in busy.value.holder
        with pytest.raises(InstanceBusy):
            second.acquire(wait=True, timeout=0.3, poll=0.1)
        first.release()
        second.acquire()
        assert second.held and not first.held
    finally:
        first.dispose()
        second.dispose()


def test_postgres_lock_is_lost_with_its_connection(postgres_url):
    db = Database(postgres_url)
    lock, other = InstanceLock(db.url), InstanceLock(db.url)
    try:
        lock.acquire()
        assert lock.check()
        backend_pid = lock._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend_pid})
        deadline = time.monotonic() + 10
        while lock.check() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not lock.check()  # the service must stop: another may now take over
        other.acquire(wait=True, timeout=10, poll=0.1)
        assert other.held
    finally:
        lock.dispose()
        other.dispose()
        db.dispose()


def test_memory_database_needs_no_lock():
    lock = InstanceLock("sqlite://")
    lock.acquire()
    assert lock.kind == "none" and lock.held and lock.check()
    lock.release()
