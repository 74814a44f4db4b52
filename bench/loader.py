"""Bulk loading of generated rows: executemany on SQLite, COPY on PostgreSQL.

Why not the ORM: five million declarations through ``session.add`` would take an hour; the
benchmark needs the national database in minutes. Rows are plain tuples in the column order the
generator declares; the loader converts the few types that need it (dates, datetimes, booleans,
JSON) from the SQLAlchemy column types, so the stored values are exactly what the ORM would have
written (checked by the smoke test, which reads generated rows back through the models).

Columns the generator leaves out get what the model's Python-side default would have given
(``default=0``, ``default=dict``, ``default=utcnow`` -> the generation timestamp) or NULL, so a
colleague adding a column with a default does not break the generator.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Enum, Numeric, Table

from storage.db import Database
from storage.models import Base

Converter = Callable[[Any], Any]
BATCH = 20_000


def _iso_date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _sqlite_datetime(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _bool_int(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _decimal_float(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _column_kind(column: Any) -> str:
    col_type = column.type
    impl = getattr(col_type, "impl", col_type)
    if isinstance(col_type, Enum):
        return "enum"
    if isinstance(impl, DateTime):
        return "datetime"
    if isinstance(impl, Date):
        return "date"
    if isinstance(impl, Boolean):
        return "bool"
    if isinstance(impl, JSON):
        return "json"
    if isinstance(impl, Numeric):
        return "numeric"
    return "plain"


class Filler:
    """Values for the model columns the generator does not provide."""

    def __init__(self, table: Table, given: Sequence[str], generated_at: dt.datetime) -> None:
        unknown = [c for c in given if c not in table.c]
        if unknown:
            raise KeyError(f"{table.name}: no column(s) {unknown}")
        self.columns = list(given)
        self.extra: list[str] = []
        self.extra_values: list[Any] = []
        for column in table.c:
            if column.name in given:
                continue
            default = column.default
            value: Any = None
            if default is not None and getattr(default, "is_scalar", False):
                value = default.arg
            elif default is not None and callable(getattr(default, "arg", None)):
                name = getattr(default.arg, "__name__", "")
                if "utcnow" in name or (name.endswith("<lambda>") and column.name.endswith("_at")):
                    value = generated_at
                else:
                    try:
                        value = default.arg(None)
                    except TypeError:
                        value = default.arg()
            elif not column.nullable and not column.primary_key:
                raise ValueError(f"{table.name}.{column.name} is NOT NULL and has no default")
            if column.primary_key and value is None:
                continue
            self.extra.append(column.name)
            self.extra_values.append(value.value if hasattr(value, "value") else value)
        self.all_columns = self.columns + self.extra


class Loader:
    """Common interface of the two backends."""

    def __init__(self, db: Database, generated_at: dt.datetime) -> None:
        self.db = db
        self.generated_at = generated_at
        self.rows_written: dict[str, int] = {}

    def table(self, name: str) -> Table:
        return Base.metadata.tables[name]

    def load(self, name: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        filler = Filler(self.table(name), columns, self.generated_at)
        count = self._load(name, filler, rows)
        self.rows_written[name] = self.rows_written.get(name, 0) + count
        return count

    def _load(self, name: str, filler: Filler, rows: Iterable[tuple]) -> int:  # pragma: no cover
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError


class SqliteLoader(Loader):
    """executemany over one raw sqlite3 connection with journaling off (a fresh file)."""

    def __init__(self, db: Database, generated_at: dt.datetime) -> None:
        super().__init__(db, generated_at)
        path = db.engine.url.database
        assert path, "SQLite loader needs a file database"
        db.dispose()
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF",
                       "cache_size=-262144", "temp_store=MEMORY", "locking_mode=EXCLUSIVE"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("BEGIN")

    def _converters(self, name: str, filler: Filler) -> list[tuple[int, Converter]]:
        table = self.table(name)
        out: list[tuple[int, Converter]] = []
        for index, column_name in enumerate(filler.all_columns):
            kind = _column_kind(table.c[column_name])
            conv = {"date": _iso_date, "datetime": _sqlite_datetime, "bool": _bool_int,
                    "json": _json, "numeric": _decimal_float}.get(kind)
            if conv is not None:
                out.append((index, conv))
        return out

    def _load(self, name: str, filler: Filler, rows: Iterable[tuple]) -> int:
        converters = self._converters(name, filler)
        extra = tuple(filler.extra_values)
        placeholders = ", ".join("?" for _ in filler.all_columns)
        sql = (f'INSERT INTO "{name}" ({", ".join(filler.all_columns)}) '
               f"VALUES ({placeholders})")
        count = 0
        batch: list[tuple] = []
        for row in rows:
            full = list(row + extra) if converters else row + extra
            if converters:
                for index, conv in converters:
                    full[index] = conv(full[index])
                batch.append(tuple(full))
            else:
                batch.append(full)
            if len(batch) >= BATCH:
                self.conn.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            self.conn.executemany(sql, batch)
            count += len(batch)
        return count

    def finish(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA locking_mode=NORMAL")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_key_check")

    def close(self) -> None:
        self.conn.close()


def _pg_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (value.replace("\\", "\\\\").replace("\t", "\\t")
                     .replace("\n", "\\n").replace("\r", "\\r"))
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _pg_text(json.dumps(value))
    if hasattr(value, "value") and not isinstance(value, int | float | Decimal):
        return str(value.value)
    return str(value)


class PostgresLoader(Loader):
    """COPY ... FROM STDIN in text format through psycopg, one COPY per batch."""

    def __init__(self, db: Database, generated_at: dt.datetime) -> None:
        super().__init__(db, generated_at)
        self.raw = db.engine.raw_connection()
        self.conn = self.raw.driver_connection
        assert self.conn is not None

    def _load(self, name: str, filler: Filler, rows: Iterable[tuple]) -> int:
        extra = "\t".join(_pg_text(v) for v in filler.extra_values)
        tail = ("\t" + extra if filler.extra_values else "") + "\n"
        statement = f'COPY "{name}" ({", ".join(filler.all_columns)}) FROM STDIN'
        count = 0
        buffer: list[str] = []

        def flush() -> None:
            with self.conn.cursor() as cur, cur.copy(statement) as copy:
                copy.write("".join(buffer).encode())

        for row in rows:
            buffer.append("\t".join(map(_pg_text, row)) + tail)
            if len(buffer) >= BATCH * 5:
                flush()
                count += len(buffer)
                buffer = []
        if buffer:
            flush()
            count += len(buffer)
        return count

    def finish(self) -> None:
        with self.conn.cursor() as cur:
            for table in Base.metadata.sorted_tables:
                pk = list(table.primary_key.columns)
                if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and \
                        pk[0].type.python_type is int and table.name in self.rows_written:
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                        f'coalesce((SELECT max("{pk[0].name}") FROM "{table.name}"), 0) + 1, false)'
                    )
        self.conn.commit()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        self.conn.autocommit = False

    def close(self) -> None:
        self.raw.close()


def loader_for(db: Database, generated_at: dt.datetime) -> Loader:
    if db.dialect == "sqlite":
        return SqliteLoader(db, generated_at)
    if db.dialect == "postgresql":
        return PostgresLoader(db, generated_at)
    raise ValueError(f"no bulk loader for {db.dialect}")


def sqlite_connect_for_reading(path: str) -> sqlite3.Connection:
    """A plain sqlite3 connection (the baselines use the bare driver, as a hand-written tool would)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _python_type(column: Any) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _sqlite_copy_expression(column: Any) -> str:
    """SQLite SQL giving ``column`` as one field of PostgreSQL's COPY text format.

    SQLite formats the whole line in C (12 million rows would take minutes through Python
    converters); the values are what the loader stored there (ISO dates, naive UTC datetimes,
    0/1 booleans, JSON text), which PostgreSQL reads back as the same values.
    """
    name = f'"{column.name}"'
    kind = _column_kind(column)
    if kind == "bool":
        return f"CASE WHEN {name} IS NULL THEN '\\N' WHEN {name} THEN 't' ELSE 'f' END"
    value = f"CAST({name} AS TEXT)"
    if kind in ("plain", "enum", "json") and _python_type(column) is not int:
        value = (f"replace(replace(replace(replace({value}, '\\', '\\\\'), char(9), '\\t'), "
                 f"char(10), '\\n'), char(13), '\\r')")
    return f"CASE WHEN {name} IS NULL THEN '\\N' ELSE {value} END"


def copy_sqlite_into_postgres(sqlite_path: str, db: Database, generated_at: dt.datetime,
                              log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Fill the empty PostgreSQL ``db`` with every row of the generated SQLite file.

    Why: generating the national database on PostgreSQL takes 30–40 minutes here, its SQLite
    twin (same seed, same rows) is cached; copying it takes minutes. Foreign keys are not
    re-checked row by row (``session_replication_role = replica``): SQLite's
    ``foreign_key_check`` passed when the file was generated, and the caller compares the two
    databases (:func:`fingerprint`). Returns the rows copied per table.
    """
    import time

    from psycopg import sql as pgsql

    Base.metadata.create_all(db.engine)
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro&immutable=1", uri=True)
    loader = PostgresLoader(db, generated_at)
    target = loader.conn
    assert target is not None
    try:
        present = {r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        with target.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute("SET session_replication_role = replica")
            for table in Base.metadata.sorted_tables:
                if table.name not in present:
                    continue
                began = time.monotonic()
                columns = list(table.c)
                line = " || char(9) || ".join(_sqlite_copy_expression(c) for c in columns)
                rows = source.execute(f'SELECT {line} FROM "{table.name}"')
                copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
                    pgsql.Identifier(table.name),
                    pgsql.SQL(", ").join(pgsql.Identifier(c.name) for c in columns))
                count = 0
                with cur.copy(copy_sql) as copy:
                    while chunk := rows.fetchmany(BATCH * 2):
                        copy.write(("\n".join(r[0] for r in chunk) + "\n").encode())
                        count += len(chunk)
                loader.rows_written[table.name] = count
                if log and count > 100_000:
                    log(f"  {table.name}: {count:,} rows ({time.monotonic() - began:.1f}s)")
            cur.execute("SET session_replication_role = DEFAULT")
        loader.finish()
    finally:
        loader.close()
        source.close()
    return dict(loader.rows_written)


def fingerprint(conn: Any) -> dict[str, Any]:
    """Row counts of every table and aggregates of the figures, the same text on both backends.

    Two databases with equal fingerprints hold the same territory (used to check that the
    PostgreSQL copy of a SQLite file, or a generation on PostgreSQL, match it). ``conn``: a
    :class:`bench.sql.RawSQL`.
    """
    out: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        pk = [c.name for c in table.primary_key.columns]
        id_sum = f', SUM("{pk[0]}")' if len(pk) == 1 and \
            _python_type(table.primary_key.columns[pk[0]]) is int else ", 0"
        count, ids = conn.one(f'SELECT COUNT(*){id_sum} FROM "{table.name}"')
        out[table.name] = (int(count), int(ids or 0))
    year = ("CAST(strftime('%Y', month) AS INTEGER)" if conn.dialect == "sqlite"
            else "CAST(EXTRACT(YEAR FROM month) AS INTEGER)")
    hours = conn.all(
        f"SELECT {year} AS year, COUNT(*), SUM(counted_hours), "
        "SUM(work_hours), SUM(training_hours), COUNT(DISTINCT contract_id) "
        "FROM hour_declarations GROUP BY 1 ORDER BY 1")
    out["hour_declarations by year"] = [
        (int(y), int(n), *(f"{float(v or 0):.2f}" for v in sums), int(d))
        for y, n, *sums, d in ((r[0], r[1], r[2], r[3], r[4], r[5]) for r in hours)]
    (owed,) = conn.one("SELECT SUM(hours_owed) FROM lots")
    out["lots hours_owed"] = f"{float(owed or 0):.2f}"
    return out
