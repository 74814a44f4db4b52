"""IMAP intake: one blocking imapclient connection, owned by one thread, never shared.

For each configured folder: select it, compare UIDVALIDITY with `mailbox_states` (a change
means every UID is new: rescan, and duplicates are caught by Message-ID), list the UIDs present,
and for each one not yet stored: read RFC822.SIZE, fetch with BODY.PEEK[] (so the \\Seen flag is
left alone) or only the header when the message is too large, hand it to
:class:`mail.intake.IntakeCore` (which commits), and only then MOVE it to `Traités`, `Erreurs` or
`Quarantaine`. New messages go by batches of :data:`mail.intake.INGEST_BATCH`: one FETCH, one
transaction (a failing batch is redone one message per transaction). A UID already stored is
only moved (a crash happened between commit and MOVE).

The MOVEs are batched: committed messages wait in a list, one UID MOVE per destination folder
moves them every :data:`MOVE_BATCH` messages and at the end of the folder (a MOVE costs the
server a write of the mailbox index, about a fifth of a message's processing when done one by
one). Store first, then move still holds: only committed messages are ever in the list, and a
crash before their MOVE leaves them in the folder, known, to be only moved at the next scan.

Between scans the connection IDLEs on the first folder when the server offers IDLE, renewed
every `idle_seconds` (RFC 2177 asks clients to re-issue IDLE at least every 29 minutes), and
otherwise polls every `poll_seconds`. Any connection error closes the client and reconnects
with exponential backoff; the loop only ends when the stop event is set.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mail.config import ImapConfig
from mail.intake import Incoming, IntakeCore, starts_new_batch
from mail.outcome import MailKey
from storage.models import MailStatus, ServiceEvent

log = logging.getLogger(__name__)

MOVE_BATCH = 100
"""Committed messages moved together: one UID MOVE per destination for up to this many."""


@dataclass
class ScanStats:
    processed: int = 0
    moved: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class ImapIntake:
    """Run :meth:`run` in a dedicated thread (see :mod:`mail.service`), or :meth:`run_once`."""

    def __init__(self, core: IntakeCore, cfg: ImapConfig) -> None:
        self.core = core
        self.cfg = cfg
        self._client_thread: int | None = None

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> IMAPClient:
        context = ssl.create_default_context() if (self.cfg.ssl or self.cfg.starttls) else None
        client = IMAPClient(self.cfg.host, port=self.cfg.port, ssl=self.cfg.ssl, ssl_context=context,
                            timeout=self.cfg.timeout)
        try:
            if self.cfg.starttls and not self.cfg.ssl:
                client.starttls(context)
            client.login(self.cfg.username, self.cfg.password)
            self._ensure_folders(client)
        except Exception:
            _close(client)
            raise
        self._client_thread = threading.get_ident()
        return client

    def _ensure_folders(self, client: IMAPClient) -> None:
        for folder in (self.cfg.done_folder, self.cfg.error_folder, self.cfg.quarantine_folder):
            if not client.folder_exists(folder):
                client.create_folder(folder)
                with contextlib.suppress(IMAPClientError):
                    client.subscribe_folder(folder)

    def _check_thread(self) -> None:
        # imaplib connections are not thread-safe: catch a misuse at once, not as a corrupt dialogue.
        if self._client_thread is not None and self._client_thread != threading.get_ident():
            raise RuntimeError("an IMAP connection must only be used by the thread that opened it")

    # -- scanning --------------------------------------------------------------------------------
    def scan(self, client: IMAPClient) -> ScanStats:
        stats = ScanStats()
        for folder in self.cfg.folders:
            self.scan_folder(client, folder, stats)
        return stats

    def scan_folder(self, client: IMAPClient, folder: str, stats: ScanStats | None = None) -> ScanStats:
        self._check_thread()
        stats = stats or ScanStats()
        info = client.select_folder(folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        self.core.sync_state(self.cfg.account, folder, uidvalidity)
        uids = sorted(int(u) for u in client.search(["UNDELETED"]))
        if not uids:
            return stats
        keys = {uid: MailKey(self.cfg.account, folder, uidvalidity, uid) for uid in uids}
        known = self.core.known(keys.values())
        todo = [uid for uid in uids if keys[uid] not in known]
        sizes: dict[int, int] = {}
        if todo:
            for uid, data in client.fetch(todo, ["RFC822.SIZE"]).items():
                sizes[int(uid)] = int(data.get(b"RFC822.SIZE", 0))
        pending: list[tuple[MailKey, MailStatus]] = []
        moved: list[MailKey] = []
        batch: list[tuple[MailKey, int]] = []
        batch_bytes = 0
        try:
            for uid in uids:
                key = keys[uid]
                status = known.get(key)
                if status is not None:
                    pending.append((key, status))
                elif uid in sizes:  # else vanished meanwhile (another client moved it)
                    size = sizes[uid]
                    held = min(size, self.core.cfg.max_message_bytes)  # headers only above
                    if starts_new_batch(len(batch), batch_bytes, held):
                        pending += self._ingest_batch(client, batch, stats)
                        batch, batch_bytes = [], 0
                    batch.append((key, size))
                    batch_bytes += held
                if len(pending) >= MOVE_BATCH:
                    stats.moved += self._move_pending(client, pending, moved)
            if batch:
                pending += self._ingest_batch(client, batch, stats)
            stats.moved += self._move_pending(client, pending, moved)
        finally:  # record the moves done, even when the connection broke half-way
            try:
                self.core.mark_moved_many(moved)
            except Exception:  # bookkeeping only: never hide the error that ended the scan
                log.exception("could not record %d moved messages", len(moved))
        return stats

    def _move_pending(self, client: IMAPClient, pending: list[tuple[MailKey, MailStatus]],
                      moved: list[MailKey]) -> int:
        """MOVE the committed messages of ``pending`` (one command per status), empty it."""
        by_status: dict[MailStatus, list[MailKey]] = {}
        for key, status in pending:
            by_status.setdefault(status, []).append(key)
        done = 0
        for status, group in by_status.items():
            self.move(client, group, status)
            moved.extend(group)
            done += len(group)
        pending.clear()
        return done

    def _ingest_batch(self, client: IMAPClient, batch: Sequence[tuple[MailKey, int]],
                      stats: ScanStats) -> list[tuple[MailKey, MailStatus]]:
        """Fetch a batch of new messages in one FETCH (the header only of those over the size
        limit), process them in one transaction (:meth:`IntakeCore.ingest_many`); return the
        committed ones with their destination. A message gone meanwhile is skipped."""
        limit = self.core.cfg.max_message_bytes
        whole = [key.uid for key, size in batch if size <= limit]
        heads = [key.uid for key, size in batch if size > limit]
        fetched: dict[int, bytes] = {}
        if whole:
            for uid, data in client.fetch(whole, ["BODY.PEEK[]"]).items():
                if data.get(b"BODY[]") is not None:
                    fetched[int(uid)] = bytes(data[b"BODY[]"])
        if heads:
            for uid, data in client.fetch(heads, ["BODY.PEEK[HEADER]"]).items():
                if data.get(b"BODY[HEADER]") is not None:
                    fetched[int(uid)] = bytes(data[b"BODY[HEADER]"])
        items = [Incoming(key, fetched[key.uid], headers_only=size > limit, size=size)
                 for key, size in batch if key.uid in fetched]
        statuses = self.core.ingest_many(items)
        for status in statuses:
            stats.processed += 1
            stats.by_status[status.value] = stats.by_status.get(status.value, 0) + 1
        return [(item.key, status) for item, status in zip(items, statuses, strict=True)]

    def destination(self, status: MailStatus) -> str:
        return self.core.folder_for(status, self.cfg.done_folder, self.cfg.error_folder,
                                    self.cfg.quarantine_folder)

    def move(self, client: IMAPClient, keys: Sequence[MailKey], status: MailStatus) -> None:
        """MOVE (RFC 6851), or COPY + \\Deleted + UID EXPUNGE, of committed messages of one
        folder to the folder for ``status``: one command for all of them.

        Recording the moves (``moved_at``) is the caller's: a scan records its moves in one
        transaction (see :meth:`scan_folder`).
        """
        self._check_thread()
        uids = [key.uid for key in keys]
        if not uids:
            return
        target = self.destination(status)
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    # -- loops ---------------------------------------------------------------------------------------
    def run_once(self) -> ScanStats:
        """Connect, scan every folder once, log out (CLI `clausebot mail relever`, tests)."""
        client = self.connect()
        try:
            return self.scan(client)
        finally:
            _close(client)
            self._client_thread = None

    def run(self, stop: threading.Event) -> None:
        """Scan, then IDLE or poll, until `stop` is set; reconnect with backoff on errors."""
        first_delay = min(1.0, self.cfg.reconnect_max_seconds)
        backoff = first_delay
        while not stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self.connect()
                backoff = first_delay
                while not stop.is_set():
                    self.scan(client)
                    self.wait_for_mail(client, stop)
            except (TimeoutError, OSError, IMAPClientError, ssl.SSLError) as exc:
                log.warning("IMAP connection problem (%s); reconnecting in %.0fs", exc, backoff)
                self._event("WARNING", f"IMAP : {exc.__class__.__name__} ; reconnexion dans {backoff:.0f} s")
            except Exception as exc:  # the database or a bug: never let the thread die
                log.exception("IMAP intake error; retrying in %.0fs", backoff)
                self._event("ERROR", f"Relève IMAP : {exc.__class__.__name__}: {str(exc)[:200]}")
            finally:
                if client is not None:
                    _close(client)
                self._client_thread = None
            if stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.cfg.reconnect_max_seconds)

    def wait_for_mail(self, client: IMAPClient, stop: threading.Event) -> None:
        """Return when new mail may be there, the IDLE needs renewing, or `stop` is set."""
        folder = self.cfg.folders[0]
        if not client.has_capability("IDLE"):
            stop.wait(self.cfg.poll_seconds)
            if not stop.is_set():
                client.noop()
            return
        client.select_folder(folder)
        limit = self.cfg.idle_seconds if len(self.cfg.folders) == 1 else min(self.cfg.idle_seconds,
                                                                              self.cfg.poll_seconds)
        started = time.monotonic()
        client.idle()
        try:
            while not stop.is_set() and time.monotonic() - started < limit:
                responses = client.idle_check(timeout=1.0)
                if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    break
        finally:
            client.idle_done()

    def _event(self, level: str, message: str) -> None:
        try:
            with self.core.ctx.db.session() as s:
                s.add(ServiceEvent(component="mail", level=level, message=message[:1000]))
        except Exception:
            log.exception("could not record service event")


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()
