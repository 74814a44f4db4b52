"""Insert-once helper: the unique key decides, not a prior SELECT (which races)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")


def insert_once(session: Session, row: T, key_column, key_value) -> tuple[T, bool]:
    """Add `row` unless a row with `key_column == key_value` exists; return (row, created).

    A SAVEPOINT isolates the attempt, so a concurrent duplicate surfaces as an IntegrityError
    that is turned into "already there" without aborting the caller's transaction.
    """
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
