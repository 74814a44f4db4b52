"""Maildir intake for the embedded default (no IMAP server): `<data>/mail/incoming`.

Any MTA or script can drop messages there (`new/` or `cur/`, written through `tmp/` as the
Maildir convention requires, so a half-written file is never seen). The same store-then-move
discipline as IMAP applies (by the same batches: one transaction for several messages): a
message is processed and committed, then renamed into the
Maildir++ subfolder `.Traités`, `.Erreurs` or `.Quarantaine` (an atomic rename on one file
system). A message whose key is already stored is only moved.

Key mapping onto `inbound_mail`: account "maildir:<path>", folder "INBOX", UIDVALIDITY 0 and,
as UID, the first 60 bits of the SHA-256 of the file's unique name (the part before ":2,"),
which is stable across restarts and flag changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from mail.intake import Incoming, IntakeCore, starts_new_batch
from mail.outcome import MailKey
from storage.models import MailStatus

log = logging.getLogger(__name__)

FOLDERS = {MailStatus.TRAITE: ".Traités", MailStatus.ERREUR: ".Erreurs",
           MailStatus.QUARANTAINE: ".Quarantaine"}
HEADER_READ_LIMIT = 256 * 1024


def ensure_maildir(path: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)


def unique_name(filename: str) -> str:
    return filename.split(":2,", 1)[0].split("!2,", 1)[0]


def uid_for(filename: str) -> int:
    return int(hashlib.sha256(unique_name(filename).encode()).hexdigest()[:15], 16)


def _read_header(path: Path) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(HEADER_READ_LIMIT)
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in head:
            return head.split(sep, 1)[0] + sep
    return head


class MaildirIntake:
    def __init__(self, core: IntakeCore, root: Path, *, poll_seconds: float = 5.0) -> None:
        self.core = core
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.account = f"maildir:{self.root.resolve()}"[-254:]

    def ensure(self) -> None:
        ensure_maildir(self.root)
        for folder in FOLDERS.values():
            ensure_maildir(self.root / folder)

    def pending(self) -> list[Path]:
        files: list[Path] = []
        for sub in ("new", "cur"):
            directory = self.root / sub
            if directory.is_dir():
                files += [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def run_once(self) -> dict[str, int]:
        """Process every waiting message once; return counts by status.

        New messages are read and processed by batches of :data:`mail.intake.INGEST_BATCH` in one
        transaction each (:meth:`mail.intake.IntakeCore.ingest_many`), then renamed, and their
        moves recorded in one transaction per batch."""
        self.ensure()
        self.core.sync_state(self.account, "INBOX", 0)  # records the poll for `clausebot status`
        files = self.pending()
        keys = {p: MailKey(self.account, "INBOX", 0, uid_for(p.name)) for p in files}
        known = self.core.known(keys.values())
        counts: dict[str, int] = {}
        batch: list[tuple[Path, Incoming]] = []
        batch_bytes = 0
        recovered: list[MailKey] = []  # stored before a crash, moved now: recorded at once
        for path in files:
            key = keys[path]
            status = known.get(key)
            if status is not None:
                if self.move(path, key, status):
                    recovered.append(key)
                continue
            try:
                size = path.stat().st_size
                if size > self.core.cfg.max_message_bytes:
                    item = Incoming(key, _read_header(path), headers_only=True, size=size)
                else:
                    item = Incoming(key, path.read_bytes(), size=size)
            except FileNotFoundError:  # taken by another reader
                continue
            if starts_new_batch(len(batch), batch_bytes, len(item.raw)):
                self._ingest_batch(batch, counts)
                batch, batch_bytes = [], 0
            batch.append((path, item))
            batch_bytes += len(item.raw)
        if batch:
            self._ingest_batch(batch, counts)
        if recovered:
            self.core.mark_moved_many(recovered)
        return counts

    def _ingest_batch(self, batch: list[tuple[Path, Incoming]], counts: dict[str, int]) -> None:
        """One transaction for the batch, then each file renamed into its folder."""
        statuses = self.core.ingest_many([item for _, item in batch], track_state=False)
        moved: list[MailKey] = []
        for (path, item), status in zip(batch, statuses, strict=True):
            counts[status.value] = counts.get(status.value, 0) + 1
            if self.move(path, item.key, status):
                moved.append(item.key)
        self.core.mark_moved_many(moved)

    def move(self, path: Path, key: MailKey, status: MailStatus) -> bool:
        """Rename into the status subfolder (after the commit), marking the message seen; False
        when another reader took it. Recording the move is the caller's (one transaction a
        batch)."""
        target_dir = self.root / FOLDERS[status] / "cur"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{unique_name(path.name)}:2,S"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return False
        return True

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; one failing pass is logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("maildir intake pass failed")
            stop.wait(self.poll_seconds)
