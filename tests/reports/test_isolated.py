"""Reports rendered in a short-lived child process (reports.isolated), and the service path.

Why these tests: the long-running service must never import matplotlib or WeasyPrint (60 MB that
stay), and a child that fails must give a clear reason without taking the caller down.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clauses.bilan import market_figures
from reports.isolated import RenderFailed, RenderRequest, render_here, render_in_child
from tests.reports import territory as T

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def point(db, rulebook):
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        return market_figures(s, built.markets["GIV-2025-01"], dt.date(2025, 6, 16), rulebook)


def test_the_child_renders_what_the_process_renders(point):
    request = RenderRequest(point, ("html", "xlsx"), "externe", 3, "MMI'e", dt.date(2025, 6, 16))
    here = render_here(request)
    child = render_in_child(request)
    assert child.email is not None and here.email is not None
    assert (child.email.subject, child.email.text, child.email.html) == (
        here.email.subject, here.email.text, here.email.html)
    assert [cid for cid, _ in child.email.images] == [cid for cid, _ in here.email.images]
    assert all(png.startswith(PNG) for _, png in child.email.images)
    assert child.xlsx is not None and child.xlsx.startswith(b"PK")
    assert child.pdf is None


def test_a_failing_child_raises_a_clear_error(point):
    with pytest.raises(RenderFailed, match="ValueError: unknown outputs"):
        render_in_child(RenderRequest(point, ("bogus",)))


def test_a_crashing_child_raises_a_clear_error(point, tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Fatal Python error: Segmentation fault' >&2\nexit 139\n")
    fake.chmod(0o755)
    monkeypatch.setattr("reports.isolated.sys.executable", str(fake))
    with pytest.raises(RenderFailed, match="Segmentation fault"):
        render_in_child(RenderRequest(point))


def test_a_stuck_child_is_killed(point, tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr("reports.isolated.sys.executable", str(fake))
    with pytest.raises(RenderFailed, match="n'a pas répondu"):
        render_in_child(RenderRequest(point), timeout=0.5)


SERVICE_PATH = textwrap.dedent('''
    import asyncio, datetime as dt, mailbox, sys
    from pathlib import Path

    from clauses.clock import FixedClock
    from clauses.context import Context, Policy
    from clauses.rulebook import load_rulebook
    from mail.config import MailConfig
    from mail.outbox_sender import OutboxSender
    from mail.transport import MaildirTransport
    from reports.isolated import enable_isolation
    from reports.queued import ReportPreparer, ReportSpec, enqueue_report_email
    from storage.db import Database
    from storage.documents import DocumentStore
    from storage.models import Base
    from tests.reports import territory as T

    from clausebot.service import keep_numpy_out

    work = Path(sys.argv[1])
    keep_numpy_out()  # what `clausebot run` does first
    enable_isolation()
    db = Database(f"sqlite:///{work / 'db.sqlite3'}")
    Base.metadata.create_all(db.engine)
    clock = FixedClock(dt.datetime(2025, 6, 16, 9, 0, tzinfo=dt.timezone.utc))
    ctx = Context(db=db, documents=DocumentStore(work / "docs"), rulebook=load_rulebook("default"),
                  clock=clock, policy=Policy())
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:  # what the intake's handler does: queue, not render
        enqueue_report_email(s, dedup_key="t:point", to="ref@ville.test", subject="Re: point",
                             spec=ReportSpec(what="market", market_id=built.markets["GIV-2025-01"],
                                             at=dt.date(2025, 6, 16), generated_on=dt.date(2025, 6, 16),
                                             subject_from_report=False))
    # the chat bilan text and the scheduler's public API, as the service uses them
    from reports import render_chat, render_html
    from clauses.bilan import market_figures
    with db.session() as s:
        figures = market_figures(s, built.markets["GIV-2025-01"], dt.date(2025, 6, 16), ctx.rulebook)
    assert "heures" in render_chat(figures, "interne").lower()
    assert render_html(figures).images
    out = work / "out"
    sender = OutboxSender(db, ctx.documents, MaildirTransport(out), MailConfig(agency_email="a@b.test"),
                          reports=ReportPreparer(ctx))
    report = asyncio.run(sender.send_due())
    assert report.sent == 1, report
    [msg] = list(mailbox.Maildir(out, create=False))
    names = [p.get_filename() for p in msg.walk() if p.get_filename()]
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".xlsx") for n in names), names
    import io, openpyxl  # the service still reads spreadsheets without numpy
    [xlsx] = [p.get_payload(decode=True) for p in msg.walk() if (p.get_filename() or "").endswith(".xlsx")]
    assert openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames
    heavy = sorted(m for m in ("matplotlib", "weasyprint", "numpy") if sys.modules.get(m) is not None)
    print("HEAVY", ",".join(heavy))
''')


def test_the_service_path_never_imports_matplotlib_or_weasyprint(tmp_path):
    """An e-mailed point d'étape, the chat text and reports.render_html, in a fresh interpreter
    (the test suite itself imports matplotlib, which would hide a leak)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SERVICE_PATH, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY"))
    loaded = set(heavy.removeprefix("HEAVY").strip().split(",")) - {""}
    assert not loaded & {"matplotlib", "weasyprint", "numpy"}, loaded
