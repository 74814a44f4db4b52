"""Remove, from the mailboxes, the copies of e-mails whose stored version was erased or purged.

The domain queues them (:mod:`clauses.rgpd.mailbox_copies`) in the transaction that deleted the
raw message or withdrew the outgoing one; this adapter does the mailbox side:

* received messages (found by the SHA-256 of their bytes, which is what the intake stored): in
  the Maildir intake (`new`, `cur` and every `.Traités`/`.Erreurs`/`.Quarantaine` subfolder), or
  on IMAP in the watched folders and the three processed folders (searched by Message-ID, then
  checked by hash before deletion, so a different message with the same id is never touched);
* sent messages: the file the Maildir transport wrote, named after the Message-ID.

A copy that cannot be reached now (IMAP server down) stays queued and is retried next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from clauses.context import Context
from clauses.rgpd.mailbox_copies import PendingCopy, copies_removed, pending_copies
from mail.config import MailConfig

log = logging.getLogger(__name__)


def _maildir_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    folders = [root, *(p for p in root.iterdir() if p.is_dir() and p.name.startswith("."))]
    for folder in folders:
        for sub in ("new", "cur", "tmp"):
            directory = folder / sub
            if directory.is_dir():
                yield from (p for p in directory.iterdir() if p.is_file())


def _remove_from_maildir(root: Path, shas: set[str]) -> set[str]:
    """Delete the files of `root` whose content hash is in `shas`; return the hashes found."""
    found: set[str] = set()
    for path in _maildir_files(root):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            continue
        if digest in shas:
            path.unlink(missing_ok=True)
            found.add(digest)
    return found


def _remove_sent(root: Path, message_ids: list[str]) -> None:
    """Delete the sent-mail files named after these Message-IDs (see mail.transport)."""
    for message_id in message_ids:
        name = hashlib.sha256(message_id.encode()).hexdigest()[:40] + ".clausebot"
        for sub in ("new", "cur"):
            directory = root / sub
            if directory.is_dir():
                for path in directory.glob(name + "*"):
                    path.unlink(missing_ok=True)


def _remove_from_imap(cfg: MailConfig, copies: list[PendingCopy]) -> None:
    """Delete the received messages from every folder the intake reads or fills."""
    from mail.imap_intake import ImapIntake

    assert cfg.imap is not None
    client = ImapIntake(None, cfg.imap).connect()  # type: ignore[arg-type]  # connect needs no core
    try:
        imap = cfg.imap
        folders = list(dict.fromkeys([*imap.folders, imap.done_folder, imap.error_folder,
                                      imap.quarantine_folder]))
        for folder in folders:
            if not client.folder_exists(folder):
                continue
            client.select_folder(folder)
            doomed: list[int] = []
            for copy in copies:
                if copy.message_id:
                    uids = client.search(["HEADER", "Message-ID", copy.message_id])
                else:
                    uids = client.search(["ALL"])
                if not uids:
                    continue
                for uid, data in client.fetch(uids, ["BODY.PEEK[]"]).items():
                    raw = bytes(data.get(b"BODY[]", b"") or b"")
                    if hashlib.sha256(raw).hexdigest() == copy.sha256:
                        doomed.append(uid)
            if doomed:
                client.delete_messages(doomed)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(doomed)
                else:
                    client.expunge()
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def remove_mailbox_copies(ctx: Context, cfg: MailConfig) -> int:
    """Remove every queued copy; returns how many queue entries were completed."""
    with ctx.db.session() as session:
        pending = pending_copies(session)
    if not pending:
        return 0
    received = [c for c in pending if c.kind == "received" and c.sha256]
    sent = [c for c in pending if c.kind == "sent" and c.message_id]
    if cfg.maildir_in is not None:
        _remove_from_maildir(cfg.maildir_in, {c.sha256 for c in received if c.sha256})
    if cfg.maildir_out is not None:
        _remove_sent(cfg.maildir_out, [c.message_id for c in sent if c.message_id])
    if cfg.imap is not None and received:
        try:
            _remove_from_imap(cfg, received)
        except Exception:
            log.exception("mailbox copies: IMAP unreachable, kept for the next run")
            received = []
    done = [c.key for c in [*received, *sent]]
    with ctx.db.session() as session:
        copies_removed(session, done)
    return len(done)
