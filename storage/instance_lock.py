"""One service process per database: the lock every `clausebot` service takes before it schedules
jobs, polls IMAP or calls Telegram's getUpdates (two pollers would each get the same updates and
the same mail, and two schedulers would race for the same reminders).

* PostgreSQL: a session-level advisory lock held on a dedicated connection for the life of the
  process. The server releases it when the connection dies, so a crashed service never blocks
  the next one. The connection's ``application_name`` names the holder (pid, host), so the
  refused process can say who holds it.
* SQLite: an OS file lock (``filelock``) on ``<database>.lock`` next to the database file; the
  kernel releases it when the process dies. The holder writes who it is to ``<database>.lock.info``
  (a separate file: the lock file itself is truncated by every contender).
* An in-memory SQLite database cannot be shared between processes: no lock is needed.

The second process either exits with :class:`InstanceBusy` (its French message says who holds the
lock and what to do) or, with ``wait=True``, waits until the first one stops.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

_PG_CLASS = 0x636C6175  # "clau": first half of the two-int advisory key, below 2**31


class InstanceBusy(RuntimeError):
    """Another process holds the lock; ``message_fr`` is what the operator reads."""

    def __init__(self, holder: str | None, where: str) -> None:
        who = f" ({holder})" if holder else ""
        self.holder = holder
        self.message_fr = (
            f"Une autre instance de clausebot tourne déjà sur cette base de données{who}. "
            f"Verrou : {where}. Arrêtez-la d'abord, ou relancez avec --wait pour attendre "
            "qu'elle s'arrête."
        )
        super().__init__(self.message_fr)


def _me() -> str:
    return f"pid {os.getpid()} sur {socket.gethostname()}"


class InstanceLock:
    """Exclusive lock for the service on the database at ``url``."""

    def __init__(self, url: str, name: str = "service") -> None:
        self.url = url
        self.name = name
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        self._conn: Connection | None = None
        self._file: FileLock | None = None
        if backend == "postgresql":
            self.kind = "postgresql"
            self._key = zlib.crc32(f"clausebot:{name}".encode()) & 0x7FFFFFFF
            self._engine = create_engine(
                url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                connect_args={"application_name": f"clausebot {name} ({_me()})"[:63]},
            )
        elif backend == "sqlite" and parsed.database and parsed.database != ":memory:":
            self.kind = "file"
            db_path = Path(parsed.database).resolve()
            self.lock_path = db_path.with_name(db_path.name + ".lock")
            self.info_path = db_path.with_name(db_path.name + ".lock.info")
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = FileLock(str(self.lock_path), thread_local=False)
        else:
            self.kind = "none"

    # -- public ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        if self.kind == "postgresql":
            return f"verrou consultatif PostgreSQL ({_PG_CLASS}, {self._key})"
        if self.kind == "file":
            return f"fichier {self.lock_path}"
        return "aucun (base en mémoire)"

    @property
    def held(self) -> bool:
        if self.kind == "postgresql":
            return self._conn is not None
        if self.kind == "file":
            return self._file is not None and self._file.is_locked
        return True

    def acquire(
        self,
        *,
        wait: bool = False,
        timeout: float | None = None,
        poll: float = 0.5,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Take the lock, or raise :class:`InstanceBusy` (at once, or after ``timeout`` when
        waiting). ``on_wait`` is told once, in French, that we are waiting and for whom."""
        if self.held and self.kind != "none":
            return
        if self._try():
            return
        if not wait:
            raise InstanceBusy(self.holder(), self.where)
        if on_wait is not None:
            who = self.holder()
            on_wait(f"Une autre instance de clausebot tient le verrou{f' ({who})' if who else ''} : "
                    "en attente de son arrêt…")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            time.sleep(poll)
            if self._try():
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise InstanceBusy(self.holder(), self.where)

    def release(self) -> None:
        if self.kind == "postgresql" and self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"),
                                   {"c": _PG_CLASS, "k": self._key})
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        elif self.kind == "file" and self._file is not None and self._file.is_locked:
            with contextlib.suppress(OSError):
                self.info_path.unlink()
            self._file.release(force=True)

    def check(self) -> bool:
        """Still held? (PostgreSQL: the dedicated connection answers; a lost connection means
        the server released the lock, and the service must stop.)"""
        if self.kind != "postgresql":
            return self.held
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            return False
        return True

    def holder(self) -> str | None:
        """Who holds the lock, as far as we can tell (for the refusal message)."""
        try:
            if self.kind == "postgresql":
                return self._pg_holder()
            if self.kind == "file":
                return self._file_holder()
        except Exception:
            return None
        return None

    def _file_holder(self, patience: float = 2.0) -> str | None:
        """The holder writes its info file just after taking the lock: a contender that lost
        the race by microseconds waits briefly for it rather than saying nothing."""
        deadline = time.monotonic() + patience
        while True:
            try:
                info = json.loads(self.info_path.read_text(encoding="utf-8"))
                return f"pid {info['pid']} sur {info['host']}, depuis {info['since']}"
            except (OSError, ValueError, KeyError):
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.05)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def dispose(self) -> None:
        self.release()
        if self.kind == "postgresql":
            self._engine.dispose()

    # -- backends -------------------------------------------------------------------------

    def _try(self) -> bool:
        if self.kind == "postgresql":
            conn = self._engine.connect()
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"),
                                   {"c": _PG_CLASS, "k": self._key}).scalar()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        if self.kind == "file":
            assert self._file is not None
            try:
                self._file.acquire(timeout=0)
            except Timeout:
                return False
            since = dt.datetime.now().astimezone().strftime("%d/%m/%Y %H:%M")
            # Written aside then renamed: a contender never reads a half-written file.
            tmp = self.info_path.with_name(f"{self.info_path.name}.{os.getpid()}.tmp")
            tmp.write_text(
                json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}),
                encoding="utf-8",
            )
            os.replace(tmp, self.info_path)
            return True
        return True

    def _pg_holder(self) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                    "AND l.classid::bigint = :c AND l.objid::bigint = :k "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"c": _PG_CLASS, "k": self._key},
            ).first()
        if row is None:
            return None
        since = row[2].astimezone().strftime("%d/%m/%Y %H:%M") if row[2] else "?"
        app = row[1] or "?"
        return f"{app}, connexion {row[0]}, depuis {since}"
