"""The outbox e-mail sender against a real aiosmtpd sink: retries, outages, exactly-once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update

from clauses.outbox import enqueue_email
from mail.config import SmtpConfig
from mail.outbox_sender import OutboxSender, stable_message_id
from mail.transport import SmtpTransport, TransportUnavailable
from storage.models import Alert, AlertKind, OutboxMessage, OutboxStatus, ServiceEvent, utcnow
from tests.mail.conftest import PDF_BYTES, count, mail_config, outbox_rows


def _sender(ctx, sink, **cfg_overrides) -> OutboxSender:
    smtp = SmtpConfig(host=sink.host, port=sink.port, starttls=False, timeout=5)
    cfg = mail_config(**cfg_overrides)
    return OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp), cfg)


def _enqueue(ctx, n: int = 1, prefix: str = "test", **kw) -> list[int]:
    ids = []
    with ctx.db.session() as s:
        for i in range(n):
            row, _ = enqueue_email(s, dedup_key=f"{prefix}:{i}", to=kw.get("to", f"dest{i}@example.test"),
                                   subject=kw.get("subject", f"Sujet {i}"), text=f"Corps {i}",
                                   html=kw.get("html"), attachments=kw.get("attachments"),
                                   headers=kw.get("headers"))
            ids.append(row.id)
    return ids


async def _make_due(ctx) -> None:
    """Skip the backoff wait: make every pending row due now."""
    def run():
        with ctx.db.session() as s:
            s.execute(update(OutboxMessage).values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await asyncio.to_thread(run)


async def test_sends_html_with_inline_image_attachment_and_threading(ctx, world, smtp_sink):
    with ctx.db.session() as s:
        png = ctx.documents.store(s, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, kind="report_image",
                                  display_name="chart.png", mime_type="image/png")
        pdf = ctx.documents.store(s, PDF_BYTES, kind="report", display_name="bilan.pdf")
        ids = (png.id, pdf.id)
    [row_id] = _enqueue(ctx, to="juliette.rey@oullins.test", subject="Bilan 2025 : Ville d'Oullins",
                        html='<p>Bilan</p><img src="cid:chart1">',
                        attachments=[{"cid": "chart1", "document_id": ids[0], "inline": True}, {"document_id": ids[1]}],
                        headers={"In-Reply-To": "<q@oullins.test>", "References": "<q@oullins.test>",
                                 "Bcc": "spy@evil.test", "X-Injected": "a\r\nBcc: spy@evil.test"})
    report = await _sender(ctx, smtp_sink).send_due()
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    [msg] = await smtp_sink.wait_for_async(1)
    m = msg.message
    assert msg.rcpt_tos == ("juliette.rey@oullins.test",) and msg.mail_from == "bot@agence.test"
    assert m["Message-ID"] == stable_message_id("test:0", "agence.test")
    assert m["In-Reply-To"] == "<q@oullins.test>" and m["Auto-Submitted"] == "auto-generated"
    assert m["Bcc"] is None and m["X-Injected"] is None  # only whitelisted headers pass
    assert m["Subject"] == "Bilan 2025 : Ville d'Oullins"
    inline = [p for p in m.walk() if p.get("Content-ID") == "<chart1>"]
    assert len(inline) == 1 and inline[0].get_content_type() == "image/png"
    assert [(name, ctype) for name, ctype, _ in msg.attachments()] == [("bilan.pdf", "application/pdf")]
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.status == OutboxStatus.SENT and row.sent_at is not None and row.attempts == 1
        assert row.message_id == m["Message-ID"]


async def test_temporary_failures_are_retried_then_sent_once(ctx, world, smtp_sink):
    [row_id] = _enqueue(ctx)
    smtp_sink.fail_next(2, code=451, stage="DATA")
    sender = _sender(ctx, smtp_sink)
    for _ in range(2):
        report = await sender.send_due()
        assert report.retried == 1
        await _make_due(ctx)
    report = await sender.send_due()
    assert report.sent == 1
    assert len(smtp_sink.messages) == 1
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert (row.status, row.attempts) == (OutboxStatus.SENT, 3)
    assert (await sender.send_due()).due == 0


async def test_backoff_grows_between_attempts(ctx, world, smtp_sink):
    [row_id] = _enqueue(ctx)
    smtp_sink.fail_next(3, code=421, stage="MAIL")
    sender = _sender(ctx, smtp_sink, outbox_retry_base_seconds=60, outbox_retry_max_seconds=3600)
    delays = []
    for _ in range(3):
        before = dt.datetime.now(dt.UTC)
        await sender.send_due()
        with ctx.db.session() as s:
            row = s.get(OutboxMessage, row_id)
            delays.append((row.next_attempt_at - before).total_seconds())
            assert row.status == OutboxStatus.PENDING and "421" in row.last_error
        await _make_due(ctx)
    assert 59 < delays[0] < 70 and 119 < delays[1] < 135 and 239 < delays[2] < 270


async def test_permanent_failure_is_dead_with_an_alert(ctx, world, smtp_sink):
    [row_id] = _enqueue(ctx, to="inconnu@example.test", subject="Relance")
    smtp_sink.reject_recipient("inconnu@example.test")
    report = await _sender(ctx, smtp_sink).send_due()
    assert report.dead == 1 and smtp_sink.messages == []
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.status == OutboxStatus.DEAD and "550" in row.last_error and row.attempts == 1
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.ENVOI_ECHOUE))
        assert alert is not None and "inconnu@example.test" in alert.message
    # The alert itself is e-mailed to the facilitator (no chat link) and goes out.
    await _sender(ctx, smtp_sink).send_due()
    [notice] = smtp_sink.messages_to("fanny@agence.test")
    assert "Envoi impossible" in notice.subject


async def test_after_max_attempts_the_row_dies_and_the_alert_does_not_loop(ctx, world, smtp_sink):
    _enqueue(ctx)
    smtp_sink.fail_next(100, code=452, stage="DATA")
    sender = _sender(ctx, smtp_sink, outbox_max_attempts=3)
    for _ in range(12):
        await sender.send_due()
        await _make_due(ctx)
    rows = outbox_rows(ctx)
    # The original row and the alert e-mail about it both died; the alert about the alert was
    # not raised (it would loop forever while the server refuses everything).
    assert [r.status for r in rows] == [OutboxStatus.DEAD, OutboxStatus.DEAD]
    assert all(r.attempts == 3 for r in rows)
    assert count(ctx, Alert, Alert.kind == AlertKind.ENVOI_ECHOUE) == 1
    assert count(ctx, ServiceEvent, ServiceEvent.component == "outbox") == 1


async def test_smtp_outage_every_message_delivered_exactly_once(ctx, world, smtp_sink):
    ids = _enqueue(ctx, 5, prefix="outage")
    smtp_sink.stop()
    sender = _sender(ctx, smtp_sink)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while sender.connection_failures < 2:  # several attempts against a closed port
            assert asyncio.get_running_loop().time() < deadline, "the sender did not retry"
            await asyncio.sleep(0.05)
        with ctx.db.session() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
            assert all(r.status == OutboxStatus.PENDING and r.attempts == 0 for r in rows)  # untouched
        _enqueue(ctx, 2, prefix="during")  # more mail queued while the server is down
        smtp_sink.start()
        received = await smtp_sink.wait_for_async(7, timeout=10)
        await asyncio.sleep(0.3)  # a few more loop turns: nothing must be sent again
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    message_ids = [m.message["Message-ID"] for m in smtp_sink.messages]
    assert len(received) == 7 and len(message_ids) == 7 and len(set(message_ids)) == 7
    assert {r.status for r in outbox_rows(ctx)} == {OutboxStatus.SENT}
    assert count(ctx, ServiceEvent, ServiceEvent.component == "outbox") >= 2


async def test_crash_after_smtp_success_resends_once_with_the_same_message_id(ctx, world, smtp_sink):
    """The documented window: sent, then the process dies before marking the row sent."""
    [row_id] = _enqueue(ctx, prefix="crash")
    sender = _sender(ctx, smtp_sink, outbox_lease_seconds=15)
    # The lease's clock is ours: a slow machine cannot let the 15 s run out between two steps.
    shift = dt.timedelta()
    sender.runner.now = lambda: utcnow() + shift
    claimed = await asyncio.to_thread(sender.claim, row_id)
    message, recipients = await asyncio.to_thread(sender.build, claimed)
    async with sender.transport.session() as session:
        await session.send(message, "bot@agence.test", recipients)
    # ... crash here: the row stays "sending". Another claim before the lease ends gets nothing.
    assert await asyncio.to_thread(sender.claim, row_id) is None
    assert (await sender.send_due()).sent == 0
    shift = dt.timedelta(seconds=14)  # one second before the lease ends: still nothing
    assert (await sender.send_due()).due == 0
    shift = dt.timedelta(seconds=16)  # lease expired: the restarted sender retries it
    assert (await sender.send_due()).sent == 1
    first, second = smtp_sink.messages
    assert first.message["Message-ID"] == second.message["Message-ID"] == stable_message_id("crash:0", "agence.test")
    assert first.message["Date"] == second.message["Date"]
    assert (await sender.send_due()).due == 0


async def test_claim_is_exclusive(ctx, world, smtp_sink):
    [row_id] = _enqueue(ctx)
    sender = _sender(ctx, smtp_sink)
    results = await asyncio.gather(*(asyncio.to_thread(sender.claim, row_id) for _ in range(4)))
    assert sum(r is not None for r in results) == 1


async def test_starttls_and_authentication(ctx, world):
    from tests.servers.smtp import SmtpSink

    with SmtpSink(auth=("bot", "s3cret"), auth_required=True, starttls=True) as sink:
        _enqueue(ctx, 1, prefix="tls")
        smtp = SmtpConfig(host=sink.host, port=sink.port, starttls=True, username="bot", password="s3cret",
                          validate_certs=False, timeout=5)
        sender = OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp), mail_config())
        assert (await sender.send_due()).sent == 1
        [msg] = sink.messages
        assert msg.auth_login == "bot" and sink.auth_attempts == [("bot", True)]
        # Wrong password: the server is "unavailable", the row stays pending, untouched.
        _enqueue(ctx, 1, prefix="badpw")
        bad = SmtpConfig(host=sink.host, port=sink.port, starttls=True, username="bot", password="nope",
                         validate_certs=False, timeout=5)
        with pytest.raises(TransportUnavailable):
            await OutboxSender(ctx.db, ctx.documents, SmtpTransport(bad), mail_config()).send_due()
        assert [r.attempts for r in outbox_rows(ctx) if r.dedup_key == "badpw:0"] == [0]


async def test_starttls_required_but_not_offered_sends_nothing(ctx, world, smtp_sink):
    _enqueue(ctx)
    smtp = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, starttls=True, timeout=5)
    with pytest.raises(TransportUnavailable):
        await OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp), mail_config()).send_due()
    assert smtp_sink.messages == []
    assert [(r.status, r.attempts) for r in outbox_rows(ctx)] == [(OutboxStatus.PENDING, 0)]


async def test_invalid_rows_die_without_blocking_the_others(ctx, world, smtp_sink):
    with ctx.db.session() as s:
        enqueue_email(s, dedup_key="bad:addr", to="pas une adresse", subject="x", text="x")
        enqueue_email(s, dedup_key="bad:doc", to="a@example.test", subject="x", text="x",
                      attachments=[{"document_id": 9999}])
        enqueue_email(s, dedup_key="good", to="b@example.test", subject="Sujet\r\nBcc: evil@x.test", text="x")
    report = await _sender(ctx, smtp_sink).send_due()
    assert (report.sent, report.dead) == (1, 2)
    [msg] = smtp_sink.messages
    assert msg.rcpt_tos == ("b@example.test",) and msg.message["Bcc"] is None
    assert msg.subject == "Sujet Bcc: evil@x.test"
