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

The process tree (issue 20): the service renders reports outside its process (a renderer
process), so a sampler thread sums, every 50 ms, the service's RSS and each descendant's
high-water mark (``VmHWM``: a one-render child peaks just before it exits, which a sample of its
RSS would miss); the peak of that sum is the tree's figure, goal at most 180 MB. The summed PSS
(shared pages counted once, current values) is given beside it. The mailbox also holds a
référent's annual bilan request (charts + XLSX) beside the points d'étape, and the catch-up
sends the escalation letters (PDF) when some are due. Each round runs, in alternated order, the
service on an empty database, the service on the data, and the same service from the code
before the change measured (:data:`BEFORE_ROOT`), after a dropped warm-up round.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
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
CATCH_UP_TIMEOUT = 1800.0
"""The first catch-up at national size: 163,518 due items (154 s alone on SQLite, k20tick),
here beside the mailbox and the senders; bounded, so that a stuck service fails the round."""
TREE_GOAL_MB = 180.0
BEFORE_ROOT = os.environ.get("CLAUSEBOT_BENCH_BEFORE_ROOT", "")
"""A checkout of the code before the change measured (``git archive <commit>``), run on the same
scenario in the same rounds; empty: that row is left out. Issue 20's successive designs: one
child per render (e4ffac1), one long-lived renderer drawing the charts (a229a78), the charts
drawn in the service (k20mem2)."""
BEFORE_LABEL = os.environ.get("CLAUSEBOT_BENCH_BEFORE_LABEL", "the code before")
SAMPLE_SECONDS = 0.05


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (children of every thread, recursively)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return found


def _pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class TreeSampler:
    """Samples the summed RSS and PSS of a process tree in a thread; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.children: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-sampler")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            rss = pss = 0
            pids = _tree(self.pid)
            for pid in pids:
                # a child's own high-water mark: a short-lived child peaks just before it
                # exits, between two samples (the service's is read once, at the end)
                field = "VmRSS" if pid == self.pid else "VmHWM"
                with contextlib.suppress(OSError, ValueError):
                    rss += _status_kb(pid, field)
                    pss += _pss_kb(pid)
            self.children.update(p for p in pids if p != self.pid)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def service_env(run: Run, db: Database, data_dir: Path, server: Any, account: Any,
                root: str | None = None) -> dict[str, str]:
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
        "PYTHONPATH": root or str(Path(__file__).resolve().parents[2]),
    })
    return env


class Service:
    """``clausebot run`` in a child process, with its RSS sampled."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        """``env["PYTHONPATH"]`` is the code that runs: it is also the working directory,
        which ``python -c`` puts first on the path."""
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVICE_MAIN], env=env,
                                     cwd=env["PYTHONPATH"],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.samples: list[int] = []
        self.tree = TreeSampler(self.proc.pid)
        self.started = time.monotonic()
        self.phases: list[str] = []
        """« phase at seconds: RSS / high-water mark / tree peak so far » (per-phase figures)."""

    def mark(self, phase: str) -> None:
        """Record where the service stands at the end of ``phase``: its current RSS, its
        high-water mark so far and the tree's peak so far, so that the phase that raised the
        peak shows (the high-water mark only grows)."""
        with contextlib.suppress(OSError):
            rss = _status_kb(self.proc.pid, "VmRSS") / 1024
            hwm = _status_kb(self.proc.pid, "VmHWM") / 1024
            self.phases.append(f"{phase} at {time.monotonic() - self.started:.0f} s: "
                               f"RSS {rss:.1f} / HWM {hwm:.1f} / tree {self.tree.peak_rss_kb / 1024:.1f} MB")

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
        if not self.log.closed:
            self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> int:
        self.tree.stop()
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


def _jobs_done(db: Database) -> set[str]:
    """The daily jobs that recorded a run (the catch-up runs them one after the other)."""
    from scheduler.jobs import LAST_RUN_PREFIX

    with raw(db) as sql:
        return {r[0].removeprefix(LAST_RUN_PREFIX)
                for r in sql.all("SELECT key FROM key_values WHERE key LIKE :p",
                                 {"p": f"{LAST_RUN_PREFIX}%"})}


def _catch_up_done(db: Database, service: Service | None = None,
                   seen: set[str] | None = None) -> bool:
    """Every daily job ran; with ``service``, each job newly done is marked as a phase (the
    high-water mark after each job shows which one raised the peak)."""
    from scheduler.jobs import DAILY

    done = _jobs_done(db)
    if service is not None and seen is not None:
        for job in DAILY:
            if job in done and job not in seen:
                seen.add(job)
                service.mark(f"job {job}")
    return all(job in done for job in DAILY)


def _chat_workload(service: Service, server: Any, db: Database, run: Run,
                   targets: list[chat_measure.Target]) -> list[str]:
    """The facilitator's bilan, then each company user's declaration flow and progress.

    Each step waits until the service confirmed the update (its next ``getUpdates`` carries the
    offset past it) and the user got one more message: the adapter confirms an update once it
    is committed with its replies journaled, which may be before the answer reaches the user.
    """
    def handled(update_id: int, what: str, chat: int | None = None, before: int = 0) -> None:
        service.wait_for(lambda: server.is_confirmed(update_id) and (
            chat is None or len(server.sent_messages(chat)) > before), what)

    done: list[str] = []
    fac = _facilitator(db)
    donneur = _bilan_donneur(db, run.bench_db.report.year)
    if fac is not None and donneur is not None:
        user = server.user(id=fac, first_name="Fanny")
        handled(server.send_text(user, f"/bilan {run.bench_db.report.year} {donneur}"),
                "the facilitator's bilan")
        # A big scope is acknowledged at once (« Je prépare le bilan… ») and the bilan itself
        # comes later from the chat reports worker: wait for it, it is part of the workload.
        service.wait_for(lambda: any("Bilan" in (m.text or "") for m in server.sent_messages(fac)),
                         "the facilitator's bilan")
        service.mark("chat bilan")
        done.append(f"chat bilan of {donneur}")
    for t in targets:
        user = server.user(id=t.tg_id, first_name="Chef")
        def count(chat: int = t.tg_id) -> int:
            return len(server.sent_messages(chat))

        before = count()
        handled(server.send_text(user, "/declarer"), "a chat answer", t.tg_id, before)
        for _ in range(chat_measure.MAX_STEPS):
            action = chat_measure.next_action(t, server.last_message(t.tg_id))
            if action is None:
                t.done = True
                break
            kind, value = action
            before = count()
            if kind == "text":
                update = server.send_text(user, value)
            else:
                update = server.press_button(user, server.last_message(t.tg_id), value)
            handled(update, "a chat answer", t.tg_id, before)
        before = count()
        handled(server.send_text(user, "/avancement"), "the progress answer", t.tg_id, before)
    unfinished = [t for t in targets if not t.done]
    if unfinished:
        raise AssertionError(f"{len(unfinished)} chat declaration flows did not finish")
    service.mark("declaration flows")
    done.append(f"{len(targets)} declaration flows and progress answers")
    return done


@dataclass
class Measured:
    """One run of the service: its own peak and its tree's."""

    peak_mb: float
    tree_rss_mb: float
    tree_pss_mb: float
    notes: str
    phases: list[str] = field(default_factory=list)
    """Per phase: the service's RSS, high-water mark and the tree's peak at its end."""


def _rendered(data_dir: Path) -> str:
    """What the service e-mailed that needed a render, read from its outgoing Maildir."""
    import mailbox

    out = data_dir / "mail" / "outgoing"
    charts = xlsx = pdf = 0
    if out.exists():
        for msg in mailbox.Maildir(out, create=False):
            names = [p.get_filename() or "" for p in msg.walk()]
            charts += any(n.endswith(".png") for n in names)
            xlsx += any(n.endswith(".xlsx") and "bilan" in n.lower() for n in names)
            pdf += any(n.endswith(".pdf") for n in names)
    return f"e-mails with charts {charts}, with a bilan XLSX {xlsx}, with a PDF {pdf}"


def measure_service(run: Run, db: Database, label: str, *, workload: bool,
                    root: str | None = None) -> Measured:
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
    if facts["referents"]:  # an annual bilan (charts + XLSX) beside the points d'étape
        referent, _reference = facts["referents"][0]
        messages.append(intake_measure._mail(
            referent, f"Bilan annuel {run.bench_db.report.year}",
            f"Bonjour,\n\nPourriez-vous m'envoyer le bilan annuel {run.bench_db.report.year} ?"))
    intake_measure.fill_mailbox(account, messages)
    notes: list[str] = []
    with BotApiServer() as server:
        with raw(db) as sql:
            for (tg_id,) in sql.all("SELECT telegram_user_id FROM users "
                                    "WHERE telegram_user_id IS NOT NULL"):
                server.user(id=int(tg_id), first_name="Contact")
        db.dispose()
        service = Service(service_env(run, db, data_dir, server, account, root),
                          data_dir / "service.log")
        try:
            seen: set[str] = set()
            service.wait_for(lambda: (_catch_up_done(db, service, seen) or True)
                             and not account.folder_uids("INBOX"), "the mailbox to be read")
            service.mark("mailbox read")
            notes.append(f"{MAILBOX} e-mails read")
            # the catch-up first: its questions to companies (a contract that ended) would
            # otherwise land in the middle of a declaration flow
            service.wait_for(lambda: _catch_up_done(db, service, seen), "the scheduler's catch-up",
                             timeout=CATCH_UP_TIMEOUT)
            notes.append("catch-up of every daily job done")
            if workload:
                notes += _chat_workload(service, server, db, run, targets)
            for _ in range(25):  # let the senders drain what the jobs queued
                service.sample()
                time.sleep(0.2)
            service.mark("idle")
            peak = service.peak_mb()
            notes.append(f"renderer processes {len(service.tree.children)}; " + _rendered(data_dir))
        finally:
            code = service.stop()
            dovecot.remove_user(account.user)
        if code not in (0, -signal.SIGTERM):
            if root is None:
                raise RuntimeError(f"the service exited with {code}:\n{service.tail()}")
            # the code before: its figure stands, its own stop is not what is measured here
            notes.append(f"exit code {code} at stop")
    return Measured(peak, service.tree.peak_rss_kb / 1024, service.tree.peak_pss_kb / 1024,
                    "; ".join(notes), service.phases)


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


def _on_data(run: Run, label: str, root: str | None) -> Measured:
    clone = run.backends.clone(run.bench_db, "service")
    try:
        return measure_service(run, clone, label, workload=True, root=root)
    finally:
        run.backends.drop_clone(clone)


def _on_empty(run: Run) -> Measured:
    empty = empty_database(run)
    try:
        return measure_service(run, empty, "empty", workload=False)
    finally:
        empty.dispose()
        if run.backend == "postgres":
            run.backends.postgres().drop_database("bench_empty")


def _spread(values: list[float]) -> str:
    return f"min {min(values):.1f} / median {statistics.median(values):.1f} MB"


def run(run: Run) -> list[Row]:
    rounds = max(1, min(run.repeat, 3))  # 3 by default (--repeat 5)
    variants: list[tuple[str, Any]] = [("empty", lambda: _on_empty(run)),
                                       ("now", lambda: _on_data(run, "data", None))]
    if BEFORE_ROOT:
        variants.append(("before", lambda: _on_data(run, "before", BEFORE_ROOT)))
    results: dict[str, list[Measured]] = {name: [] for name, _ in variants}
    for round_ in range(1 + rounds):  # round 0: warm-up (caches, fonts), dropped
        order = variants if round_ % 2 == 0 else variants[::-1]
        for name, measure in order:
            began = time.monotonic()
            got = measure()
            run.log(f"  round {round_} {name}: service {got.peak_mb:.1f} MB, tree RSS "
                    f"{got.tree_rss_mb:.1f} MB, tree PSS {got.tree_pss_mb:.1f} MB "
                    f"({time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.1f})")
            for phase in got.phases:
                run.log(f"    {phase}")
            if round_:
                results[name].append(got)
    now, empty = results["now"], results["empty"]
    notes = now[-1].notes

    def med(items: list[Measured], attr: str) -> float:
        return float(statistics.median(getattr(m, attr) for m in items))

    rows = []
    row = run.row("peak RSS of the running service (clausebot run)", med(now, "peak_mb"),
                  med(empty, "peak_mb"), goal=GOAL_MB, unit="MB", check=notes,
                  note="the goal is absolute; baseline = the same service on an empty database; "
                       f"{_spread([m.peak_mb for m in now])}")
    row.absolute_goal = GOAL_MB
    rows.append(row)
    tree = run.row("peak RSS of the process tree (service + renderer)", med(now, "tree_rss_mb"),
                   med(empty, "tree_rss_mb"), goal=TREE_GOAL_MB, unit="MB", check=notes,
                   note="the goal is absolute; baseline = the same service on an empty database; "
                        f"{_spread([m.tree_rss_mb for m in now])}; summed PSS "
                        f"{_spread([m.tree_pss_mb for m in now])}")
    tree.absolute_goal = TREE_GOAL_MB
    rows.append(tree)
    if BEFORE_ROOT:
        before = results["before"]
        rows.append(run.row(
            "peak RSS of the process tree: this code vs the code before",
            med(now, "tree_rss_mb"), med(before, "tree_rss_mb"), goal=1.0, unit="MB",
            check=before[-1].notes,
            note=f"baseline = {BEFORE_LABEL}: service "
                 f"{_spread([m.peak_mb for m in before])}, tree "
                 f"{_spread([m.tree_rss_mb for m in before])}, summed PSS "
                 f"{_spread([m.tree_pss_mb for m in before])}"))
    return rows


# -- the demo territory (``python -m bench.measures.memory``) -----------------------------------

DEMO_REFERENT = "juliette.rey@oullins.demo"
DEMO_MAILS = (("Point d'étape", "Pouvez-vous faire un point d'étape du marché 2025-017 ?"),
              ("Bilan annuel", "Pourriez-vous m'envoyer le bilan annuel {year} ?"))


def demo_service(workdir: Path, label: str, root: str | None, *, data: bool = True) -> Measured:
    """``clausebot demo`` then ``clausebot run`` on embedded defaults (console, Maildir,
    SQLite); the demo's référente e-mails for a point d'étape and the annual bilan (charts +
    XLSX); the start-up catch-up runs every daily job (the demo's escalation letter: a PDF).
    Without ``data``: the same service on an empty database, idle."""
    import datetime as dt
    import mailbox
    import shutil
    from email.message import EmailMessage

    data_dir = workdir / f"demo-{label}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSEBOT_")}
    env.update(CLAUSEBOT_DATA_DIR=str(data_dir), CLAUSEBOT_LOG_LEVEL="WARNING",
               PYTHONPATH=root or str(Path(__file__).resolve().parents[2]))
    if data:
        subprocess.run([sys.executable, "-m", "clausebot.cli", "demo"], env=env, check=True,
                       capture_output=True, timeout=300, cwd=env["PYTHONPATH"])
        (data_dir / "mail").mkdir(parents=True, exist_ok=True)
        incoming = mailbox.Maildir(data_dir / "mail" / "incoming", create=True)
        for n, (subject, text) in enumerate(DEMO_MAILS):
            msg = EmailMessage()
            msg["From"], msg["To"] = DEMO_REFERENT, "clauses@agence.invalid"
            msg["Subject"], msg["Message-ID"] = subject, f"<bench-{n}@oullins.demo>"
            msg.set_content("Bonjour,\n\n" + text.format(year=dt.date.today().year - 1))
            incoming.add(msg)
    outgoing = data_dir / "mail" / "outgoing"

    def answered() -> bool:
        if not outgoing.exists():
            return False
        return sum(DEMO_REFERENT in (m["To"] or "") and "Accusé" not in (m["Subject"] or "")
                   for m in mailbox.Maildir(outgoing, create=False)) >= len(DEMO_MAILS)

    db = Database(f"sqlite:///{data_dir / 'clausebot.sqlite3'}")
    service = Service(env, workdir / f"demo-{label}.log")
    try:
        if data:
            service.wait_for(answered, "the référente's reports")
            service.wait_for(lambda: _catch_up_done(db), "the scheduler's catch-up")
        for _ in range(50):  # idle, or the senders draining what the jobs queued
            time.sleep(0.2)
        peak = service.peak_mb()
        notes = (f"renderer processes {len(service.tree.children)}; " + _rendered(data_dir)) if data else ""
    finally:
        service.stop()
        db.dispose()
    return Measured(peak, service.tree.peak_rss_kb / 1024, service.tree.peak_pss_kb / 1024, notes)


def demo_main(rounds: int = 3) -> None:
    """Alternated rounds (a dropped warm-up first) on the demo: empty, now, before."""
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="clausebot-mem-demo-"))
    variants: list[tuple[str, Any]] = [
        ("empty", lambda: demo_service(workdir, "empty", None, data=False)),
        ("now", lambda: demo_service(workdir, "now", None))]
    if BEFORE_ROOT:
        variants.append(("before", lambda: demo_service(workdir, "before", BEFORE_ROOT)))
    results: dict[str, list[Measured]] = {name: [] for name, _ in variants}
    for round_ in range(1 + rounds):
        for name, measure in variants if round_ % 2 == 0 else variants[::-1]:
            got = measure()
            print(f"round {round_} {name}: service {got.peak_mb:.1f} MB, tree RSS "
                  f"{got.tree_rss_mb:.1f} MB, tree PSS {got.tree_pss_mb:.1f} MB; {got.notes}",
                  flush=True)
            if round_:
                results[name].append(got)
    for name, items in results.items():
        print(f"{name}: service {_spread([m.peak_mb for m in items])}; tree RSS "
              f"{_spread([m.tree_rss_mb for m in items])}; tree PSS "
              f"{_spread([m.tree_pss_mb for m in items])}")


if __name__ == "__main__":
    demo_main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
