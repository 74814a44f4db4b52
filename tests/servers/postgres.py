"""A throwaway PostgreSQL 15 cluster for the test-suite.

Why: the product must behave the same on SQLite and PostgreSQL (unique keys, transactions,
GROUP BY aggregates), so tests run against a real server. One cluster per test session keeps
it fast; each test that needs isolation gets its own database (``create_database``).

PostgreSQL refuses to run as root, and CI runs as root: the binaries are then executed as the
``postgres`` system user (created if missing) and the temporary directory is handed to it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from tests.servers._util import (
    LOOPBACK,
    chown_tree,
    ensure_system_user,
    free_port,
    is_root,
    stop_at_exit,
    tail,
    terminate,
)

SUPERUSER = "postgres"
PG_MAJOR = 15
_VALID_DBNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def find_bindir() -> Path:
    """Locate the directory holding ``initdb`` and ``postgres`` (Debian keeps them off PATH)."""
    candidates: list[Path] = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(
                [pg_config, "--bindir"], check=True, capture_output=True, text=True
            )
            candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise RuntimeError(
        "PostgreSQL server binaries not found (install the postgresql-15 package); "
        f"looked in {[str(c) for c in candidates]}"
    )


def _check_dbname(name: str) -> str:
    if not _VALID_DBNAME.match(name):
        raise ValueError(f"invalid database name for tests: {name!r}")
    return name


class _Admin:
    """Database administration shared by the local and the external server."""

    def admin_conninfo(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def url(self, dbname: str = "postgres") -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.admin_conninfo(), autocommit=True, connect_timeout=5)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (dropping a leftover of the same name) and return its URL."""
        _check_dbname(name)
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting its remaining sessions."""
        _check_dbname(name)
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def list_databases(self) -> list[str]:
        """Names of the non-template databases (handy for cleanup assertions)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1"
            )
            return [row[0] for row in rows]


class PostgresServer(_Admin):
    """A PostgreSQL cluster in a temporary directory, listening on a free loopback port."""

    def __init__(self, bindir: Path | None = None, base_dir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self._base_parent = base_dir
        self.host = LOOPBACK
        self.port = 0
        self.tmpdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    # -- process management -------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "postgres.log"

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root privileges to the ``postgres`` user."""
        if not is_root():
            return {}
        entry = ensure_system_user("postgres")
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env["LANG"] = "C.UTF-8"
        if is_root():
            env["HOME"] = str(self.tmpdir)
        return env

    def start(self) -> PostgresServer:
        """initdb (if needed) and start the server; return once it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        began = time.monotonic()
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="clausebot-pg-", dir=self._base_parent))
            (self.tmpdir / "sock").mkdir()
            if is_root():
                entry = ensure_system_user("postgres")
                os.chmod(self.tmpdir, 0o755)
                chown_tree(self.tmpdir, entry.pw_uid, entry.pw_gid)
            self._initdb()
        last_error = ""
        for _attempt in range(5):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_ready(timeout=30)
            except RuntimeError as exc:
                last_error = str(exc)
                terminate(self.proc)
                if "could not bind" in last_error or "already in use" in last_error:
                    continue
                raise
            stop_at_exit(self)
            self.startup_seconds = time.monotonic() - began
            return self
        raise RuntimeError(f"PostgreSQL failed to start: {last_error}")

    def _initdb(self) -> None:
        cmd = [
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",
        ]
        result = subprocess.run(
            cmd, cwd=self.tmpdir, env=self._env(), capture_output=True, text=True, **self._run_as()
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )

    def _spawn(self) -> None:
        assert self.tmpdir is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.tmpdir / "sock"),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "200",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        log = open(self.logfile, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.tmpdir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._run_as(),
            )
        finally:
            log.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.proc.returncode}:\n{tail(self.logfile)}"
                )
            try:
                with psycopg.connect(**self.admin_conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres not ready after {timeout}s:\n{tail(self.logfile)}")

    def stop(self, remove: bool = True) -> None:
        """Fast shutdown (SIGINT) and, by default, delete the cluster directory."""
        terminate(self.proc, sig=signal.SIGINT, timeout=20)
        self.proc = None
        if remove and self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------
    def admin_conninfo(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": SUPERUSER, "dbname": "postgres"}

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of database ``dbname`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{_check_dbname(dbname)}"


class ExternalPostgres(_Admin):
    """An already running server given by ``CLAUSEBOT_TEST_PG_URL`` (a superuser-ish URL)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.drivername.split("+")[0] not in {"postgresql", "postgres"}:
            raise ValueError(
                f"CLAUSEBOT_TEST_PG_URL must be a PostgreSQL URL, got {parsed.drivername}"
            )
        self._url: URL = parsed.set(drivername="postgresql+psycopg")
        self.host = parsed.host or LOOPBACK
        self.port = parsed.port or 5432
        self.startup_seconds = 0.0

    def start(self) -> ExternalPostgres:
        return self

    def stop(self, remove: bool = True) -> None:
        """Nothing to stop: the server belongs to someone else."""

    def admin_conninfo(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self._url.database or "postgres",
        }
        if self._url.username:
            info["user"] = self._url.username
        if self._url.password:
            info["password"] = self._url.password
        return info

    def url(self, dbname: str = "postgres") -> str:
        return self._url.set(database=_check_dbname(dbname)).render_as_string(hide_password=False)
