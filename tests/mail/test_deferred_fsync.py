"""The intake's files are fsynced in the background, and the commit waits for them.

Why it matters: ``DocumentStore.store(..., sync_before_commit=True)`` lets the e-mail's parsing
and SQL run while the disk syncs its raw message and attachments (1–5 ms a file here), but the
rule of the document store must hold: a committed row always has its complete, durable file.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from clauses.context import Context
from mail.outcome import MailKey
from storage import documents
from storage.models import Document, InboundMail, MailStatus, OutboxMessage
from tests.mail.conftest import XLSX_MIME, core, mail_config, make_mail, xlsx_bytes

COMPANY = "chef@btp-rhone.test"


def _declaration() -> bytes:
    return make_mail(COMPANY, "Déclaration des heures", "Bonjour, ci-joint nos heures de mai.",
                     attachments=[("heures.xlsx", xlsx_bytes([["2025-017", 2, "Dupont", "Marie",
                                                               "05/2025", 35, 0]]), XLSX_MIME)])


def test_the_commit_waits_for_slow_fsyncs(ctx: Context, world: dict[str, Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    synced: list[int] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.3)
        real_fsync(fd)
        synced.append(fd)

    monkeypatch.setattr(documents.os, "fsync", slow_fsync)
    began = time.monotonic()
    status = core(ctx, mail_config()).ingest(MailKey("t", "INBOX", 1, 1), _declaration())
    assert status == MailStatus.TRAITE
    # Raw message + spreadsheet, synced side by side in the background, before the commit.
    assert len(synced) == 2 and time.monotonic() - began >= 0.3
    with ctx.db.session() as s:
        docs = s.scalars(select(Document)).all()
        row = s.scalars(select(InboundMail)).one()
    assert {d.kind for d in docs} == {"raw_email", "spreadsheet"} and row.kind == "declaration"
    for doc in docs:
        path = ctx.documents.path_for(doc.sha256)
        assert path.stat().st_size == doc.size and oct(path.stat().st_mode & 0o777) == "0o600"
    assert not list(ctx.documents.root.rglob(".tmp-*"))


def test_a_failed_fsync_commits_nothing_of_the_e_mail(ctx: Context, world: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses the raw message's sync: no declaration, no reply, no document row; the
    e-mail is quarantined (the transport's discipline) with the facilitators alerted."""

    def broken(_fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(documents.os, "fsync", broken)
    status = core(ctx, mail_config()).ingest(MailKey("t", "INBOX", 1, 1), _declaration())
    assert status == MailStatus.QUARANTAINE
    with ctx.db.session() as s:
        row = s.scalars(select(InboundMail)).one()
        assert row.kind == "erreur_interne" and "Input/output error" in row.result["error"]
        assert s.scalars(select(Document.kind)).all() == ["raw_email"]  # the quarantine's copy
        assert not s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == COMPANY)).all()
    assert not list(ctx.documents.root.rglob(".tmp-*"))


def test_a_savepoint_rolled_back_does_not_forget_the_wait(ctx: Context,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.2)
        real_fsync(fd)

    monkeypatch.setattr(documents.os, "fsync", slow_fsync)
    with ctx.db.session() as s:
        doc = ctx.documents.store(s, b"%PDF-1.4 contenu", kind="cv", sync_before_commit=True)
        with pytest.raises(RuntimeError), s.begin_nested():
            raise RuntimeError("a step that failed")
        with s.begin_nested():  # a savepoint released: the commit still waits below
            pass
        sha = doc.sha256
    assert ctx.documents.path_for(sha).read_bytes() == b"%PDF-1.4 contenu"


def test_a_batch_whose_commit_fails_is_redone_one_e_mail_per_transaction(
        ctx: Context, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Three e-mails in one transaction; the disk refuses one file's sync once, so the batch's
    commit fails: nothing of the batch is kept, then each e-mail is processed in a transaction
    of its own — all three recorded and answered once, none quarantined."""
    from mail.intake import Incoming

    real_fsync = os.fsync
    failures: list[int] = []

    def fails_once(fd: int) -> None:
        if not failures and threading.current_thread() is not threading.main_thread():
            failures.append(fd)
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(documents.os, "fsync", fails_once)
    questions = [make_mail(COMPANY, f"Question {n}", f"Une question numéro {n}.",
                           message_id=f"<q{n}@btp-rhone.test>") for n in range(2)]
    items = [Incoming(MailKey("t", "INBOX", 1, 1), _declaration()),
             *(Incoming(MailKey("t", "INBOX", 1, 2 + n), raw) for n, raw in enumerate(questions))]
    statuses = core(ctx, mail_config()).ingest_many(items)
    assert failures and statuses == [MailStatus.TRAITE] * 3
    with ctx.db.session() as s:
        rows = s.scalars(select(InboundMail).order_by(InboundMail.uid)).all()
        replies = s.scalars(select(OutboxMessage.subject)
                            .where(OutboxMessage.to_address == COMPANY)).all()
    assert [(r.uid, r.kind) for r in rows] == [(1, "declaration"), (2, "autre"), (3, "autre")]
    assert sorted(replies) == ["Re: Déclaration des heures", "Re: Question 0", "Re: Question 1"]
    for row in rows:
        assert row.raw_document_id is not None
    assert not list(ctx.documents.root.rglob(".tmp-*"))
