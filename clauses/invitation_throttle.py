"""Wrong invitation codes: after a few, a chat account must wait before trying again.

Codes are 12 characters from a 31-letter alphabet, so guessing one is hopeless; the throttle
is there so that nobody can *try*, and so that a facilitator reading the logs sees a burst of
failures as one blocked account rather than thousands of refusals. While blocked, every code is
refused with the same message, a good one included: otherwise the block would leak which guess
was right.

The failures of one account are kept in one small `key_values` row (timestamps within the
window), updated in the turn's transaction; rows older than the window are dropped by the
retention purge (:func:`stale_rows`), since a chat user id is personal data too.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, delete
from sqlalchemy.orm import Session

from clauses.clock import Clock
from storage.models import KeyValue

MAX_FAILURES = 5
WINDOW = dt.timedelta(hours=1)
_PREFIX = "invitation_failures:"

BLOCKED_FR = (
    "Trop de codes d'invitation erronés depuis ce compte. Réessayez dans une heure, ou "
    "demandez une nouvelle invitation à votre facilitateur·rice clauses sociales."
)


def _key(chat_user_id: int) -> str:
    return f"{_PREFIX}{chat_user_id}"


def _recent(row: KeyValue | None, now: dt.datetime) -> list[dt.datetime]:
    if row is None or not row.value:
        return []
    try:
        stamps = [dt.datetime.fromisoformat(s) for s in json.loads(row.value)]
        # only well-formed stamps of the last hour count: a damaged row (naive or future
        # times, not a list) must not lock anyone out
        return [s for s in stamps if s.tzinfo is not None and dt.timedelta(0) <= now - s < WINDOW]
    except (ValueError, TypeError):
        return []


def is_blocked(session: Session, clock: Clock, chat_user_id: int) -> bool:
    """True while this account has had MAX_FAILURES refusals within the last WINDOW."""
    return len(_recent(session.get(KeyValue, _key(chat_user_id)), clock.now())) >= MAX_FAILURES


def record_failure(session: Session, clock: Clock, chat_user_id: int) -> int:
    """Count one refused code; returns the failures within the window, this one included."""
    now = clock.now()
    row = session.get(KeyValue, _key(chat_user_id))
    stamps = [*_recent(row, now), now][-MAX_FAILURES:]
    value = json.dumps([s.isoformat() for s in stamps])
    if row is None:
        session.add(KeyValue(key=_key(chat_user_id), value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    session.flush()
    return len(stamps)


def clear(session: Session, chat_user_id: int) -> None:
    """A successful link forgets the earlier typos."""
    session.execute(delete(KeyValue).where(KeyValue.key == _key(chat_user_id)))


def stale_rows(now: dt.datetime) -> ColumnElement[bool]:
    """The throttle rows that no longer block anyone: the retention purge deletes them."""
    return KeyValue.key.like(f"{_PREFIX}%") & (KeyValue.updated_at < now - WINDOW)
