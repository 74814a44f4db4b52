"""Declarative base shared by every table.

A naming convention is set so that Alembic produces stable constraint names on both SQLite and
PostgreSQL (SQLite cannot alter unnamed constraints, and batch migrations need the names).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

from sqlalchemy import JSON, DateTime, MetaData, Numeric, Table, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes stored as UTC.

    SQLite has no time zone type; without this, values come back naive on SQLite and aware on
    PostgreSQL, and comparisons between the two silently break.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Money = Numeric(14, 2)
"""Amounts in euros, exact (never floats)."""

Hours = Numeric(10, 2)
"""Hours with two decimals (a quarter of an hour is 0.25)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012
        dt.datetime: UTCDateTime(),
        Decimal: Numeric(14, 2),
        dict: JSON,
        list: JSON,
    }


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for the Core statements the hot paths build (executemany,
    prebuilt statements). ``__table__`` is typed as any ``FromClause``; every model here is
    mapped to a plain ``Table``, which is what ``insert``/``update`` need."""
    return cast(Table, model.__table__)
