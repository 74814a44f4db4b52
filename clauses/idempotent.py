"""Insert-once helper: the unique key decides, not a prior SELECT (which races)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ClauseElement

from storage.db import READ_ONLY

T = TypeVar("T")

_INSERTS: dict[str, Any] = {"sqlite": sqlite_insert, "postgresql": pg_insert}


def insert_once(session: Session, row: T, key_column, key_value, *,
                written: list[Any] | None = None) -> tuple[T, bool]:
    """Add `row` unless a row with `key_column == key_value` exists; return (row, created).

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` when the backend has it (SQLite,
    PostgreSQL): a row is created in one round trip, where a SELECT, a SAVEPOINT, the INSERT and
    its RELEASE cost four (the intake queues one to three of these an e-mail). A concurrent
    duplicate is skipped by the database itself, and only then is the existing row read. When
    created, the row returned is `row` itself, persistent in `session` with its id and defaults.

    ``written``: where a row created without the ORM's flush is recorded (the scheduler counts
    the outbox rows and alerts of a job by its flush events and by ``clauses.outbox.written``).
    """
    fast = _insert_returning(session, row, key_column, key_value)
    if fast is not None and fast[1] and written is not None:
        written.append(row)
    if fast is not None:
        return fast
    return _insert_with_savepoint(session, row, key_column, key_value)


def _insert_returning(session: Session, row: T, key_column, key_value) -> tuple[T, bool] | None:
    """The one-statement path; None when it does not apply (another backend, a relationship set
    on `row`, a read session, whose guard sees ORM flushes only, or a conflict on a unique key
    other than `key_column`, which the savepoint path then raises as the IntegrityError it is)."""
    bind = session.get_bind()
    if bind.get_execution_options().get(READ_ONLY):
        return None
    make_insert = _INSERTS.get(bind.dialect.name)
    state = inspect(row)
    mapper = state.mapper
    if make_insert is None or not state.transient or any(
            rel.key in state.dict for rel in mapper.relationships):
        return None
    session.flush()  # rows this one may refer to are written first, as the ORM's flush would
    props = list(mapper.column_attrs)
    values: dict[str, Any] = {}
    for prop in props:
        column = prop.columns[0]
        value = state.dict.get(prop.key)
        # As the ORM's flush does: an attribute left as None lets the column's default apply,
        # except for types that store None as a value (JSON's null).
        if prop.key in state.dict and (value is not None or column.type.should_evaluate_none):
            values[column.key] = value
    if any(isinstance(v, ClauseElement) for v in values.values()):  # a SQL expression as a value
        stmt = (make_insert(mapper.local_table).values(values).on_conflict_do_nothing()
                .returning(*(prop.columns[0] for prop in props)))
        created = session.execute(stmt).first()
    else:
        created = session.execute(_prebuilt(bind.dialect.name, mapper, props), values).first()
    if created is None:
        existing = session.scalar(select(mapper.class_).where(key_column == key_value))
        return None if existing is None else (existing, False)
    for prop, value in zip(props, created, strict=True):
        set_committed_value(row, prop.key, value)
    make_transient_to_detached(row)
    session.add(row)
    return row, True


_PREBUILT: dict[tuple[str, Any], Any] = {}


def _prebuilt(dialect: str, mapper: Any, props: list[Any]) -> Any:
    """The table's ``INSERT … ON CONFLICT DO NOTHING RETURNING``, built once, its values passed
    as parameters: building and cache-keying a new statement at every call cost more than the
    INSERT itself (the e-mail intake queues one to three rows an e-mail)."""
    key = (dialect, mapper)
    stmt = _PREBUILT.get(key)
    if stmt is None:
        stmt = _PREBUILT[key] = (_INSERTS[dialect](mapper.local_table).on_conflict_do_nothing()
                                 .returning(*(prop.columns[0] for prop in props)))
    return stmt


def _insert_with_savepoint(session: Session, row: T, key_column, key_value) -> tuple[T, bool]:
    """Any backend: a SAVEPOINT isolates the attempt, so a concurrent duplicate surfaces as an
    IntegrityError that is turned into "already there" without aborting the caller's
    transaction."""
    model = type(row)
    existing = session.scalar(select(model).where(key_column == key_value))
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(model).where(key_column == key_value))
        if existing is None:
            raise
        return existing, False
    return row, True
