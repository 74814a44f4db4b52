"""Content-addressed document store on the local disk.

Files are named by their SHA-256 under `<data_dir>/documents/ab/cdef...`, outside any served
path. The sender's file name never reaches the file system: it can carry `../`, control
characters or a misleading extension. Type is decided from the content's magic bytes, not from
the name or the declared MIME type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from storage.db import READ_ONLY
from storage.models import Document, utcnow
from storage.models.base import table_of

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_DOCUMENTS = table_of(Document)
_INSERT_DOCUMENT = insert(_DOCUMENTS).returning(_DOCUMENTS.c.id)
"""Built once: the e-mail intake stores one to three files a message, and the ORM's flush of
a one-row unit of work cost several times this INSERT (statement built, cache-keyed, flushed)."""

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"PK\x03\x04", "application/zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
]

_NO_MAGIC = frozenset({"message/rfc822", "text/csv"})
_OOXML = frozenset({
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
})

ALLOWED_BY_KIND: dict[str, frozenset[str]] = {
    "cv": frozenset({"application/pdf", "image/png", "image/jpeg", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}),
    "proof": frozenset({"application/pdf", "image/png", "image/jpeg"}),
    "spreadsheet": frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv"}),
    "raw_email": frozenset({"message/rfc822"}),
    "report": frozenset({"application/pdf"}),
}


class DocumentRejected(ValueError):
    """The file cannot be stored; `message_fr` tells the sender what to do."""

    def __init__(self, message_fr: str) -> None:
        super().__init__(message_fr)
        self.message_fr = message_fr


def sniff_mime(data: bytes) -> str:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            if mime == "application/zip":
                head = data[:4000]
                if b"word/" in head:
                    return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                if b"xl/" in head or b"[Content_Types].xml" in head:
                    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return mime
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def clean_display_name(name: str | None, *, limit: int = 80) -> str | None:
    """A harmless label to show a human; never used as a path."""
    if not name:
        return None
    name = unicodedata.normalize("NFKC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    name = re.sub(r"[^\w.\- ()]", "_", name).strip(" .")
    return name[:limit] or None


@dataclass(frozen=True)
class StoredFile:
    document: Document
    created: bool


_SYNCS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="document-fsync")
"""Where deferred fsyncs run (:meth:`DocumentStore.store` with ``sync_before_commit``): the
call releases the GIL, so the caller's parsing and SQL go on while the disk works."""

_PENDING = "clausebot_pending_document_syncs"
"""``session.info`` key of the files a session must see durable before it commits."""


def _finish(fd: int, tmp: str, target: Path) -> None:
    """fsync, then the atomic rename: a file under its final name is always complete and
    durable (``_write``'s ``target.exists()`` shortcut relies on it)."""
    try:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _wait_for_files(session: Session) -> None:
    """Before the commit: every file a row of this transaction names is fsynced and renamed;
    an error here fails the commit, so no row is committed without its file. A savepoint's
    release fires the same event: there the files go on syncing (the rows are not committed)."""
    if session.in_nested_transaction():
        return
    pending: list[Future[None]] = session.info.get(_PENDING) or []
    try:
        for future in pending:
            future.result()
    finally:
        pending.clear()


def _defer(session: Session, future: Future[None]) -> None:
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "before_commit", _wait_for_files)
    pending.append(future)


class DocumentStore:
    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:]

    def _write(self, data: bytes, sha: str, session: Session | None = None) -> None:
        """Write the file; with ``session``, its fsync and rename run in the background and
        ``session`` waits for them before it commits."""
        target = self.path_for(sha)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        if session is not None:
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
            except BaseException:
                os.close(fd)
                Path(tmp).unlink(missing_ok=True)
                raise
            _defer(session, _SYNCS.submit(_finish, fd, tmp, target))
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def store(
        self,
        session: Session,
        data: bytes,
        *,
        kind: str,
        display_name: str | None = None,
        mime_type: str | None = None,
        participant_id: int | None = None,
        max_bytes: int | None = None,
        delete_after: dt.date | None = None,
        sync_before_commit: bool = False,
    ) -> Document:
        """Check size and type, write the file, and add its row to `session` (not committed).

        The file is written before the row is committed: an orphan file after a crash is
        harmless (same content, same name next time), a row without its file would not be.
        Nothing is added to ``session`` when it raises.

        ``sync_before_commit``: the file's fsync (1–5 ms on this disk, most of an e-mail's
        wait) runs in a background thread while the caller goes on, and ``session`` waits for
        it before committing; the file is under its name only after that fsync, so nobody must
        read it in the same transaction (the intake keeps the bytes it stores in memory).
        """
        limit = max_bytes or self.max_bytes
        if len(data) > limit:
            raise DocumentRejected(
                f"Fichier trop volumineux ({len(data) // 1024} Ko) : la limite est de "
                f"{limit // (1024 * 1024)} Mo. Réduisez-le (PDF compressé, photo moins lourde)."
            )
        if not data:
            raise DocumentRejected("Le fichier est vide. Renvoyez-le.")
        sniffed = sniff_mime(data)
        if mime_type is not None and mime_type != sniffed:
            # A declared type is trusted only for formats without magic bytes.
            textual = mime_type in _NO_MAGIC and sniffed in ("text/plain", "application/octet-stream")
            ooxml = mime_type in _OOXML and sniffed == "application/zip"
            if not (textual or ooxml):
                raise DocumentRejected(
                    "Le contenu du fichier ne correspond pas à son type annoncé. "
                    "Renvoyez le document d'origine (PDF, photo, tableur)."
                )
            sniffed = mime_type
        allowed = ALLOWED_BY_KIND.get(kind)
        if allowed is not None and sniffed not in allowed:
            raise DocumentRejected(
                "Type de fichier non accepté. Formats possibles : "
                + ", ".join(sorted(_short(m) for m in allowed))
                + "."
            )
        sha = hashlib.sha256(data).hexdigest()
        self._write(data, sha, session if sync_before_commit else None)
        values = {"sha256": sha, "size": len(data), "mime_type": sniffed,
                  "display_name": clean_display_name(display_name), "kind": kind,
                  "participant_id": participant_id, "created_at": utcnow(),
                  "delete_after": delete_after}
        if session.get_bind().get_execution_options().get(READ_ONLY):
            doc = Document(**values)  # the read session's guard refuses it, as before
            session.add(doc)
            session.flush()
            return doc
        session.flush()  # what an ORM flush of the row would have written first, if anything
        doc_id = session.connection().execute(_INSERT_DOCUMENT, values).scalar_one()
        doc = Document()
        for name, value in (("id", doc_id), *values.items()):
            set_committed_value(doc, name, value)
        make_transient_to_detached(doc)
        session.add(doc)  # persistent in the session, as the ORM's own INSERT leaves it
        return doc

    def read(self, document: Document) -> bytes:
        return self.path_for(document.sha256).read_bytes()

    def delete_if_unreferenced(self, session: Session, sha256: str) -> bool:
        """Remove the file when no row points at it any more (RGPD erasure, retention)."""
        still = session.scalar(select(Document.id).where(Document.sha256 == sha256).limit(1))
        if still is not None:
            return False
        self.path_for(sha256).unlink(missing_ok=True)
        return True


def _short(mime: str) -> str:
    return {
        "application/pdf": "PDF",
        "image/png": "PNG",
        "image/jpeg": "JPEG",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
        "text/csv": "CSV",
        "message/rfc822": "e-mail",
    }.get(mime, mime)
