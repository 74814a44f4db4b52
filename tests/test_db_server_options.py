"""Every service connection to PostgreSQL runs with JIT off; SQLite is sent nothing.

Why (issue 20, docs/benchmarks.md § k22pg): at national size PostgreSQL 15 JIT-compiled the
service's big one-off statements (the bilan's, a fee-milestone query, a paths variant) for
longer than they then ran; the setting is given once, in the connection's startup options
(`storage.db.SERVER_OPTIONS`), so no path — chat, intake, outbox, tick — can miss it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from storage.db import SERVER_OPTIONS, Database


def _sent(db: Database) -> tuple[list[str], Any]:
    sent: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    return sent, listener


def test_write_and_read_sessions_have_jit_off_on_postgresql_and_sqlite_is_sent_nothing(
    db: Database,
) -> None:
    db.dispose()  # new connections: the setting comes with the connection, not a statement
    sent, listener = _sent(db)
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
            write = str(s.execute(text("SHOW jit")).scalar()) if db.dialect == "postgresql" else ""
        with db.read_session() as s:
            read = str(s.execute(text("SHOW jit")).scalar()) if db.dialect == "postgresql" else ""
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert not [st for st in sent if "jit" in st.lower() and "SHOW" not in st.upper()], sent
    if db.dialect != "postgresql":
        assert "options" not in db.engine.url.query
        assert (write, read) == ("", "")
        return
    assert (write, read) == ("off", "off")


def _show(url: str) -> dict[str, str]:
    db = Database(url)
    try:
        with db.read_session() as s:
            return {name: str(s.execute(text(f"SHOW {name}")).scalar())
                    for name in ("jit", "statement_timeout")}
    finally:
        db.dispose()


def test_options_given_in_the_url_are_kept_and_an_administrator_can_turn_jit_back_on(
    postgres_server,
) -> None:
    base = postgres_server.url("postgres")
    assert SERVER_OPTIONS == "-c jit=off"
    assert _show(base + "?options=-c%20statement_timeout%3D4321") == {
        "jit": "off", "statement_timeout": "4321ms"}
    assert _show(base + "?options=-c%20jit%3Don") == {"jit": "on", "statement_timeout": "0"}


def test_pgoptions_from_the_environment_are_kept_and_the_url_still_wins(postgres_server, monkeypatch) -> None:
    """libpq ignores ``PGOPTIONS`` once ``options`` is given: the service passes it on."""
    base = postgres_server.url("postgres")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=9876")
    assert _show(base) == {"jit": "off", "statement_timeout": "9876ms"}
    assert _show(base + "?options=-c%20statement_timeout%3D4321") == {
        "jit": "off", "statement_timeout": "4321ms"}
