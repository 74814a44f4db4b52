"""Candidatures (submit, alert, decide, notify) and progress views."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.candidatures import CandidateInput, decide_candidature, submit_candidature
from clauses.declarations import record_declaration
from clauses.errors import DomainError
from clauses.progress_service import progress_for_actor
from storage.models import (
    Alert,
    CandidatureStatus,
    Channel,
    ChatLink,
    Eligibility,
    OutboxMessage,
    Role,
)
from tests import factories as f


def test_candidature_goes_to_facilitator_and_outcome_back_to_company(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        s.add(ChatLink(user_id=t["company_user"].id, chat_id=9001))
        s.add(ChatLink(user_id=t["facilitator"].id, chat_id=9002))
        s.flush()
        company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
        cand = submit_candidature(
            ctx, s, company,
            CandidateInput("Durand", "Léa", birth_date=dt.date(2001, 2, 3), criteria_claimed=["rsa"]),
            source=Channel.TELEGRAM, idempotency_key="tg:cand:1",
        )
        again = submit_candidature(ctx, s, company, CandidateInput("Durand", "Léa"),
                                   source=Channel.TELEGRAM, idempotency_key="tg:cand:1")
        assert again.id == cand.id
        alert = s.scalar(select(Alert))
        assert alert.subject_id == cand.id
        to_fac = s.scalar(select(OutboxMessage).where(OutboxMessage.to_chat_id == 9002))
        buttons = [b["callback_data"] for row in to_fac.reply_markup["inline_keyboard"] for b in row]
        assert f"cand:ok:{cand.id}" in buttons and f"cand:no:{cand.id}" in buttons

        with pytest.raises(NotAllowed):
            decide_candidature(ctx, s, company, cand.id, accept=True)
        fac = Actor.from_user(t["facilitator"], Channel.TELEGRAM)
        decide_candidature(ctx, s, fac, cand.id, accept=True)
        assert cand.status == CandidatureStatus.VALIDEE
        assert s.scalar(select(Eligibility.criterion).where(Eligibility.participant_id == cand.participant_id)) == "rsa"
        back = s.scalar(select(OutboxMessage).where(OutboxMessage.to_chat_id == 9001))
        assert "est validé" in back.body_text and "Léa" not in back.body_text  # initials only
        with pytest.raises(DomainError, match="déjà été traitée"):
            decide_candidature(ctx, s, fac, cand.id, accept=False, reason="x")


def test_unknown_criterion_lists_valid_ones(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
        with pytest.raises(DomainError, match="Critères possibles"):
            submit_candidature(ctx, s, company, CandidateInput("A", "B", criteria_claimed=["martien"]),
                               source=Channel.TELEGRAM)


def test_refusal_needs_a_reason(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
        cand = submit_candidature(ctx, s, company, CandidateInput("Petit", "Jean"), source=Channel.TELEGRAM)
        fac = Actor.from_user(t["facilitator"], Channel.TELEGRAM)
        with pytest.raises(DomainError, match="motif"):
            decide_candidature(ctx, s, fac, cand.id, accept=False)
        decide_candidature(ctx, s, fac, cand.id, accept=False, reason="Profil non éligible")
        assert cand.status == CandidatureStatus.REFUSEE


def test_progress_views_are_scoped_and_sum_counted_hours(ctx):
    with ctx.db.session() as s:
        t = f.territory(s)
        other = f.company(s, "Autre")
        f.engagement(s, t["lot"], other, 100)
        company = Actor.from_user(t["company_user"], Channel.TELEGRAM)
        for month, hours in ((2, 100), (3, 120), (4, 80)):
            record_declaration(ctx, s, company, contract_id=t["contract"].id,
                               month=dt.date(2025, month, 1), work_hours=Decimal(hours),
                               source=Channel.TELEGRAM)
        views = progress_for_actor(ctx, s, company, dt.date(2025, 6, 16))
        assert [v.company_name for v in views] == ["BTP Rhône"]
        assert views[0].done == Decimal(300) and views[0].owed == Decimal(833)
        staff = progress_for_actor(ctx, s, Actor.from_user(t["facilitator"], Channel.CLI), dt.date(2025, 6, 16))
        assert len(staff) == 2
        ref_user = f.user(s, Role.REFERENT, donneur_id=t["donneur"].id)
        ref_views = progress_for_actor(ctx, s, Actor.from_user(ref_user, Channel.TELEGRAM), dt.date(2025, 6, 16))
        assert len(ref_views) == 2
