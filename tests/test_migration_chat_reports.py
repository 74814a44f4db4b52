"""Migration 0010: the chat bilans still waiting as outbox rows without a chat become requests
(and go back on downgrade): an upgrade during a national bilan's preparation loses nothing."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from storage import migrate
from storage.db import Database

SPEC = {"what": "annual", "donneur_id": 7, "start": "2025-01-01", "end": "2025-12-31"}


def _outbox_row(conn, key: str, *, to_chat_id: int | None, status: str, attachments: str) -> None:
    conn.execute(text(
        "INSERT INTO outbox (channel, dedup_key, to_chat_id, to_user_id, body_text, attachments,"
        " headers, status, attempts, next_attempt_at, created_at) VALUES ('chat', :key, :chat,"
        " NULL, 'x', :att, '{}', :status, 1, :due, :created)"),
        {"key": key, "chat": to_chat_id, "att": attachments, "status": status,
         "due": dt.datetime(2026, 12, 6, 7, 0), "created": dt.datetime(2026, 12, 6, 6, 59)})


def test_waiting_bilans_move_to_their_table_and_back(empty_db_url):
    db = Database(empty_db_url)
    attachments = json.dumps([{"render": SPEC, "chat_id": 4242}])
    try:
        migrate.upgrade(db, "0009")
        with db.engine.begin() as conn:
            _outbox_row(conn, "chat-bilan:4242:17", to_chat_id=None, status="pending",
                        attachments=attachments)
            _outbox_row(conn, "chat-bilan:4242:18", to_chat_id=None, status="dead",
                        attachments=attachments)  # told already: stays where it is
            _outbox_row(conn, "rappel:1", to_chat_id=99, status="pending", attachments="[]")
        migrate.upgrade(db, "0010")
        with db.engine.connect() as conn:
            moved = conn.execute(text(
                "SELECT dedup_key, chat_id, scope, status, attempts, outbox_id"
                " FROM chat_report_requests")).all()
            left = [r[0] for r in conn.execute(text("SELECT dedup_key FROM outbox ORDER BY id"))]
        assert len(moved) == 1
        key, chat, scope, status, attempts, outbox_id = moved[0]
        assert (key, chat, status, attempts, outbox_id) == ("chat-bilan:4242:17", 4242, "pending",
                                                            0, None)
        assert (scope if isinstance(scope, dict) else json.loads(scope)) == SPEC
        assert left == ["chat-bilan:4242:18", "rappel:1"]

        migrate.downgrade(db, "0009")
        with db.engine.connect() as conn:
            back = conn.execute(text(
                "SELECT dedup_key, to_chat_id, status FROM outbox WHERE dedup_key ="
                " 'chat-bilan:4242:17'")).all()
        assert back == [("chat-bilan:4242:17", None, "pending")]
    finally:
        db.dispose()
