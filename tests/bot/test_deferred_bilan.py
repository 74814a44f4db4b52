"""Journeys: a big /bilan answers at once and arrives when ready, through the local Bot API.

Why: computed inside the update, a bilan of a big donneur (seconds at national size) held the
person's lane and a worker slot, and the person saw nothing meanwhile. Now the update records
the request (a ``chat_report_requests`` row, same transaction) and acknowledges; the chat
report worker computes it, queues the text as an outbox chat row and the chat sender delivers
it, once, even across a crash.

The territory comes from the bot fixtures; the threshold of a « big » scope is lowered to one
market so that the small test territory counts as big (the rule itself is unit-tested below).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

import clauses.bilan
from bot import chat_reports as worker_module
from bot import texts
from bot.chat_reports import ChatReportWorker
from bot.flows import reporting
from clauses import chat_reports
from storage.models import (
    AuditEntry,
    ChatReportRequest,
    ChatReportStatus,
    OutboxMessage,
    OutboxStatus,
)
from tests import factories as f
from tests.bot.conftest import link_user

LATENCY = 0.05
TITLE = "Bilan annuel 2025 — Ville d'Oullins"




def _bilan_rows(ctx) -> list[OutboxMessage]:
    """The chat messages of the bilans (and of their failures), once handed to the sender."""
    with ctx.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like("chat-bilan:%"))))
        s.expunge_all()
        return rows


def _requests(ctx) -> list[ChatReportRequest]:
    with ctx.db.session() as s:
        rows = list(s.scalars(select(ChatReportRequest).order_by(ChatReportRequest.id)))
        s.expunge_all()
        return rows


async def _until(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_big_bilan_is_acknowledged_then_delivered_once(ctx, world, tg, big, gate):
    """Fanny asks a big bilan: the acknowledgement comes at once; Bruno, who writes while it is
    computed, is answered; the bilan arrives once, the request is audited when made."""
    started, opened = gate
    api = tg.api
    api.latency = LATENCY
    fanny, bruno = api.user(first_name="Fanny"), api.user(first_name="Bruno")
    link_user(ctx, world["facilitator"], fanny.id)

    (ack,) = await tg.text(fanny, "/bilan 2025 Ville d'Oullins")
    assert ack.text == reporting.BILAN_DEFERRED.format(year=2025, donneur="Ville d'Oullins")
    (request,) = _requests(ctx)
    assert request.chat_id == fanny.id and request.requester_user_id == world["facilitator"]
    assert request.status in (ChatReportStatus.PENDING, ChatReportStatus.PREPARING)
    assert request.scope["donneur_id"] == world["donneur"] and request.outbox_id is None
    assert _bilan_rows(ctx) == []  # no message without its text

    await asyncio.to_thread(started.wait, 10)  # the worker is computing it now
    (to_bruno,) = await tg.text(bruno, "bonjour")
    assert to_bruno.text == texts.STRANGER
    assert len(api.sent_messages(fanny)) == 1  # still only the acknowledgement

    opened.set()
    _, bilan = await api.wait_for_messages_async(fanny, 2, timeout=15)
    assert bilan.text.startswith(TITLE)
    await _until(lambda: _bilan_rows(ctx)[0].status == OutboxStatus.SENT)  # marked after Telegram's OK
    (message,) = _bilan_rows(ctx)
    assert message.to_chat_id == fanny.id
    (request,) = _requests(ctx)
    assert request.status == ChatReportStatus.HANDED_OVER and request.outbox_id == message.id
    assert request.attempts == 1 and request.claimed_at is not None and request.error is None
    await asyncio.sleep(0.5)  # a few more worker and sender passes: nothing more is sent
    assert len(api.sent_messages(fanny)) == 2
    with ctx.db.session() as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "bilan.annual.read",
                                                        AuditEntry.subject_id == world["donneur"]))


async def test_a_crash_between_acknowledgement_and_delivery_still_delivers_once(
        ctx, world, tg, big, monkeypatch):
    """The service stops before the bilan is prepared, and a worker of another process claims
    it and dies mid-computation. After the restart the bilan is delivered once; the dead
    worker's late result is refused."""
    api = tg.api
    api.latency = LATENCY
    fanny = api.user(first_name="Fanny")
    link_user(ctx, world["facilitator"], fanny.id)
    original = ChatReportWorker.prepare_one
    paused = True

    def maybe(self):
        return "none" if paused else original(self)

    monkeypatch.setattr(ChatReportWorker, "prepare_one", maybe)
    (ack,) = await tg.text(fanny, "/bilan 2025 Ville d'Oullins")
    assert ack.text.startswith("Je prépare le bilan 2025 de Ville d'Oullins")
    await tg.stop()  # the process is gone; the request is in the database
    (request,) = _requests(ctx)
    assert request.status == ChatReportStatus.PENDING and _bilan_rows(ctx) == []

    dying = ChatReportWorker(ctx, lease=dt.timedelta(seconds=1))
    claimed = await asyncio.to_thread(dying.claim)  # ...and this one dies before handing over
    assert claimed == (request.id, 1)
    chat, text = await asyncio.to_thread(dying.render, request.id)

    paused = False
    await tg.start()
    _, bilan = await api.wait_for_messages_async(fanny, 2, timeout=20)
    assert bilan.text.startswith(TITLE)
    with ctx.db.session() as s:  # the dead attempt's result comes too late: refused
        assert not chat_reports.hand_over(s, claimed[0], claimed[1], chat, text)
    await _until(lambda: _bilan_rows(ctx)[0].status == OutboxStatus.SENT)
    await asyncio.sleep(0.5)
    assert len(api.sent_messages(fanny)) == 2
    (request,) = _requests(ctx)  # claimed twice (the dead worker, then the restarted service)
    assert request.status == ChatReportStatus.HANDED_OVER and request.attempts == 2
    assert len(_bilan_rows(ctx)) == 1


async def test_a_bilan_that_cannot_be_established_is_announced(ctx, world, tg, big, monkeypatch):
    """The donneur disappears between the request and its preparation: Fanny is told her
    bilan will not come (no silent wait), the request is marked failed with the reason."""
    api = tg.api
    fanny = api.user(first_name="Fanny")
    link_user(ctx, world["facilitator"], fanny.id)

    def gone(*args, **kwargs):
        raise clauses.bilan.UnknownDonneurError(str(world["donneur"]), [])

    monkeypatch.setattr(clauses.bilan, "annual_figures", gone)
    await tg.text(fanny, "/bilan 2025 Ville d'Oullins")
    _, failure = await api.wait_for_messages_async(fanny, 2, timeout=15)
    assert failure.text.startswith("Désolé, le bilan demandé n'a pas pu être préparé (bilan "
                                   "impossible à établir : ")
    (request,) = _requests(ctx)
    assert request.status == ChatReportStatus.FAILED and request.outbox_id is None
    assert request.error is not None and request.error.startswith("bilan impossible à établir")
    (told,) = _bilan_rows(ctx)  # the failure message, keyed after the request
    assert told.dedup_key == f"{request.dedup_key}:echec"


def test_scope_counts_the_markets_running_during_the_year(db):
    """A market ending on 1 January 2025 counts for 2025, one starting on 1 January 2026 does
    not; the default threshold keeps a small donneur's bilan in the turn."""
    with db.session() as s:
        donneur = f.donneur(s, "Ville de Test")
        f.market(s, donneur, reference="A", start=dt.date(2023, 1, 1), end=dt.date(2025, 1, 1))
        f.market(s, donneur, reference="B", start=dt.date(2025, 12, 31), end=dt.date(2027, 1, 1))
        f.market(s, donneur, reference="C", start=dt.date(2026, 1, 1), end=dt.date(2027, 1, 1))
        f.market(s, donneur, reference="D", start=dt.date(2022, 1, 1), end=dt.date(2024, 12, 31))
        count = chat_reports.annual_scope_markets(s, donneur.id, dt.date(2025, 1, 1),
                                                  dt.date(2025, 12, 31))
    assert count == 2
    assert count < chat_reports.DEFER_FROM_MARKETS
    assert worker_module.FAILED_TEXT == chat_reports.FAILED_TEXT
    assert chat_reports.FAILED_TEXT.startswith("Désolé")


def test_finished_requests_go_with_the_chat_bookkeeping(ctx, world):
    """Who asked which bilan in which chat is kept like the chat's other traces: a delivered
    or failed request older than the chat retention is purged; a waiting one never is, nor a
    recent one (the 31-day-old delivered one goes, the 29-day-old one stays)."""
    from clauses.retention import run_purge

    now = ctx.clock.now()
    old, young = now - dt.timedelta(days=31), now - dt.timedelta(days=29)

    def request(key: str, at: dt.datetime, status: ChatReportStatus) -> ChatReportRequest:
        return ChatReportRequest(dedup_key=key, requester_user_id=world["facilitator"],
                                 chat_id=4242, scope={"what": "annual"}, requested_at=at,
                                 status=status)

    with ctx.db.session() as s:
        s.add_all([request("old-sent", old, ChatReportStatus.HANDED_OVER),
                   request("old-failed", old, ChatReportStatus.FAILED),
                   request("old-waiting", old, ChatReportStatus.PENDING),
                   request("young-sent", young, ChatReportStatus.HANDED_OVER)])
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=True).chat_bookkeeping == 2
    with ctx.db.session() as s:
        run_purge(ctx, s, dry_run=False)
    assert [r.dedup_key for r in _requests(ctx)] == ["old-waiting", "young-sent"]
