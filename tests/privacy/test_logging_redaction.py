"""Secrets never reach the logs: bot tokens, passwords in URLs, secret settings' values."""

from __future__ import annotations

import io
import json
import logging

import pytest

from clausebot.logging_setup import (
    MASK,
    Redactor,
    configure_from_settings,
    configure_logging,
)
from clausebot.settings import Settings

TOKEN = "7213456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
DB_PASSWORD = "Pg-s3cret!Pass"
IMAP_PASSWORD = "imap pass with spaces #42"
SMTP_PASSWORD = "tr0ub4dor&3"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_level = logging.getLogger("httpx").level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)


def _emit_everything(log: logging.Logger) -> None:
    log.info("GET https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.warning("db down: postgresql+psycopg://clausebot:%s@db.internal:5432/clausebot", DB_PASSWORD)
    log.info("imap login failed for %s", IMAP_PASSWORD)
    log.info("conninfo host=db password=%s sslmode=require", DB_PASSWORD)
    log.info("context", extra={"smtp_url": f"smtp://clauses:{SMTP_PASSWORD}@mail.test:587"})
    try:
        raise ConnectionError(f"cannot reach smtp://clauses:{SMTP_PASSWORD}@mail.test (token {TOKEN})")
    except ConnectionError:
        log.exception("send failed")
    logging.getLogger("httpx").warning("HTTP Request: POST https://api.telegram.org/bot%s/sendMessage",
                                       TOKEN)


def _assert_clean(output: str) -> None:
    for secret in (TOKEN, TOKEN.split(":")[1], DB_PASSWORD, IMAP_PASSWORD, SMTP_PASSWORD):
        assert secret not in output
    assert output.count(MASK) >= 7


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_no_secret_in_any_log_line(restore_logging, json_output):
    stream = io.StringIO()
    configure_logging(level="INFO", json_output=json_output, stream=stream,
                      secrets=[IMAP_PASSWORD, SMTP_PASSWORD])
    _emit_everything(logging.getLogger("clausebot.test"))
    output = stream.getvalue()
    _assert_clean(output)
    assert "send failed" in output and "ConnectionError" in output  # the traceback is kept
    assert "api.telegram.org/bot***" in output
    assert "postgresql+psycopg://clausebot:***@db.internal" in output
    if json_output:
        records = [json.loads(line) for line in output.splitlines()]
        assert len(records) == 7
        assert {r["level"] for r in records} == {"INFO", "WARNING", "ERROR"}
        assert records[4]["smtp_url"] == "smtp://clauses:***@mail.test:587"
        assert "exception" in records[5]


def test_secret_values_come_from_the_settings(restore_logging):
    settings = Settings(telegram_token=TOKEN, imap_password=IMAP_PASSWORD,
                        smtp_password=SMTP_PASSWORD,
                        database_url=f"postgresql+psycopg://u:{DB_PASSWORD}@h/db",
                        log_json=True)
    stream = io.StringIO()
    configure_from_settings(settings, stream=stream)
    _emit_everything(logging.getLogger("clausebot.test"))
    logging.getLogger("clausebot.test").error("settings dump: %r", settings.model_dump())
    _assert_clean(stream.getvalue())
    assert json.loads(stream.getvalue().splitlines()[0])["logger"] == "clausebot.test"


def test_configuring_twice_does_not_duplicate_lines(restore_logging):
    stream = io.StringIO()
    configure_logging(stream=stream)
    configure_logging(stream=stream)
    logging.getLogger("clausebot.test").warning("once")
    assert stream.getvalue().count("once") == 1


def test_redactor_on_its_own():
    r = Redactor(["abc", "long-secret-value"])  # "abc" is too short to mask literally
    assert r("x long-secret-value y") == f"x {MASK} y"
    assert r("abc") == "abc"
    assert r(f"bot{TOKEN}/getMe") == f"bot{MASK}/getMe"
    assert r("https://user:p%40ss@host/x") == f"https://user:{MASK}@host/x"
    assert r("https://host/path:with@at") == "https://host/path:with@at"
    assert r('{"password": "hunter22"}') == '{"password": "' + MASK + '"}'
    assert r("12:34 le 05/06") == "12:34 le 05/06"  # times are not tokens
