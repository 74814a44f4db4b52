"""Copies of e-mails outside the database: the mailbox folders and the sent-mail Maildir.

The intake moves each received message to `Traités`/`Erreurs`/`Quarantaine` (IMAP or Maildir),
and the Maildir transport keeps every sent message. When the stored raw message is deleted
(erasure, retention) or an outgoing message is withdrawn, those copies must go too. The domain
cannot reach a mailbox (that is the mail adapter's job), so it records, in the same transaction,
*which* copies to remove: the SHA-256 of the raw message (and its Message-ID, to find it fast
on IMAP) or the Message-ID of the sent message. No name, no address: only hashes and ids.
The mail adapter (:mod:`mail.mailbox_purge`) removes them and marks them done; a copy it cannot
reach yet (server down) stays queued and is retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clauses.idempotent import insert_once
from storage.models import KeyValue

_PREFIX = "mailbox_copy:"


@dataclass(frozen=True)
class PendingCopy:
    key: str
    kind: str  # "received" (raw message by hash) or "sent" (outgoing message by Message-ID)
    sha256: str | None
    message_id: str | None


def queue_received_copy(session: Session, sha256: str, message_id: str | None) -> None:
    """Remember to remove the mailbox copies of a received message (found by content hash)."""
    key = f"{_PREFIX}received:{sha256}"
    insert_once(session, KeyValue(key=key, value=json.dumps({"message_id": message_id})),
                KeyValue.key, key)


def queue_sent_copy(session: Session, message_id: str) -> None:
    """Remember to remove the sent-mail copy of an outgoing message (by its Message-ID)."""
    key = f"{_PREFIX}sent:{hashlib.sha256(message_id.encode()).hexdigest()}"
    insert_once(session, KeyValue(key=key, value=json.dumps({"message_id": message_id})),
                KeyValue.key, key)


def pending_copies(session: Session) -> list[PendingCopy]:
    """The copies still to remove, oldest first."""
    out = []
    for key, value in session.execute(
            select(KeyValue.key, KeyValue.value).where(KeyValue.key.startswith(_PREFIX))
            .order_by(KeyValue.updated_at, KeyValue.key)):
        kind, _, ident = key[len(_PREFIX):].partition(":")
        try:
            message_id = json.loads(value or "{}").get("message_id")
        except ValueError:
            message_id = None
        out.append(PendingCopy(key=key, kind=kind, sha256=ident if kind == "received" else None,
                               message_id=message_id))
    return out


def copies_removed(session: Session, keys: list[str]) -> None:
    """These copies are gone from every mailbox: forget them."""
    if keys:
        session.execute(delete(KeyValue).where(KeyValue.key.in_(keys)),
                        execution_options={"synchronize_session": False})
