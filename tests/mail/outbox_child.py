"""Real e-mail outbox senders in their own processes, for the kill -9 test (test_outbox_crash).

Run as ``python -m tests.mail.outbox_child DB_URL DOCS_DIR SMTP_HOST SMTP_PORT LEASE_SECONDS``.
This process imports everything once, opens nothing, then waits on stdin: each line ``go``
forks a new sender process (the same :class:`mail.outbox_sender.OutboxSender` loop that
``clausebot run`` runs, with its own database connections and lease keeper) and prints its
pid. Why a fork server: a cold Python start costs seconds on a loaded machine, and the test
restarts the sender ten times; what a restart must prove (a new process, knowing nothing of
the dead one, finds and resends its row) is the same either way. End of stdin: every sender
left is killed and this process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from mail.config import MailConfig, SmtpConfig
from mail.outbox_sender import OutboxSender
from mail.transport import SmtpTransport
from storage.db import Database
from storage.documents import DocumentStore


def _sender(url: str, docs: str, host: str, port: str, lease: str) -> None:
    """The forked sender: runs until killed."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cfg = MailConfig(agency_name="Agence test", agency_email="bot@agence.test",
                     outbox_lease_seconds=float(lease), outbox_poll_seconds=0.05,
                     outbox_retry_base_seconds=0.05, outbox_retry_max_seconds=0.2)
    smtp = SmtpConfig(host=host, port=int(port), starttls=False, timeout=10)
    sender = OutboxSender(Database(url), DocumentStore(Path(docs)), SmtpTransport(smtp), cfg)
    asyncio.run(sender.run(asyncio.Event()))


def _reap(*_: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def main() -> None:
    args = sys.argv[1:6]
    signal.signal(signal.SIGCHLD, _reap)
    children: list[int] = []
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                _sender(*args)
            finally:
                os._exit(1)
        children.append(pid)
        print(pid, flush=True)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
