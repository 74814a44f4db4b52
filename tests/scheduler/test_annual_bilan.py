"""The annual bilan mailing: approval first (button), or automatic; rendered by reports/."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.context import Policy
from clauses.reminders import approve_annual_bilan
from scheduler.jobs import run_job
from storage.models import (
    Alert,
    AlertKind,
    Channel,
    ChatLink,
    Document,
    OutboxMessage,
    User,
)
from tests import factories as f
from tests.scheduler.world import at, declared_territory

D = dt.date


def _territory(ctx) -> dict[str, int]:
    with ctx.db.session() as s:
        t = declared_territory(s)
        s.add(ChatLink(user_id=t["facilitator"].id, chat_id=9002))
        return {k: v.id for k, v in t.items()}


def _mails(ctx) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        return list(s.scalars(select(OutboxMessage)
                              .where(OutboxMessage.dedup_key.like("bilan_annuel:%"))
                              .order_by(OutboxMessage.id)))


def test_bilan_waits_for_the_facilitators_approval_then_goes_to_each_referent(ctx, clock):
    ids = _territory(ctx)
    clock.set(at(D(2026, 1, 30)))
    assert run_job(ctx, "annual_bilans").due == 0  # not before the configured date (31 January)
    clock.set(at(D(2026, 1, 31)))
    asked = run_job(ctx, "annual_bilans")
    assert asked.done == 1 and _mails(ctx) == []
    with ctx.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.BILAN_ANNUEL))
        assert "bilan annuel 2025 de Ville d'Oullins" in alert.message
        push = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key.like(f"alert:{alert.id}:%")))
        assert push.to_chat_id == 9002
        buttons = [b["callback_data"] for row in push.reply_markup["inline_keyboard"] for b in row]
        assert f"bilan:ok:{ids['donneur']}:2025" in buttons
    assert run_job(ctx, "annual_bilans").done == 0  # asked once

    with ctx.db.session() as s:
        company = Actor.from_user(s.get(User, ids["company_user"]), Channel.TELEGRAM)
        with pytest.raises(NotAllowed):
            approve_annual_bilan(ctx, s, company, ids["donneur"], 2025)
        fanny = Actor.from_user(s.get(User, ids["facilitator"]), Channel.TELEGRAM)
        assert approve_annual_bilan(ctx, s, fanny, ids["donneur"], 2025)
        assert not approve_annual_bilan(ctx, s, fanny, ids["donneur"], 2025)
        assert s.get(Alert, alert.id).handled_by_id == ids["facilitator"]

    clock.set(at(D(2026, 2, 2), 11))
    sent = run_job(ctx, "annual_bilans")
    assert sent.errors == [] and sent.done == 1
    assert run_job(ctx, "annual_bilans").done == 0
    mails = _mails(ctx)
    assert [m.to_address for m in mails] == ["juliette.rey@oullins.test", "marc.roux@oullins.test"]
    mail = mails[0]
    assert "2025" in mail.subject and "Ville d'Oullins" in mail.subject
    assert "<html" in mail.body_html.lower() and "360" in mail.body_text
    with ctx.db.session() as s:
        docs = {a["document_id"]: a for a in mail.attachments}
        kinds = {s.get(Document, i).mime_type for i in docs}
        assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in kinds
        for a in mail.attachments:
            if a.get("inline"):
                assert s.get(Document, a["document_id"]).mime_type == "image/png"
                assert f"cid:{a['cid']}" in mail.body_html


def test_automatic_mode_sends_on_the_date_without_approval(ctx, clock):
    _territory(ctx)
    ctx = dataclasses.replace(ctx, policy=Policy(annual_bilan_auto=True, annual_bilan_date="02-01"))
    clock.set(at(D(2026, 2, 1)))  # a Sunday: moves to Monday
    assert run_job(ctx, "annual_bilans").due == 0
    clock.set(at(D(2026, 2, 2)))
    assert run_job(ctx, "annual_bilans").done == 1
    assert len(_mails(ctx)) == 2
    with ctx.db.session() as s:
        assert s.scalar(select(Alert).where(Alert.kind == AlertKind.BILAN_ANNUEL)) is None


def test_no_referent_address_alerts_the_agency_and_sends_later(ctx, clock):
    with ctx.db.session() as s:
        fac = f.user(s, display_name="Fanny", email="fanny@agence.test")
        d = f.donneur(s, "Ville sans référent")
        f.market(s, d, reference="2025-900", facilitator=fac)
    ctx = dataclasses.replace(ctx, policy=Policy(annual_bilan_auto=True))
    clock.set(at(D(2026, 2, 3)))
    result = run_job(ctx, "annual_bilans")
    assert result.done == 0 and result.errors == []
    with ctx.db.session() as s:
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.BILAN_ANNUEL))
        assert "aucun référent avec une adresse e-mail" in alert.message
        assert s.scalar(select(Document)) is None  # nothing rendered for nobody
    assert run_job(ctx, "annual_bilans").done == 0  # asked again later: still one alert
    with ctx.db.session() as s:
        assert len(s.scalars(select(Alert)).all()) == 1
        f.referent(s, s.get(type(d), d.id), "nouveau@ville.test")
    assert run_job(ctx, "annual_bilans").done == 1
    assert [m.to_address for m in _mails(ctx)] == ["nouveau@ville.test"]
