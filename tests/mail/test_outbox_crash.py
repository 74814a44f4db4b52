"""kill -9 of a real sender process during SMTP delivery: at most one duplicate per kill,
recovered in seconds, the same Message-ID on both copies; no duplicate without a crash.

Each kill hits the worst moment: the SMTP server has recorded the message and the sender is
killed (SIGKILL, from inside the server's DATA handler) before it reads the "250", so its row
is still `sending`. A new sender process is started at once, as systemd would; it must send
that row again once the dead sender's lease runs out (nothing lost), and nothing else twice.
The lease is 2 s here to keep the test short; production uses 15 s (`outbox_lease_seconds`),
renewed while the sender lives. The figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from clauses.context import Context
from clauses.outbox import enqueue_email
from storage.models import OutboxMessage, OutboxStatus
from tests.servers.smtp import ReceivedMessage, SmtpSink

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2.0
KILLS = 10
KILL_EVERY = 4
"""A sender is killed on every 4th message the server receives (4, 8, … 40)."""


class Senders:
    """Sender processes forked by ``tests.mail.outbox_child``: started, killed -9, restarted."""

    def __init__(self, url: str, docs: Path, host: str, port: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.mail.outbox_child", url, str(docs), host, str(port), str(LEASE)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None and self.server.stdout.readline().strip() == "ready"
        self.pid: int | None = None

    def start(self) -> None:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write("go\n")
        self.server.stdin.flush()
        self.pid = int(self.server.stdout.readline())

    def kill(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None

    def close(self) -> None:
        self.kill()
        if self.server.stdin is not None:
            self.server.stdin.close()
        self.server.wait(timeout=10)


def _enqueue(ctx: Context, prefix: str, n: int) -> None:
    with ctx.db.session() as s:
        for i in range(n):
            enqueue_email(s, dedup_key=f"{prefix}:{i}", to=f"dest{i}@example.test",
                          subject=f"{prefix} {i}", text=f"Corps {i}")


def _unsent(ctx: Context) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.status != OutboxStatus.SENT)) or 0)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _mid(message: ReceivedMessage) -> str:
    return str(message.message["Message-ID"])


def test_kill_9_during_smtp_delivery(ctx: Context, smtp_sink: SmtpSink, tmp_path: Path, capsys) -> None:
    _enqueue(ctx, "crash", 60)
    senders = Senders(ctx.db.url, tmp_path / "documents", smtp_sink.host, smtp_sink.port)
    killed: list[tuple[str, float]] = []  # (Message-ID in flight, kill time as time.time())
    kill_done = threading.Semaphore(0)
    record = smtp_sink._record

    def record_then_kill(message: ReceivedMessage) -> None:
        record(message)  # the server has it...
        if len(killed) < KILLS and len(smtp_sink.messages) % KILL_EVERY == 0:
            senders.kill()  # ... and the sender dies before reading the "250"
            killed.append((_mid(message), time.time()))
            kill_done.release()

    smtp_sink._record = record_then_kill  # type: ignore[method-assign]
    began = time.monotonic()
    try:
        senders.start()
        for _ in range(KILLS):
            assert kill_done.acquire(timeout=60), "a sender was due to be killed"
            senders.start()  # restarted at once
        for message_id, _at in killed:
            _wait(lambda mid=message_id: sum(_mid(m) == mid for m in smtp_sink.messages) >= 2,
                  30, f"the resend of {message_id}")
        _wait(lambda: _unsent(ctx) == 0, 30, "every row sent")
        crash_phase = len(smtp_sink.messages)
        crash_seconds = time.monotonic() - began

        # Without crashes: the same sender, new rows, each exactly once.
        _enqueue(ctx, "calm", 30)
        _wait(lambda: _unsent(ctx) == 0, 30, "the calm rows")
        time.sleep(LEASE + 1)  # anything resent after a lost lease would show now
    finally:
        smtp_sink._record = record  # type: ignore[method-assign]
        senders.close()

    received = smtp_sink.messages
    with ctx.db.session() as s:
        rows = {mid: (key, subject) for mid, key, subject in
                s.execute(select(OutboxMessage.message_id, OutboxMessage.dedup_key, OutboxMessage.subject))}
    copies = collections.Counter(_mid(m) for m in received)
    assert set(copies) == set(rows) and len(rows) == 90, "every row delivered, under its own Message-ID"
    for m in received:  # a re-sent copy carries its row's stable Message-ID, never a new one
        assert rows[_mid(m)][1] == m.subject
    resend_at = {_mid(m): m.received_at for m in received}  # the last copy's arrival
    recoveries = [resend_at[mid] - at for mid, at in killed]
    crash_duplicates = sum(n - 1 for mid, n in copies.items() if rows[mid][0].startswith("crash:"))
    calm_duplicates = sum(n - 1 for mid, n in copies.items() if rows[mid][0].startswith("calm:"))
    in_flight = collections.Counter(mid for mid, _ in killed)
    assert len(killed) == KILLS
    assert all(copies[mid] <= 1 + in_flight[mid] for mid in copies), "a copy more only for a kill"
    assert crash_duplicates <= KILLS
    assert calm_duplicates == 0 and len(received) - crash_phase == 30
    assert max(recoveries) <= 30
    with capsys.disabled():
        print(f"\n[outbox kill -9, {ctx.db.engine.dialect.name}] {KILLS} kills during delivery: "
              f"{crash_duplicates} duplicates ({crash_duplicates / KILLS:.2f} per kill), every one "
              f"the message in flight, same Message-ID; recovery max {max(recoveries):.1f} s, mean "
              f"{sum(recoveries) / len(recoveries):.1f} s (lease {LEASE} s); 60 rows in "
              f"{crash_seconds:.1f} s; without crashes: {calm_duplicates} duplicates in 30 mails")
