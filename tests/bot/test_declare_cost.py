"""What one chat update of the guided declaration costs the database, pinned (issue 20).

Why: the chat's concurrent rate on SQLite is bounded by the database work of an update (one
writer at a time). The flow checks the draft at three steps (month, work hours, summary); that
check used to rebuild its select every time, the reply journal went through the ORM's bulk
path, and each delivered reply was marked by its own ORM UPDATE. These tests pin the statements
a whole declaration conversation runs, that the check reads once per checking step from one
prebuilt statement (scoped by the company bound at each call, never the first caller's), and
that the delivery marks of a batch are one executemany.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.core import ChatCore
from bot.telegram_adapter import journal_outcome
from clauses import chat_replies
from clauses.actors import Actor
from clauses.authz import NotAllowed
from clauses.context import Context
from clauses.contract_lookup import _check_statement, check_declaration
from clauses.declarations import record_declaration
from clauses.errors import DuplicateDeclarationError, ParticipantNotValidatedError
from storage.models import (
    Channel,
    Company,
    ConversationState,
    Engagement,
    OutboxMessage,
    OutboxStatus,
    User,
)
from tests import factories as f
from tests.bot.conftest import World, link_user
from tests.bot.test_declare_flow import BOSS, Driver, _texts
from tests.perf.test_query_counts import counted, label

CHECK_SQL = "FROM eligibilities"
"""What only the check's select (and record_declaration's read) reads among the flow's
statements: the eligibility EXISTS."""


def _token(ctx: Context) -> str:
    with ctx.db.session() as s:
        data = s.scalar(select(ConversationState.data))
    assert data is not None
    return str(data["token"])


def test_a_guided_declaration_runs_a_pinned_number_of_statements(ctx: Context, world: World
                                                                 ) -> None:
    """/declarer to the stored declaration, through the core with the Telegram adapter's
    reply journal: each update is one transaction (its claim, the user and state in one read,
    the step, the state and the journal written); the check runs at the month, the work hours
    and the summary, once each."""
    link_user(ctx, world["company_user"], BOSS)
    core = ChatCore(ctx)
    core.journal = journal_outcome
    bot = Driver(core)
    steps: list[tuple[str, list[str]]] = []

    def send(name: str, text: str | None = None, data: str | None = None) -> str:
        with counted(ctx.db.engine) as log:
            out = bot.send(text, data)
        assert len(log.units) == 1, f"{name}: one transaction an update, got {log.units}"
        steps.append((name, log.units[0]))
        return _texts(out)

    send("start", "/declarer")
    send("contract", data=f"d:ct:{world['contract_marie']}")
    send("month", data="d:m:2025-05")
    send("work", "35")
    send("training", "0")
    send("proof", data="d:skip")
    assert "Déclaration enregistrée : mai 2025" in send("confirm", data=f"d:ok:{_token(ctx)}")

    checks = {name: sum(CHECK_SQL in s for s in statements) for name, statements in steps}
    assert checks == {"start": 0, "contract": 0, "month": 1, "work": 1, "training": 1,
                      "proof": 0, "confirm": 1}  # the confirm's is record_declaration's read
    every = ["INSERT chat_updates", "SELECT users"]  # the claim; the user and state in one read
    saved = ["UPDATE conversation_states", "INSERT outbox"]  # the state, the reply journal
    assert {name: [label(s) for s in statements if s != "BEGIN IMMEDIATE"]
            for name, statements in steps} == {
        "start": [*every, "SELECT contracts", "INSERT audit_log",  # the offer, listed once
                  "INSERT conversation_states", "INSERT outbox"],
        "contract": [*every, "SELECT hour_declarations", *saved],  # months already declared
        "month": [*every, "SELECT eligibilities", *saved],  # the check (month)
        "work": [*every, "SELECT eligibilities", *saved],  # the check (work hours)
        "training": [*every, "SELECT eligibilities", *saved],  # the check (summary)
        "proof": [*every, *saved],
        "confirm": [*every, "SAVEPOINT", "SELECT contracts", "SELECT declaration_revisions",
                    "SELECT eligibilities", "SELECT hour_declarations",
                    "INSERT hour_declarations", "INSERT audit_log", "UPDATE participants",
                    "INSERT declaration_revisions", "RELEASE", "DELETE conversation_states",
                    "INSERT outbox"],
    }


def test_the_prebuilt_check_is_scoped_by_the_company_bound_at_each_call(ctx: Context,
                                                                      world: World) -> None:
    """One statement for every company (built once), the company bound at each call: a
    company's contract is refused to another company whichever asked first, and a contract a
    company carries as employer (an ETTI on another company's lot) is its to declare."""
    with ctx.db.session() as s:
        holder = Actor.from_user(s.get_one(User, world["company_user"]), Channel.TELEGRAM)
        other = Actor.from_user(s.get_one(User, world["other_user"]), Channel.TELEGRAM)
        assert _check_statement(holder) is _check_statement(other)

        def may(actor: Actor, contract_id: int) -> tuple:
            return check_declaration(ctx, s, actor, contract_id=contract_id,
                                     month=dt.date(2025, 5, 1), work_hours=Decimal(35))

        with pytest.raises(NotAllowed):  # the other company first: its id must not stick
            may(other, world["contract_marie"])
        assert may(holder, world["contract_marie"]) == ()
        with pytest.raises(NotAllowed):
            may(holder, world["other_contract"])
        # The other company employs a person on the holder's lot: both may check it.
        carried = f.contract(s, f.participant(s, "Etti", "Léa", validated_by=None),
                             s.get_one(Engagement, world["engagement"]),
                             employer=s.get_one(Company, world["other_company"]))
        for actor in (other, holder):
            with pytest.raises(ParticipantNotValidatedError):  # bound cutoff: none validated
                may(actor, carried.id)
        # The month bound at each call: April, then May once declared.
        record_declaration(ctx, s, holder, contract_id=world["contract_marie"],
                           month=dt.date(2025, 4, 1), work_hours=Decimal(20),
                           source=Channel.TELEGRAM)
        with pytest.raises(DuplicateDeclarationError):
            check_declaration(ctx, s, holder, contract_id=world["contract_marie"],
                              month=dt.date(2025, 4, 1), work_hours=Decimal(10))
        assert may(holder, world["contract_marie"]) == ()


def test_the_marks_of_delivered_replies_are_one_statement(ctx: Context) -> None:
    """A batch of delivered parts is marked by one executemany; a part no longer leased to
    the adapter (handed to the outbox sender meanwhile) is left to the sender."""
    keys = [chat_replies.reply_key(77, f"{n}.0") for n in range(3)]
    with ctx.db.session() as s:
        chat_replies.journal(s, chat_id=5, parts=[(k, f"texte {k}", None) for k in keys])
    with ctx.db.session() as s:
        chat_replies.hand_over(s, keys[2], "délai dépassé")
    with counted(ctx.db.engine) as log, ctx.db.session() as s:
        chat_replies.mark_all_sent(s, [(keys[0], "m1"), (keys[1], ""), (keys[2], "m3")])
    assert [label(x) for x in log.units[0] if not x.startswith("BEGIN")] == ["UPDATE outbox"]
    with ctx.db.session() as s:
        rows = {r.dedup_key: r for r in s.scalars(select(OutboxMessage))}
        assert [(rows[k].status, rows[k].message_id, rows[k].body_text) for k in keys] == [
            (OutboxStatus.SENT, "m1", ""), (OutboxStatus.SENT, None, ""),
            (OutboxStatus.PENDING, None, f"texte {keys[2]}")]
        assert rows[keys[0]].sent_at is not None and rows[keys[2]].sent_at is None
