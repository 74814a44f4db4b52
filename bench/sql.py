"""Running hand-written SQL on the bare DBAPI connection, on either backend.

The baselines are what a developer would write without the product: SQL text sent through the
driver (sqlite3 or psycopg). The same text serves both backends; parameters are written
``:name`` and converted to the driver's style, and values to what each stores (SQLite keeps
dates and datetimes as ISO text, as SQLAlchemy writes them).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storage.db import Database

_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class RawSQL:
    """A driver connection plus the dialect, with ``:name`` parameters on both backends."""

    def __init__(self, dbapi_connection: Any, dialect: str) -> None:
        self.conn = dbapi_connection
        self.dialect = dialect

    def _prepare(self, sql: str, params: dict[str, Any]) -> tuple[str, Any]:
        if self.dialect == "sqlite":
            return sql, {k: _sqlite_value(v) for k, v in params.items()}
        return _PARAM.sub(r"%(\1)s", sql), params

    def all(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        text, values = self._prepare(sql, params or {})
        cur = self.conn.cursor()
        try:
            cur.execute(text, values)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple:
        rows = self.all(sql, params)
        return rows[0]

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        text, values = self._prepare(sql, params or {})
        cur = self.conn.cursor()
        try:
            cur.execute(text, values)
        finally:
            cur.close()

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        text, _ = self._prepare(sql, rows[0])
        if self.dialect == "sqlite":
            rows = [{k: _sqlite_value(v) for k, v in r.items()} for r in rows]
        cur = self.conn.cursor()
        try:
            cur.executemany(text, rows)
        finally:
            cur.close()

    def commit(self) -> None:
        self.conn.commit()

    def ymd(self, column: str) -> str:
        """``yyyymmdd`` as an integer, in each dialect's own words."""
        if self.dialect == "sqlite":
            return f"CAST(strftime('%Y%m%d', {column}) AS INTEGER)"
        return (f"(EXTRACT(YEAR FROM {column}) * 10000 + EXTRACT(MONTH FROM {column}) * 100 "
                f"+ EXTRACT(DAY FROM {column}))")


@contextmanager
def raw(db: Database) -> Iterator[RawSQL]:
    """A pooled driver connection (as the product's sessions use), rolled back on exit."""
    fairy = db.engine.raw_connection()
    try:
        yield RawSQL(fairy.driver_connection, db.dialect)
    finally:
        try:
            fairy.rollback()
        finally:
            fairy.close()


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
