"""Engine and session handling for SQLite (embedded default) and PostgreSQL (production).

Sessions are short: one unit of work, one transaction. Callers use `Database.session()` as a
context manager, which commits on success and rolls back on any exception, so a crash in the
middle of handling a message never leaves half of it written.

Work that only reads (due queries, status, reports) uses `Database.read_session()` instead. On
SQLite a write session starts with ``BEGIN IMMEDIATE`` and so holds the database's single write
lock for its whole length; a long read done that way made the outbox sender fail with "database
is locked". A read session starts with a deferred ``BEGIN``: under WAL it reads a snapshot and
never blocks a writer. On PostgreSQL it is a ``READ ONLY`` transaction (readers never block
writers there anyway; the flag makes a stray write fail loudly).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Result, make_url
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "clausebot_read_only"
"""Execution option marking the connections of read sessions (see :meth:`Database.read_session`)."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Foreign keys are off by default in SQLite; WAL lets the bot read while the intake writes."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    # SQLite's built-in lower()/upper() only fold ASCII: "ÉRIC" would never match "éric", and a
    # participant named Éric could not be found from a spreadsheet or the chat. Python's are
    # Unicode-aware, as PostgreSQL's are. (No index is built on these functions.)
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    dbapi_connection.create_function("upper", 1, _unicode_upper, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _unicode_upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        return engine
    # pool: the chat handles up to 16 updates at once (bot.dispatch), beside mail and outbox
    engine = create_engine(url, echo=echo, pool_pre_ping=True, future=True, pool_size=10,
                           max_overflow=20, connect_args=_server_connect_args(parsed))
    event.listen(engine, "begin", _server_begin)
    return engine


SERVER_OPTIONS = "-c jit=off"
"""Session settings every service connection to PostgreSQL starts with (libpq ``options``: sent
in the startup packet, no extra round trip). JIT off (issue 20, docs/benchmarks.md § k22pg):
PostgreSQL 15 JIT-compiles any statement costed above ``jit_above_cost``, and at national size
the service's daily statements cross it without ever winning the compilation back — 3 s of the
bilan, 0.8 s of a fee-milestone query, 1.2 s a chunk of a paths variant; the statements are
short-lived and run once, the case JIT does not pay for."""


def _server_connect_args(parsed: Any) -> dict[str, str]:
    """:data:`SERVER_OPTIONS`, then libpq's ``PGOPTIONS`` from the environment (an explicit
    ``options`` would otherwise silence it), then any ``options`` the URL gives: kept, and
    last, so that an administrator's own ``-c jit=on`` wins (except in a bilan's transaction,
    which sets its own: :data:`LARGE_READ_SETTINGS`)."""
    given = parsed.query.get("options")
    if isinstance(given, tuple):
        given = " ".join(given)
    return {"options": " ".join(o for o in (SERVER_OPTIONS, os.environ.get("PGOPTIONS"), given) if o)}


def _read_only(conn: Connection) -> bool:
    return bool(conn.get_execution_options().get(READ_ONLY))


def _sqlite_begin(conn: Connection) -> None:
    """pysqlite's own transaction handling is switched off, so BEGIN is ours to emit.

    Writers take the write lock up front (IMMEDIATE) so that SELECT-then-INSERT sequences are
    serialised like on PostgreSQL and a reader never has to upgrade its lock mid-transaction
    (the SQLITE_BUSY deadlock of two deferred writers). Readers use a deferred BEGIN: under WAL
    they read a snapshot without taking the write lock, so the outbox sender can write meanwhile.
    """
    conn.exec_driver_sql("BEGIN" if _read_only(conn) else "BEGIN IMMEDIATE")


def _server_begin(conn: Connection) -> None:
    """On PostgreSQL the driver begins implicitly; the first statement marks a read session."""
    if _read_only(conn):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


class Database:
    """One engine plus its session factory; passed to every component instead of a global."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool and listeners; its connections carry READ_ONLY, which the begin hooks read.
        self._read_factory = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> contextlib.AbstractContextManager[Session]:
        """A unit of work that may write (on SQLite it holds the write lock throughout)."""
        return _unit(self._factory())

    def read_session(self) -> contextlib.AbstractContextManager[Session]:
        """A session for work that only reads: no write lock on SQLite, READ ONLY on PostgreSQL.

        Objects loaded stay usable after the block (the transaction ends with a commit, which
        writes nothing and does not expire them). Pending ORM changes are refused at flush
        rather than silently discarded; SQLite would otherwise take the write lock
        mid-transaction, which is exactly what this session exists to avoid.
        """
        session = self._read_factory()
        event.listen(session, "before_flush", _refuse_writes)
        return _unit(session)

    def dispose(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _unit(session: Session) -> Iterator[Session]:
    """Commit on success, roll back on any exception (even KeyboardInterrupt), always close."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class ReadOnlySessionError(RuntimeError):
    """An ORM change was flushed in a :meth:`Database.read_session`."""


def _refuse_writes(session: Session, _flush_context: object, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("read_session() is for reads; use session() to write")


LARGE_READ_SETTINGS = ("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; "
                       "SET LOCAL plan_cache_mode = force_custom_plan")
"""What a transaction that aggregates a large share of the database (a bilan) sets on
PostgreSQL, until it ends (issue 20, docs/benchmarks.md § k21pgbilan). Measured on the national
bilan: with the defaults, PostgreSQL 15 JIT-compiles its big statements (cost above
``jit_above_cost``) with inlining and optimisation, about 3 s of a 10 s bilan, which the
statements never win back; and ``work_mem`` = 4 MB makes the per-engagement aggregate of
1.2 million declarations spill to disk in 9 batches and the counts' sorts run as external
merges. Below those sizes (a donneur, a territory) neither matters: no statement is costed
above the JIT threshold and every sort and hash already fits. At every size, custom plans:
psycopg prepares a statement on its 6th run on a connection and PostgreSQL then switches to a
generic plan (planned without the scope's values) after 5 more: in a long-running service, from
the 11th bilan of a kind on a pooled connection, a territory's annual bilan took 2-3 times as
long. Scoped to the transaction (``LOCAL``): the service's other statements keep the server's
settings (JIT aside: :data:`SERVER_OPTIONS` turns it off for every connection; the ``LOCAL``
one stays for a URL whose own options turn it back on)."""


def tune_for_large_reads(session: Session) -> None:
    """Apply :data:`LARGE_READ_SETTINGS` to ``session``'s transaction (PostgreSQL only; SQLite
    has neither JIT nor a per-sort memory budget). One round trip, before the big statements."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(LARGE_READ_SETTINGS)


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE touched (the claim/lease guards read it).

    ``Session.execute`` is typed as returning a plain ``Result``, but for a DML statement it is a
    ``CursorResult``, the only kind that carries ``rowcount``: the cast says so once, here.
    """
    return cast(CursorResult[*tuple[Any, ...]], result).rowcount
