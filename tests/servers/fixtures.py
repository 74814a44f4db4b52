"""Pytest fixtures for the real test servers (PostgreSQL, Dovecot, SMTP sink, Bot API).

Load with ``pytest_plugins = ["tests.servers.fixtures"]`` in the root ``tests/conftest.py``.
Expensive servers (PostgreSQL, Dovecot) live for the whole session; per-test isolation comes
from a fresh database / a fresh IMAP user. Cheap ones (SMTP sink, Bot API) are per test.
Every fixture stops its processes and removes its temporary directories.

``CLAUSEBOT_TEST_PG_URL`` (e.g. ``postgresql+psycopg://user:pw@host:5432/postgres``) makes
``postgres_server`` use that existing server instead of starting a cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import pytest

from tests.servers.botapi import BotApiServer
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.postgres import ExternalPostgres, PostgresServer
from tests.servers.smtp import SmtpSink

PG_URL_ENV = "CLAUSEBOT_TEST_PG_URL"

#: Start-up durations in seconds, shown in the terminal summary (``-rA`` not needed).
STARTUP_TIMES: dict[str, list[float]] = {}


class _Server(Protocol):
    startup_seconds: float

    def start(self) -> object: ...


S = TypeVar("S", bound=_Server)


def _serve(name: str, server: S, stop: Callable[[], None]) -> Iterator[S]:
    """Start `server`, note how long it took, hand it out, and always `stop` it."""
    server.start()
    STARTUP_TIMES.setdefault(name, []).append(server.startup_seconds)
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | ExternalPostgres]:
    """One PostgreSQL 15 server for the session (or the one named by CLAUSEBOT_TEST_PG_URL)."""
    external = os.environ.get(PG_URL_ENV)
    server: PostgresServer | ExternalPostgres = (
        ExternalPostgres(external) if external else PostgresServer()
    )
    yield from _serve("postgres", server, server.stop)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer | ExternalPostgres) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for one test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One private Dovecot (plain IMAP on loopback) for the session."""
    server = DovecotServer()
    yield from _serve("dovecot", server, server.stop)


@pytest.fixture
def imap_account(dovecot_server: DovecotServer) -> Iterator[ImapAccount]:
    """A fresh IMAP user with an empty INBOX for one test (deleted afterwards)."""
    account = dovecot_server.add_user()
    try:
        yield account
    finally:
        dovecot_server.remove_user(account.user)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A recording SMTP server (no AUTH, no STARTTLS) for one test."""
    sink = SmtpSink()
    yield from _serve("smtp", sink, sink.close)


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    """A local Telegram Bot API server for one test.

    Build the bot with ``Application.builder().token(bot_api.token)
    .base_url(bot_api.bot_base_url).base_file_url(bot_api.file_base_url)``.
    """
    server = BotApiServer()
    yield from _serve("bot_api", server, server.stop)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long each kind of test server took to start (CI time budget)."""
    if not STARTUP_TIMES:
        return
    parts = []
    for name, values in sorted(STARTUP_TIMES.items()):
        parts.append(f"{name} {max(values):.3f}s max/{len(values)} start(s)")
    terminalreporter.write_line("test servers start-up: " + ", ".join(parts))
