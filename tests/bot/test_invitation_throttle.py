"""Wrong invitation codes: five within an hour block the account for the rest of the hour."""

from __future__ import annotations

from sqlalchemy import select

from bot import texts
from bot.console import ConsoleChat
from clauses import invitation_throttle
from clauses.retention import run_purge
from storage.models import KeyValue, Role, User


def _guess(n: int) -> str:
    return f"ZZZZ-ZZZZ-Z{n:03d}"


def test_five_wrong_codes_block_even_a_good_code_until_the_hour_has_passed(ctx, world, core, invite):
    good = invite(Role.ENTREPRISE, company_id=world["company"], display_name="Chef")
    chat = ConsoleChat(core, account=77)
    for n in range(invitation_throttle.MAX_FAILURES):
        assert "n'est pas valide" in chat.send(_guess(n))[0].text

    blocked = chat.send(good)[0].text
    assert blocked == invitation_throttle.BLOCKED_FR  # the good code is refused like any other
    with ctx.db.session() as s:
        assert s.scalar(select(User).where(User.telegram_user_id == 77)) is None

    other = ConsoleChat(core, account=78)  # another account is not affected
    assert "n'est pas valide" in other.send(_guess(99))[0].text

    ctx.clock.advance(minutes=61)
    assert "Bienvenue, Chef" in chat.send(good)[0].text
    with ctx.db.session() as s:  # a successful link forgets the account's failures
        keys = set(s.scalars(select(KeyValue.key)))
    assert len(keys) == 1  # account 78's one failure is still counted, account 77's is gone


def test_failures_spread_over_more_than_an_hour_never_block(ctx, world, core, invite):
    good = invite(Role.ENTREPRISE, company_id=world["company"], display_name="Chef")
    chat = ConsoleChat(core, account=79)
    for n in range(3 * invitation_throttle.MAX_FAILURES):
        assert "n'est pas valide" in chat.send(_guess(n))[0].text
        ctx.clock.advance(minutes=20)
    assert "Bienvenue, Chef" in chat.send(good)[0].text


def test_a_stranger_without_a_code_is_not_counted(ctx, world, core):
    chat = ConsoleChat(core, account=80)
    for _ in range(10):
        assert chat.send("bonjour")[0].text == texts.STRANGER
    with ctx.db.session() as s:
        assert s.scalar(select(KeyValue.key).where(KeyValue.key.like("invitation_%"))) is None


def test_the_purge_drops_throttle_rows_once_they_block_no_one(ctx, world, core):
    chat = ConsoleChat(core, account=81)
    chat.send(_guess(1))
    with ctx.db.session() as s:
        assert run_purge(ctx, s, dry_run=False).counts()["chat_bookkeeping"] == 0
    ctx.clock.advance(hours=2)
    with ctx.db.session() as s:
        report = run_purge(ctx, s, dry_run=False)
        assert report.counts()["chat_bookkeeping"] == 1
    with ctx.db.session() as s:
        assert s.scalar(select(KeyValue.key).where(KeyValue.key.like("invitation_%"))) is None


def test_a_damaged_counter_never_locks_an_account_out(ctx, world, core, invite):
    good = invite(Role.ENTREPRISE, company_id=world["company"], display_name="Chef")
    chat = ConsoleChat(core, account=82)
    chat.send(_guess(1))  # creates the account's counter row
    with ctx.db.session() as s:
        row = s.scalar(select(KeyValue).where(KeyValue.key.like("invitation_%")))
        # naive and future times, as a hand edit or a clock change would leave them
        row.value = '["2025-06-16T09:59:00"' + ', "2999-01-01T00:00:00+00:00"' * 5 + "]"
    assert "Bienvenue, Chef" in chat.send(good)[0].text
