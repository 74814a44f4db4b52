"""Reports asked for by e-mail are queued by the intake and rendered by the outbox sender.

Why: the intake's transaction must stay short (a point d'étape took 340 ms in it); the report
must still go out exactly once, after a crash too, and a rendering failure must be retried and
reported, never take the sender down. Also: who is pushed the alerts nobody is in charge of.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

import clauses.alerts as alerts
from clauses.alerts import raise_alert
from mail.config import SmtpConfig
from mail.outbox_sender import OutboxSender
from mail.transport import SmtpTransport
from reports.queued import (
    PENDING_TEXT,
    ReportPreparer,
    ReportSpec,
    enqueue_report_email,
    render_request,
)
from storage.models import Alert, AlertKind, OutboxMessage, OutboxStatus, Role
from tests import factories
from tests.mail.conftest import count, mail_config

TODAY = dt.date(2025, 6, 16)


def _sender(ctx, sink, **overrides: Any) -> OutboxSender:
    smtp = SmtpConfig(host=sink.host, port=sink.port, starttls=False, timeout=10)
    return OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp), mail_config(**overrides),
                        reports=ReportPreparer(ctx))


def _queue(ctx, world, key: str = "t:point") -> int:
    with ctx.db.session() as s:
        row, created = enqueue_report_email(
            s, dedup_key=key, to="juliette.rey@oullins.test", subject="Re: point 2025-017",
            spec=ReportSpec(what="market", market_id=world["market"], at=TODAY, generated_on=TODAY,
                            subject_from_report=False),
            headers={"In-Reply-To": "<q@oullins.test>"})
        assert created
        return row.id


async def _make_due(ctx) -> None:
    def run() -> None:
        with ctx.db.session() as s:
            s.execute(update(OutboxMessage).values(
                next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await asyncio.to_thread(run)


async def test_the_sender_renders_then_sends_once(ctx, world, smtp_sink):
    row_id = _queue(ctx, world)
    with ctx.db.session() as s:  # the same request again (message refetched): no second row
        _, created = enqueue_report_email(s, dedup_key="t:point", to="x@y.test", subject="x",
                                          spec=ReportSpec(what="market", market_id=world["market"]))
        assert not created
    report = await _sender(ctx, smtp_sink).send_due()
    assert (report.sent, report.dead, report.retried) == (1, 0, 0)
    [msg] = smtp_sink.messages_to("juliette.rey@oullins.test")
    assert msg.message["Subject"] == "Re: point 2025-017"
    assert msg.message["In-Reply-To"] == "<q@oullins.test>"
    assert "2025-017" in msg.text_body() and PENDING_TEXT not in msg.text_body()
    assert any(name.endswith(".xlsx") for name, _, _ in msg.attachments())
    assert [p for p in msg.message.walk() if p.get("Content-ID")]
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.status == OutboxStatus.SENT and render_request(row.attachments) is None
    assert (await _sender(ctx, smtp_sink).send_due()).sent == 0


async def test_a_crash_after_rendering_sends_the_stored_report_without_rendering_again(
        ctx, world, smtp_sink, monkeypatch):
    row_id = _queue(ctx, world)
    sender = _sender(ctx, smtp_sink)
    claimed = await asyncio.to_thread(sender.claim, row_id)
    prepared = await asyncio.to_thread(sender.reports.prepare, claimed.id, claimed.attempts)
    assert prepared is not None
    # ... the process dies here: rendered and stored, not sent. Its lease runs out:
    await _make_due(ctx)

    def no_render(*_a: Any, **_k: Any) -> None:
        raise AssertionError("rendered twice")

    monkeypatch.setattr("reports.isolated.render_in_child", no_render)
    monkeypatch.setattr("reports.isolated.render_here", no_render)  # charts: in the service
    report = await _sender(ctx, smtp_sink).send_due()
    assert report.sent == 1
    [msg] = smtp_sink.messages_to("juliette.rey@oullins.test")
    assert "2025-017" in msg.text_body()


async def test_a_crash_while_rendering_renders_again_after_the_lease(ctx, world, smtp_sink):
    row_id = _queue(ctx, world)
    sender = _sender(ctx, smtp_sink)
    assert await asyncio.to_thread(sender.claim, row_id) is not None
    # ... the process dies while the child renders: nothing was committed. Its lease runs out:
    await _make_due(ctx)
    assert (await _sender(ctx, smtp_sink).send_due()).sent == 1
    assert len(smtp_sink.messages_to("juliette.rey@oullins.test")) == 1


async def test_a_rendering_failure_is_retried_then_dead_with_a_clear_alert(ctx, world, smtp_sink, monkeypatch):
    row_id = _queue(ctx, world)

    def broken(*_a: Any, **_k: Any) -> None:
        raise MemoryError  # the charts, drawn in the service (reports.isolated.HERE)

    monkeypatch.setattr("reports.isolated.render_here", broken)
    sender = _sender(ctx, smtp_sink, outbox_max_attempts=2)
    report = await sender.send_due()
    assert (report.sent, report.retried, report.dead) == (0, 1, 0)
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.status == OutboxStatus.PENDING
        assert "préparation du rapport impossible" in row.last_error and "MemoryError" in row.last_error
    await _make_due(ctx)
    report = await sender.send_due()
    assert report.dead == 1
    with ctx.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.ENVOI_ECHOUE))
        assert alert is not None and "MemoryError" in alert.message
    assert smtp_sink.messages_to("juliette.rey@oullins.test") == []


async def test_a_sender_without_renderer_does_not_send_the_placeholder(ctx, world, smtp_sink):
    _queue(ctx, world)
    smtp = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, starttls=False, timeout=10)
    report = await OutboxSender(ctx.db, ctx.documents, SmtpTransport(smtp), mail_config()).send_due()
    assert (report.sent, report.retried) == (0, 1)
    assert smtp_sink.messages == []


# -- alerts nobody is in charge of ----------------------------------------------------------------

@pytest.fixture
def big_team(ctx) -> list[int]:
    with ctx.db.session() as s:
        return [factories.user(s, Role.FACILITATEUR, email=f"fac{i}@agence.test").id
                for i in range(alerts.SMALL_TEAM + 2)]


@pytest.fixture
def shared_inbox():
    alerts.configure_shared_inbox("alertes@agence.test")
    yield "alertes@agence.test"
    alerts.configure_shared_inbox(None)


def _pushes(ctx, alert_id: int) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like(f"alert:{alert_id}:%")).order_by(OutboxMessage.id)))


def _raise(ctx, key: str, **kw: Any) -> int:
    with ctx.db.session() as s:
        alert, _ = raise_alert(s, kind=AlertKind.EXPEDITEUR_INCONNU, message="E-mail inconnu",
                               dedup_key=key, **kw)
        return alert.id


def test_a_large_team_is_not_alerted_one_by_one(ctx, world, big_team):
    alert_id = _raise(ctx, "a:1")
    assert _pushes(ctx, alert_id) == []  # one row, listed to every facilitator
    assert count(ctx, Alert, Alert.facilitator_id.is_(None)) == 1


def test_a_large_team_with_a_shared_inbox_gets_one_message(ctx, world, big_team, shared_inbox):
    [push] = _pushes(ctx, _raise(ctx, "a:2"))
    assert push.to_address == shared_inbox


def test_the_territory_facilitators_are_alerted(ctx, world, big_team, shared_inbox):
    pushes = _pushes(ctx, _raise(ctx, "a:3", territory=big_team[:2]))
    assert sorted(p.to_address for p in pushes) == ["fac0@agence.test", "fac1@agence.test"]


def test_a_small_team_is_still_alerted_as_before(ctx, world):
    [push] = _pushes(ctx, _raise(ctx, "a:4"))
    assert push.to_address == "fanny@agence.test" or push.to_user_id is not None


def test_an_unknown_colleague_of_a_contact_goes_to_its_facilitator(ctx, world, big_team):
    from mail.config import MailConfig
    from mail.intake import IntakeCore
    from mail.outcome import MailKey
    from tests.mail.conftest import make_mail

    raw = make_mail("Nouveau <nouveau@btp-rhone.test>", "Question", "Bonjour")
    IntakeCore(ctx, MailConfig()).ingest(MailKey("a", "INBOX", 1, 1), raw)
    with ctx.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.EXPEDITEUR_INCONNU))
    [push] = _pushes(ctx, alert.id)
    assert push.to_user_id == world["facilitator"] or push.to_address == "fanny@agence.test"


async def test_a_report_that_can_no_longer_be_made_is_dead_at_once_without_connecting(
        ctx, world, smtp_sink):
    """The market is gone: no retry can help. And reports are prepared before the SMTP
    connection is opened, so a pass with nothing left to send never connects."""
    with ctx.db.session() as s:
        row, _ = enqueue_report_email(
            s, dedup_key="t:gone", to="juliette.rey@oullins.test", subject="Re: point",
            spec=ReportSpec(what="market", market_id=999_999, at=TODAY, generated_on=TODAY))
        row_id = row.id
    smtp_sink.stop()  # connecting would raise TransportUnavailable
    report = await _sender(ctx, smtp_sink).send_due()
    assert (report.sent, report.dead, report.retried) == (0, 1, 0)
    with ctx.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.status == OutboxStatus.DEAD and row.attempts == 1
        assert "rapport impossible à établir" in row.last_error and "999999" in row.last_error
