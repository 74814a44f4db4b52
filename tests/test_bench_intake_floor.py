"""The intake benchmark's floor (issue 20): every message fetched, committed once, then moved.

Correctness only, as for the other bench smoke tests: the floor is the baseline the intake's
ms per e-mail is judged against, so it must do what it claims (store first, then move, in the
product's batches), on both backends.
"""

from __future__ import annotations

from sqlalchemy import text

from bench.measures.intake import fill_mailbox
from bench.measures.intake_floor import TABLE, floor_intake, prepare_floor
from mail.imap_intake import MOVE_BATCH
from mail.intake import INGEST_BATCH
from tests.mail.conftest import make_mail


def test_the_floor_stores_each_message_once_then_moves_it(db, imap_account) -> None:
    count = MOVE_BATCH + 3  # a full batch, then the rest at the end
    messages = [make_mail("chef@btp-rhone.test", f"Question {i}", f"Question numéro {i}.")
                for i in range(count)]
    fill_mailbox(imap_account, messages)
    prepare_floor(db, imap_account)
    assert floor_intake(db, imap_account) == count
    assert imap_account.folder_uids("INBOX") == []
    assert len(imap_account.folder_uids("Traités")) == count
    with db.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT uid, raw FROM {TABLE} ORDER BY uid")).all()
    assert len(rows) == count and len({uid for uid, _ in rows}) == count
    assert b"Question 0" in bytes(rows[0][1])
    assert floor_intake(db, imap_account) == 0  # an empty INBOX: nothing stored, nothing moved


def test_the_batched_floor_commits_by_batches_and_moves_every_message(db, imap_account) -> None:
    """The floor of the batched product: a FETCH and a transaction per INGEST_BATCH messages,
    the last batch short; every message stored once and moved."""
    count = 2 * INGEST_BATCH + 3
    messages = [make_mail("chef@btp-rhone.test", f"Question {i}", f"Question numéro {i}.")
                for i in range(count)]
    fill_mailbox(imap_account, messages)
    prepare_floor(db, imap_account)
    assert floor_intake(db, imap_account, batch=INGEST_BATCH) == count
    assert imap_account.folder_uids("INBOX") == []
    assert len(imap_account.folder_uids("Traités")) == count
    with db.engine.connect() as conn:
        uids = [uid for (uid,) in conn.execute(text(f"SELECT uid FROM {TABLE} WHERE account = :a "
                                                    "ORDER BY uid"), {"a": imap_account.user})]
    assert len(uids) == count and len(set(uids)) == count
