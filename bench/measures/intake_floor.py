"""The floor of an exactly-once e-mail intake: fetch, commit one row, MOVE (issue 20).

Why a module of its own: it is the baseline the intake's ms per e-mail is judged against, and
the same discipline as the product's (:mod:`mail.imap_intake`) with nothing else in it: each
message fetched with BODY.PEEK[], stored as one row (its raw bytes) in its own committed
transaction, and only then moved, in the product's batches of
:data:`mail.imap_intake.MOVE_BATCH` (one UID MOVE per batch). It writes to a scratch table of the
same database copy, so its commits cost what the product's cost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from mail.imap_intake import MOVE_BATCH

TABLE = "bench_intake_floor"
DONE = "Traités"


def prepare_floor(db: Any, account: Any) -> None:
    """Untimed: the scratch table and the destination folder."""
    blob = "BYTEA" if db.dialect == "postgresql" else "BLOB"
    key = "BIGSERIAL PRIMARY KEY" if db.dialect == "postgresql" else "INTEGER PRIMARY KEY"
    with db.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id {key}, account VARCHAR(200) "
                          f"NOT NULL, uid INTEGER NOT NULL, raw {blob} NOT NULL, "
                          "UNIQUE (account, uid))"))
    with account.client() as client:
        if not client.folder_exists(DONE):
            client.create_folder(DONE)


def floor_intake(db: Any, account: Any) -> int:
    """Fetch, commit and move every message of the account's INBOX; return how many."""
    insert = text(f"INSERT INTO {TABLE} (account, uid, raw) VALUES (:account, :uid, :raw)")
    client = account.client()
    try:
        client.select_folder("INBOX")
        uids = sorted(int(u) for u in client.search(["UNDELETED"]))
        pending: list[int] = []
        done = 0
        for uid in uids:
            raw = bytes(client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"])
            with db.engine.begin() as conn:
                conn.execute(insert, {"account": account.user, "uid": uid, "raw": raw})
            pending.append(uid)
            if len(pending) >= MOVE_BATCH:
                client.move(pending, DONE)
                done += len(pending)
                pending = []
        if pending:
            client.move(pending, DONE)
            done += len(pending)
        return done
    finally:
        client.logout()
