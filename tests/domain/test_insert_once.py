"""``clauses.idempotent.insert_once``: one INSERT … ON CONFLICT DO NOTHING RETURNING, same contract.

The contract its callers (outbox, alerts, reminders, mailbox copies) rely on: the row passed in
comes back persistent with its id and defaults when created; an existing key gives the existing
row and leaves the caller's transaction usable; a conflict on another unique key is an error,
not "already there".
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from clauses.context import Context
from clauses.idempotent import insert_once
from storage.models import KeyValue, OutboxChannel, OutboxMessage, OutboxStatus


def _email(key: str, **fields) -> OutboxMessage:
    return OutboxMessage(channel=OutboxChannel.EMAIL, dedup_key=key, to_address="a@b.test",
                         subject="Objet", body_text="Texte", **fields)


def test_created_row_is_the_one_passed_persistent_with_its_defaults(ctx: Context) -> None:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with ctx.db.session() as s:
        row = _email("k1")
        event.listen(ctx.db.engine, "before_cursor_execute", record)
        try:
            got, created = insert_once(s, row, OutboxMessage.dedup_key, "k1")
            # Defaults (status, attempts, created_at) came back with the INSERT: no reload.
            assert (got.status, got.attempts) == (OutboxStatus.PENDING, 0)
            assert got.created_at is not None
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", record)
        assert got is row and created and row.id is not None
        assert row in s and not s.dirty and not s.new
        assert [x.split()[0] for x in statements if not x.startswith("BEGIN")] == ["INSERT"]
        row.subject = "Modifié"  # still tracked: a later change is flushed as an UPDATE
    with ctx.db.session() as s:
        assert s.scalars(select(OutboxMessage.subject)).one() == "Modifié"


def test_existing_key_returns_the_stored_row_and_the_transaction_goes_on(ctx: Context) -> None:
    with ctx.db.session() as s:
        first, _ = insert_once(s, _email("k2"), OutboxMessage.dedup_key, "k2")
        first_id = first.id
    with ctx.db.session() as s:
        again, created = insert_once(s, _email("k2", body_html="<p>autre</p>"), OutboxMessage.dedup_key, "k2")
        assert not created and again.id == first_id and again.body_html is None
        s.add(KeyValue(key="after", value="1"))  # the caller's transaction is still usable
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert s.get(KeyValue, "after") is not None


def test_a_conflict_on_another_unique_key_is_an_error(ctx: Context) -> None:
    with ctx.db.session() as s:
        taken, _ = insert_once(s, _email("k3"), OutboxMessage.dedup_key, "k3")
        taken_id = taken.id
    with pytest.raises(IntegrityError), ctx.db.session() as s:
        insert_once(s, _email("k4", id=taken_id), OutboxMessage.dedup_key, "k4")
    with ctx.db.session() as s:
        assert s.scalars(select(OutboxMessage.dedup_key)).all() == ["k3"]


def test_a_string_primary_key_as_the_key(ctx: Context) -> None:
    """KeyValue's key is its primary key (reminders, mailbox copies): same behaviour."""
    with ctx.db.session() as s:
        row, created = insert_once(s, KeyValue(key="kv", value="a"), KeyValue.key, "kv")
        assert created and row.updated_at is not None
    with ctx.db.session() as s:
        row, created = insert_once(s, KeyValue(key="kv", value="b"), KeyValue.key, "kv")
        assert not created and row.value == "a"


def test_an_attribute_left_none_takes_the_column_default_as_a_flush_would(ctx: Context) -> None:
    with ctx.db.session() as s:
        row, created = insert_once(s, _email("k5", status=None, attempts=None), OutboxMessage.dedup_key, "k5")
        assert created and (row.status, row.attempts) == (OutboxStatus.PENDING, 0)


def test_a_read_session_still_refuses_the_write(ctx: Context) -> None:
    """The read session's guard sees ORM flushes only: the one-statement path steps aside."""
    from storage.db import ReadOnlySessionError

    with pytest.raises(ReadOnlySessionError), ctx.db.read_session() as s:
        insert_once(s, _email("k6"), OutboxMessage.dedup_key, "k6")
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_row_created_in_one_statement_is_recorded_where_asked(ctx: Context) -> None:
    """The scheduler counts a job's messages by flush events and ``clauses.outbox.written``."""
    from clauses.outbox import enqueue_email, written

    with ctx.db.session() as s:
        row, created = enqueue_email(s, dedup_key="k7", to="a@b.test", subject="Objet", text="Texte")
        again, created_again = enqueue_email(s, dedup_key="k7", to="a@b.test", subject="Objet", text="Texte")
        assert created and not created_again and again is row
        assert written(s) == [row]
