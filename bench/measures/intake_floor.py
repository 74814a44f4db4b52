"""The floor of an exactly-once e-mail intake: fetch, commit one row, MOVE (issue 20).

Why a module of its own: it is the baseline the intake's ms per e-mail is judged against, and
the same discipline as the product's (:mod:`mail.imap_intake`) with nothing else in it: each
message fetched with BODY.PEEK[], stored as one row (its raw bytes) in its own committed
transaction, and only then moved, in the product's batches of
:data:`mail.imap_intake.MOVE_BATCH` (one UID MOVE per batch). It writes to a scratch table of the
same database copy, so its commits cost what the product's cost.

``batch``: the product fetches and commits new messages by :data:`mail.intake.INGEST_BATCH`
(one FETCH, one transaction for the batch); the floor with the same ``batch`` keeps the same
discipline with nothing else in it, the honest floor of that product. ``batch=1`` is the
earlier floor (one FETCH and one transaction a message), kept to compare with past rows.
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


def floor_intake(db: Any, account: Any, batch: int = 1) -> int:
    """Fetch, commit and move every message of the account's INBOX; return how many.
    ``batch`` messages go in one FETCH and one transaction (see the module docstring)."""
    insert = text(f"INSERT INTO {TABLE} (account, uid, raw) VALUES (:account, :uid, :raw)")
    client = account.client()
    try:
        client.select_folder("INBOX")
        uids = sorted(int(u) for u in client.search(["UNDELETED"]))
        pending: list[int] = []
        done = 0
        for start in range(0, len(uids), batch):
            group = uids[start:start + batch]
            fetched = client.fetch(group, ["BODY.PEEK[]"])
            with db.engine.begin() as conn:
                for uid in group:
                    conn.execute(insert, {"account": account.user, "uid": uid,
                                          "raw": bytes(fetched[uid][b"BODY[]"])})
            pending += group
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
