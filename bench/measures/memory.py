"""Measurement 6: peak memory (RSS) of the running service on the generated database.

``clausebot run`` is started as its own process (see :data:`SERVICE_MAIN`) on a copy of the
database, with every channel live: Telegram through the local Bot API server, IMAP on Dovecot
(200 messages of the agency's mix waiting), e-mail out to the Maildir, the scheduler (its
start-up catch-up runs every daily job, 15 seconds after the start). While
it runs, a facilitator asks the annual bilan of the biggest donneur in the chat, company users
run the declaration flow to the end and ask their progress. Once all of that is answered and the
mailbox is empty, the kernel's high-water mark (``VmHWM``) of the process is read, then the
service is stopped with SIGTERM.

The baseline is the same service on an empty database (schema only) with the same mailbox, idle:
what the process weighs before any data. The goal is absolute: at most 150 MB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Row, Run
from bench.measures import chat as chat_measure
from bench.measures import intake as intake_measure
from bench.sql import raw
from storage.db import Database

GOAL_MB = 150.0
SERVICE_MAIN = (
    "import sys, scheduler.service as s; s.CATCH_UP_HOURS = range(24); "
    "from clausebot.cli import main; sys.argv = ['clausebot', 'run']; main()"
)
"""``clausebot run``, with the start-up catch-up allowed at any hour (it only runs between 7:00
and 21:00 Paris time otherwise), so that the figure does not depend on when the bench runs."""
MAILBOX = 200
FLOWS = 5
TIMEOUT = 600.0


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def service_env(run: Run, db: Database, data_dir: Path, server: Any, account: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSEBOT_")}
    env.update({
        "CLAUSEBOT_DATA_DIR": str(data_dir),
        "CLAUSEBOT_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "CLAUSEBOT_TELEGRAM_TOKEN": server.token,
        "CLAUSEBOT_TELEGRAM_BASE_URL": server.bot_base_url,
        "CLAUSEBOT_TELEGRAM_BASE_FILE_URL": server.file_base_url,
        "CLAUSEBOT_IMAP_HOST": account.host,
        "CLAUSEBOT_IMAP_PORT": str(account.port),
        "CLAUSEBOT_IMAP_SSL": "false",
        "CLAUSEBOT_IMAP_USERNAME": account.user,
        "CLAUSEBOT_IMAP_PASSWORD": account.password,
        "CLAUSEBOT_IMAP_POLL_SECONDS": "2",
        "CLAUSEBOT_AGENCY_EMAIL": intake_measure.AGENCY,
        "CLAUSEBOT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    })
    return env


class Service:
    """``clausebot run`` in a child process, with its RSS sampled."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVICE_MAIN], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.samples: list[int] = []

    def sample(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.samples.append(_status_kb(self.proc.pid, "VmRSS"))

    def peak_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sample()
            if not self.alive():
                raise RuntimeError(f"the service exited while waiting for {what}:\n"
                                   + self.tail())
            if predicate():
                return
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}\n" + self.tail())

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return int(self.proc.returncode or 0)


def _bilan_donneur(db: Database, year: int) -> str | None:
    """The donneur with most markets whose name designates it alone (the chat matches names)."""
    with raw(db) as sql:
        rows = sql.all("SELECT d.name, COUNT(m.id) FROM donneurs d JOIN markets m ON "
                       "m.donneur_id = d.id GROUP BY d.name ORDER BY COUNT(m.id) DESC, d.name")
    names = [r[0] for r in rows]
    for name in names:
        if sum(1 for other in names if name.lower() in other.lower()) == 1:
            return str(name)
    return None


def _facilitator(db: Database) -> int | None:
    with raw(db) as sql:
        row = sql.all("SELECT telegram_user_id FROM users WHERE role = 'facilitateur' AND "
                      "telegram_user_id IS NOT NULL ORDER BY id LIMIT 1")
    return int(row[0][0]) if row else None


def _catch_up_done(db: Database) -> bool:
    from scheduler.jobs import DAILY, LAST_RUN_PREFIX

    with raw(db) as sql:
        done = {r[0] for r in sql.all("SELECT key FROM key_values WHERE key LIKE :p",
                                      {"p": f"{LAST_RUN_PREFIX}%"})}
    return all(f"{LAST_RUN_PREFIX}{job}" in done for job in DAILY)


def _chat_workload(service: Service, server: Any, db: Database, run: Run,
                   targets: list[chat_measure.Target]) -> list[str]:
    """The facilitator's bilan, then each company user's declaration flow and progress.

    Each step waits until the service confirmed the update (its next ``getUpdates`` carries the
    offset past it), which it does only once the update is handled and answered.
    """
    def handled(update_id: int, what: str) -> None:
        service.wait_for(lambda: server.is_confirmed(update_id), what)

    done: list[str] = []
    fac = _facilitator(db)
    donneur = _bilan_donneur(db, run.bench_db.report.year)
    if fac is not None and donneur is not None:
        user = server.user(id=fac, first_name="Fanny")
        handled(server.send_text(user, f"/bilan {run.bench_db.report.year} {donneur}"),
                "the facilitator's bilan")
        if not any("Bilan" in (m.text or "") for m in server.sent_messages(fac)):
            raise AssertionError("the service did not answer the bilan")
        done.append(f"chat bilan of {donneur}")
    for t in targets:
        user = server.user(id=t.tg_id, first_name="Chef")
        handled(server.send_text(user, "/declarer"), "a chat answer")
        for _ in range(chat_measure.MAX_STEPS):
            action = chat_measure.next_action(t, server.last_message(t.tg_id))
            if action is None:
                t.done = True
                break
            kind, value = action
            if kind == "text":
                update = server.send_text(user, value)
            else:
                update = server.press_button(user, server.last_message(t.tg_id), value)
            handled(update, "a chat answer")
        handled(server.send_text(user, "/avancement"), "the progress answer")
    unfinished = [t for t in targets if not t.done]
    if unfinished:
        raise AssertionError(f"{len(unfinished)} chat declaration flows did not finish")
    done.append(f"{len(targets)} declaration flows and progress answers")
    return done


def measure_service(run: Run, db: Database, label: str, *, workload: bool) -> tuple[float, str]:
    from tests.servers.botapi import BotApiServer

    dovecot = run.backends.dovecot()
    account = dovecot.add_user()
    data_dir = run.workdir / f"service-{label}"
    data_dir.mkdir(parents=True, exist_ok=True)
    targets = chat_measure.pick_targets(run, db, FLOWS) if workload else []
    facts = intake_measure.territory_facts(run)
    aimed = {t.contract_id for t in targets}  # the chat declares these: not the e-mails too
    facts["missing"] = {company: [line for line in lines if line[0] not in aimed]
                        for company, lines in facts["missing"].items()}
    messages, _kinds = intake_measure.build_mailbox(facts, MAILBOX, seed=99)
    intake_measure.fill_mailbox(account, messages)
    notes: list[str] = []
    with BotApiServer() as server:
        with raw(db) as sql:
            for (tg_id,) in sql.all("SELECT telegram_user_id FROM users "
                                    "WHERE telegram_user_id IS NOT NULL"):
                server.user(id=int(tg_id), first_name="Contact")
        db.dispose()
        service = Service(service_env(run, db, data_dir, server, account),
                          data_dir / "service.log")
        try:
            service.wait_for(lambda: not account.folder_uids("INBOX"), "the mailbox to be read")
            notes.append(f"{MAILBOX} e-mails read")
            if workload:
                notes += _chat_workload(service, server, db, run, targets)
            service.wait_for(lambda: _catch_up_done(db), "the scheduler's catch-up")
            notes.append("catch-up of every daily job done")
            for _ in range(25):  # let the senders drain what the jobs queued
                service.sample()
                time.sleep(0.2)
            peak = service.peak_mb()
        finally:
            code = service.stop()
            dovecot.remove_user(account.user)
        if code not in (0, -signal.SIGTERM):
            raise RuntimeError(f"the service exited with {code}:\n{service.tail()}")
    return peak, "; ".join(notes)


def empty_database(run: Run) -> Database:
    """Schema only, stamped as migrated: the service's footprint before any data."""
    from bench.generator import stamp_head
    from storage.models import Base

    if run.backend == "sqlite":
        path = run.workdir / "empty.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{path}")
    else:
        server = run.backends.postgres()
        db = Database(server.create_database("bench_empty"))
    Base.metadata.create_all(db.engine)
    stamp_head(db)
    return db


def run(run: Run) -> list[Row]:
    clone = run.backends.clone(run.bench_db, "service")
    try:
        peak, notes = measure_service(run, clone, "data", workload=True)
    finally:
        run.backends.drop_clone(clone)
    empty = empty_database(run)
    try:
        idle, _ = measure_service(run, empty, "empty", workload=False)
    finally:
        empty.dispose()
        if run.backend == "postgres":
            run.backends.postgres().drop_database("bench_empty")
    run.log(f"  peak RSS {peak:.1f} MB (empty database: {idle:.1f} MB)")
    row = run.row("peak RSS of the running service (clausebot run)", peak, idle,
                  goal=GOAL_MB, unit="MB", check=notes,
                  note="the goal is absolute; baseline = the same service on an empty database")
    row.absolute_goal = GOAL_MB
    return [row]
