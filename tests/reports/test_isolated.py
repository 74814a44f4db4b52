"""Reports rendered in the renderer process (reports.isolated, reports.renderer), and the service path.

Why these tests: the long-running service must never import WeasyPrint or draw charts itself (memory
that stays), and a child that fails must give a clear reason without taking the caller down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import mailbox
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from clauses.bilan import market_figures
from reports.isolated import RenderFailed, RenderRequest, render_here, render_in_child
from reports.renderer import Renderer
from tests.reports import territory as T
from tests.servers._util import deliver, demo_service, wait_for

CLI = [sys.executable, "-m", "clausebot.cli"]

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


def test_a_failing_render_raises_a_clear_error_and_the_renderer_goes_on(point):
    renderer = Renderer()
    try:
        with pytest.raises(RenderFailed, match="ValueError: unknown outputs"):
            renderer.render(RenderRequest(point, ("bogus",)))
        pid = renderer.pid
        assert pid is not None
        assert renderer.render(RenderRequest(point, ("html",))).email is not None
        assert renderer.pid == pid and renderer.started == 1  # the same process, reused
    finally:
        renderer.shutdown()


def _fake_python(tmp_path: Path, script: str) -> str:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    return str(fake)


def test_a_crashing_renderer_raises_a_clear_error(tmp_path):
    fake = _fake_python(tmp_path, "echo 'Fatal Python error: Segmentation fault' >&2\nexit 139\n")
    renderer = Renderer(executable=fake)
    with pytest.raises(RenderFailed, match="Segmentation fault"):
        renderer.render(LETTER)
    assert renderer.pid is None


def test_a_stuck_renderer_is_killed(tmp_path):
    renderer = Renderer(executable=_fake_python(tmp_path, "exec sleep 30\n"))
    started = time.monotonic()
    with pytest.raises(RenderFailed, match="n'a pas répondu"):
        renderer.render(LETTER, timeout=0.5)
    assert time.monotonic() - started < 10
    assert renderer.pid is None


LETTER = RenderRequest(None, ("pdf",), html_pdf="<h1>Relance</h1><p>Madame, Monsieur,</p>")  # type: ignore[arg-type]


def _render_in_thread(renderer: Renderer, request: RenderRequest) -> tuple[threading.Thread, list]:
    box: list = []

    def work() -> None:
        try:
            box.append(renderer.render(request, timeout=120))
        except RenderFailed as exc:
            box.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    return thread, box


def test_a_render_killed_midway_fails_clearly_and_the_next_one_works():
    """The OOM killer (here: SIGKILL) takes the renderer during a render: that caller gets a
    French reason at once, and the next render starts a fresh renderer."""
    renderer = Renderer()
    try:
        thread, box = _render_in_thread(renderer, LETTER)
        wait_for(lambda: renderer.pid is not None, timeout=30, what="the renderer")
        first = renderer.pid
        time.sleep(0.3)  # inside the render: WeasyPrint's import alone takes over a second
        os.kill(first, signal.SIGKILL)
        thread.join(60)
        [error] = box
        assert isinstance(error, RenderFailed)
        assert "signal 9" in str(error) and "échec du moteur de rendu" in str(error)
        report = renderer.render(LETTER, timeout=120)
        assert report.pdf is not None and report.pdf.startswith(b"%PDF")
        assert renderer.pid not in (None, first) and renderer.started == 2
    finally:
        renderer.shutdown()


def test_two_renders_asked_at_once_both_come_back():
    renderer = Renderer()
    try:
        jobs = [_render_in_thread(renderer, dataclasses.replace(LETTER, html_pdf=f"<p>Lettre {n}</p>"))
                for n in (1, 2)]
        for thread, _ in jobs:
            thread.join(120)
        results = [box for _, box in jobs]
        assert all(len(box) == 1 and box[0].pdf.startswith(b"%PDF") for box in results), results
        assert results[0][0].pdf != results[1][0].pdf
        assert renderer.started == 1  # one renderer served both, one after the other
    finally:
        renderer.shutdown()


def test_renders_beyond_the_queue_bound_are_refused_at_once():
    renderer = Renderer(max_waiting=1)
    try:
        thread, box = _render_in_thread(renderer, LETTER)
        wait_for(lambda: renderer.pid is not None, timeout=30, what="the renderer")
        with pytest.raises(RenderFailed, match="trop de rapports en attente de rendu"):
            renderer.render(LETTER)
        thread.join(120)
        assert box[0].pdf.startswith(b"%PDF")
    finally:
        renderer.shutdown()


def test_the_renderer_stops_when_idle_and_is_recycled_after_its_quota():
    renderer = Renderer(idle_seconds=0.5, max_renders=2)
    try:
        renderer.render(LETTER, timeout=120)
        pid = renderer.pid
        assert pid is not None
        wait_for(lambda: renderer.pid is None, timeout=10, what="the idle stop")  # idle: its memory goes back
        assert not _alive(pid)
        renderer.idle_seconds = 60
        renderer.render(LETTER, timeout=120)
        renderer.render(LETTER, timeout=120)  # the second render of this one: recycled
        assert renderer.pid is None and renderer.started == 2
    finally:
        renderer.shutdown()


def test_a_report_never_runs_beside_a_library_it_does_not_need(point):
    """Charts after a letter would run in a process holding WeasyPrint too (109 MB against
    80): the renderer is restarted; a second bilan reuses the charts' process."""
    renderer = Renderer()
    try:
        renderer.render(LETTER, timeout=120)
        letter_pid = renderer.pid
        assert renderer.render(RenderRequest(point, ("html",)), timeout=120).email is not None
        charts_pid = renderer.pid
        assert charts_pid != letter_pid and renderer.started == 2
        renderer.render(RenderRequest(point, ("html", "pdf")), timeout=120)  # needs both: kept
        assert renderer.pid == charts_pid and renderer.started == 2
        renderer.render(LETTER, timeout=120)
        assert renderer.pid != charts_pid and renderer.started == 3
    finally:
        renderer.shutdown()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_the_service_renders_a_requested_point_then_stops_its_renderer(tmp_path):
    """Journey: `clausebot run` on the demo; the référente e-mails for a point d'étape; the
    answer carries the charts, drawn by the service itself (Pillow, no renderer process for
    them); SIGTERM stops the service and any renderer it started (a PDF letter of the catch-up,
    depending on the hour) with it: no orphan."""
    data = tmp_path / "data"
    env, _ = demo_service(data)
    deliver(data, sender="Juliette Rey <juliette.rey@oullins.demo>", subject="Point d'étape",
            message_id="<point-1@oullins.demo>",
            body="Bonjour,\n\nPouvez-vous faire un point d'étape du marché 2025-017 ?\n")
    outgoing = data / "mail" / "outgoing" / "new"

    def answered() -> list[mailbox.MaildirMessage]:
        mails = [mailbox.MaildirMessage(p.read_bytes()) for p in outgoing.glob("*")] if outgoing.exists() else []
        return [m for m in mails if "juliette.rey@oullins.demo" in (m["To"] or "")]

    proc = subprocess.Popen([*CLI, "run"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()

    def answered_watching_children() -> list[mailbox.MaildirMessage]:
        seen.update(_children(proc.pid))
        return answered()

    try:
        wait_for(answered_watching_children, what="the point d'étape in the outgoing Maildir",
                 timeout=180)
        seen.update(_children(proc.pid))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    for pid in seen:
        wait_for(lambda pid=pid: not _alive(pid), timeout=10, what="the renderer to stop")
    [reply] = answered()
    names = [p.get_filename() for p in reply.walk() if p.get_filename()]
    assert any(n.endswith(".png") for n in names), names
    assert "2025-017" in str(reply["Subject"]) or "2025-017" in reply.as_string()


def test_under_isolation_only_the_pdf_goes_to_the_renderer(point, monkeypatch):
    """The service's split (reports.isolated.HERE): the e-mail with its Pillow charts and the
    XLSX are made in the service (+5 MB there against a 33 MB renderer beside it); the PDF
    (WeasyPrint, 60 MB) is printed by the renderer process, asked for nothing else."""
    from reports import isolated

    sent: list[tuple[str, ...]] = []

    def fake_child(request: RenderRequest, **_k: object) -> isolated.RenderedReport:
        sent.append(request.outputs)
        return isolated.RenderedReport(pdf=b"%PDF-fake")

    monkeypatch.setattr(isolated, "render_in_child", fake_child)
    monkeypatch.setattr(isolated, "_isolated", True)
    report = isolated.render(RenderRequest(point, ("html", "xlsx"), "externe"))
    assert sent == []
    assert report.email is not None and all(png.startswith(PNG) for _, png in report.email.images)
    assert report.xlsx is not None and report.xlsx.startswith(b"PK")
    both = isolated.render(RenderRequest(point, ("html", "xlsx", "pdf"), "externe"))
    assert sent == [("pdf",)]
    assert both.pdf == b"%PDF-fake" and both.email is not None and both.xlsx is not None


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
    (the test suite itself imports the renderers, which would hide a leak)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SERVICE_PATH, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY"))
    loaded = set(heavy.removeprefix("HEAVY").strip().split(",")) - {""}
    assert not loaded & {"matplotlib", "weasyprint", "numpy"}, loaded
