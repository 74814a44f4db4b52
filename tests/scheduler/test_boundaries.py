"""The scheduler talks to senders only through the flush callables it is given: no SMTP,
IMAP or Telegram code (nor the bot and mail packages) is imported by scheduler/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_import_boundaries import imported_roots

SCHEDULER = Path(__file__).resolve().parents[2] / "scheduler"
FORBIDDEN = {"telegram", "aiosmtplib", "smtplib", "imapclient", "imaplib", "bot", "mail"}
MODULES = sorted(SCHEDULER.rglob("*.py"))


def test_the_scheduler_package_has_its_modules():
    assert {"jobs.py", "service.py", "runtime.py", "bilans.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_sender_import(path: Path):
    assert imported_roots(path) & FORBIDDEN == set()
