"""A PostgreSQL cluster kept in the bench's work directory between runs.

Why: a throwaway cluster loses its databases at the end of every run, so the national database
(12 million rows) had to be rebuilt each time — 30 to 40 minutes with the generator on this
machine. Kept in ``<workdir>/pg15``, the cluster holds one TEMPLATE database per cache key (see
:mod:`bench.databases`), and each run copies it in seconds.

Several bench runs (several engineers) may share the work directory: each run holds a shared
``flock`` on ``users.lock`` while it uses the server; start and stop are serialised by
``start.lock``. The first run starts the server, later runs find it answering on the port written
in ``port`` and use it, and the run that leaves last (the only one able to turn its shared lock
into an exclusive one) shuts it down. A run killed outright leaves the server running; the next
run uses it and stops it when it leaves. The settings are the test-suite's
(:class:`tests.servers.postgres.PostgresServer`), so figures stay comparable with earlier rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path
from typing import IO, Any

import psycopg
from filelock import FileLock

from tests.servers._util import (
    chown_tree,
    ensure_system_user,
    free_port,
    is_root,
    stop_at_exit,
    terminate,
)
from tests.servers.postgres import PG_MAJOR, PostgresServer


class PersistentCluster(PostgresServer):
    """:class:`PostgresServer` whose data directory survives the run and is shared by runs."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self._users: IO[str] | None = None

    @classmethod
    def in_workdir(cls, workdir: Path) -> PersistentCluster:
        return cls(workdir / f"pg{PG_MAJOR}")

    def _answers(self, port: int) -> bool:
        """True when OUR server listens on ``port`` (after a crash, the port written in the
        work directory may have gone to another cluster, e.g. a test session's)."""
        try:
            with psycopg.connect(host=self.host, port=port, user="postgres", dbname="postgres",
                                 connect_timeout=2) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        return row is not None and Path(str(row[0])).resolve() == self.datadir.resolve()

    def start(self) -> PersistentCluster:
        """Use the running server of the work directory, or start it (initdb the first time)."""
        if self._users is not None:
            return self
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / "start.lock")):
            users = open(self.root / "users.lock", "a+")  # noqa: SIM115 - held until stop()
            fcntl.flock(users, fcntl.LOCK_SH)
            self._users = users
            self.tmpdir = self.root
            port_file = self.root / "port"
            if port_file.exists():
                port = int(port_file.read_text().strip() or 0)
                if port and self._answers(port):
                    self.port = port
                    stop_at_exit(self)
                    self.startup_seconds = time.monotonic() - began
                    return self
            if not (self.datadir / "PG_VERSION").exists():
                (self.root / "sock").mkdir(exist_ok=True)
                if is_root():
                    entry = ensure_system_user("postgres")
                    os.chmod(self.root, 0o755)
                    chown_tree(self.root, entry.pw_uid, entry.pw_gid)
                self._initdb()
            last_error = ""
            for _attempt in range(5):
                self.port = free_port()
                self._spawn()
                try:
                    self._wait_ready(timeout=60)
                except RuntimeError as exc:
                    last_error = str(exc)
                    terminate(self.proc)
                    if "could not bind" in last_error or "already in use" in last_error:
                        continue
                    self._release_users()
                    raise
                port_file.write_text(str(self.port))
                stop_at_exit(self)
                self.startup_seconds = time.monotonic() - began
                return self
            self._release_users()
            raise RuntimeError(f"PostgreSQL failed to start: {last_error}")

    def _release_users(self) -> None:
        if self._users is not None:
            self._users.close()
            self._users = None

    def stop(self, remove: bool = False) -> None:
        """Leave the server to the other runs, or shut it down if this run is the last user.

        ``remove`` is ignored: the data directory is the cache.
        """
        if self._users is None:
            return
        with FileLock(str(self.root / "start.lock")):
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._release_users()  # someone else still uses it
                return
            try:
                self._shutdown()
            finally:
                (self.root / "port").unlink(missing_ok=True)
                self._release_users()

    def _shutdown(self) -> None:
        if self.proc is not None:
            terminate(self.proc, sig=signal.SIGINT, timeout=60)
            self.proc = None
            return
        # started by an earlier run that has left: its pid is in postmaster.pid
        pid_file = self.datadir / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 60
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)

    def __enter__(self) -> PersistentCluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
