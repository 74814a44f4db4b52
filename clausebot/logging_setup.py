"""Logging for the service: plain text or one JSON object per line, secrets always masked.

Secrets reach log lines in ways nobody writes on purpose: httpx logs the Telegram URL, which
contains the bot token (`https://api.telegram.org/bot123:AA.../getUpdates`); a database or IMAP
error quotes its connection URL with the password; an exception message repeats a setting. So
the masking is done once, on every handler, for the formatted message *and* the traceback,
instead of trusting every caller.

Three kinds of secrets are masked:

* Telegram bot tokens, recognised by their shape (`<digits>:<30+ url-safe chars>`);
* passwords in URLs (`scheme://user:password@host`) and `password=...`-style pairs;
* the literal values of the secret settings (`SECRET_FIELDS`), whatever their shape.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

MASK = "***"

TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
URL_PASSWORD_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?=@)")
KEY_VALUE_RE = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<value>[^\s\"',;&]+)"
)
_MIN_LITERAL = 4
"""Shorter secret values are not masked literally: masking "abc" everywhere would garble logs
(and such a secret is the bigger problem; `clausebot config check` should flag it)."""

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
}


class Redactor:
    """Masks secrets in a string; the same instance serves the filter and error messages."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self.literals: list[str] = []
        self.add(literals)

    def add(self, literals: Iterable[str]) -> None:
        for value in literals:
            if value and len(value) >= _MIN_LITERAL and value not in self.literals:
                self.literals.append(value)
        self.literals.sort(key=len, reverse=True)  # longest first: a prefix must not win

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in self.literals:
            text = text.replace(value, MASK)
        text = TOKEN_RE.sub(MASK, text)
        text = URL_PASSWORD_RE.sub(lambda m: m.group("head") + MASK, text)
        text = KEY_VALUE_RE.sub(lambda m: m.group("head") + MASK, text)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites each record with its message and traceback already formatted and masked.

    Attach it to handlers, not loggers: a logger's filters do not see records propagated from
    its children (httpx, telegram, sqlalchemy...).
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redactor(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO), level, logger, message, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def secret_values(settings: Any) -> list[str]:
    """The current values of the secret settings (pydantic SecretStr or plain strings)."""
    from clausebot.settings import SECRET_FIELDS

    values: list[str] = []
    for name in SECRET_FIELDS:
        value = getattr(settings, name, None)
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        if raw:
            values.append(raw)
    url = getattr(settings, "database_url", None)
    if url:
        from sqlalchemy.engine import make_url

        try:
            password = make_url(url).password
        except Exception:  # an unparsable URL is reported elsewhere; nothing to add here
            password = None
        if password:
            values.append(str(password))
    return values


def configure_logging(
    *,
    level: str | int = "INFO",
    json_output: bool = False,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> Redactor:
    """Replace the root handlers with one masked handler; return the redactor for reuse.

    Idempotent: calling it again (tests, `run` after a CLI command) replaces the handler instead
    of adding a second one.
    """
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_output else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(redactor))
    handler.set_name("clausebot")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "clausebot":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # httpx logs every request URL at INFO, token included; keep it quieter, masked anyway.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor


def configure_from_settings(settings: Any, *, stream: IO[str] | None = None) -> Redactor:
    """`configure_logging` with `log_level`, `log_json` and the secret values of `settings`."""
    return configure_logging(
        level=getattr(settings, "log_level", "INFO"),
        json_output=bool(getattr(settings, "log_json", False)),
        secrets=secret_values(settings),
        stream=stream,
    )


def quiet_for_console(log_file: Any) -> None:
    """In the interactive console, the terminal is the conversation: only warnings there, the
    full journal in ``log_file`` (why: the scheduler's lines every 30 s buried the invitation
    codes and the bot's answers). Same masking as the terminal handler."""
    from pathlib import Path

    root = logging.getLogger()
    terminal = next((h for h in root.handlers if h.get_name() == "clausebot"), None)
    if terminal is None:
        return
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = logging.FileHandler(path, encoding="utf-8")
    journal.setFormatter(terminal.formatter or logging.Formatter(TEXT_FORMAT))
    for flt in terminal.filters:
        journal.addFilter(flt)
    journal.set_name("clausebot-journal")
    for old in [h for h in root.handlers if h.get_name() == "clausebot-journal"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(journal)
    terminal.setLevel(logging.WARNING)
