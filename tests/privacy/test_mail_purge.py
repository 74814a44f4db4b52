"""Texts about a person the product cannot link go with the raw mail, in every store.

A free-text e-mail names somebody unknown (name, birth date, phone): it is stored raw, quoted
in an alert excerpt pushed to the facilitator's chat, answered, and left in the mailbox's
processed folder (Maildir here, IMAP on the test Dovecot there). `clausebot purge`, run with the
clock moved to one day before the end of the raw-mail period, keeps everything; one day after,
nothing of it is left in the database, the documents, the Maildirs (received and sent) or any
IMAP folder, while the bookkeeping rows stay so that nothing is processed twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import MetaData, select

import clausebot.wiring as wiring
from clauses.clock import FixedClock
from mail.config import MailConfig
from mail.imap_intake import ImapIntake
from mail.intake import IntakeCore
from mail.outbox_sender import OutboxSender
from mail.transport import MaildirTransport
from storage.models import InboundMail
from tests.mail.conftest import imap_config, make_mail
from tests.privacy._journey import AGENCY, BTP, PEINTURES, build

NEEDLES = ("petit", "0611223344", "06 11 22 33 44", "04/05/1988")


def _hits(blob: bytes) -> list[str]:
    low = blob.decode("utf-8", "replace").casefold()
    return [n for n in NEEDLES if n in low]


def _database_hits(db) -> list[str]:
    meta = MetaData()
    meta.reflect(db.engine)
    with db.engine.connect() as conn:
        return [f"{t.name}: {h}" for t in meta.tables.values() for row in conn.execute(select(t))
                for h in _hits(repr(tuple(row)).encode())]


def _file_hits(root) -> list[str]:
    return [f"{p}: {h}" for p in root.rglob("*") if p.is_file() for h in _hits(p.read_bytes())]


def _imap_hits(account) -> list[str]:
    return [f"{folder}: {h}" for folder in account.list_folders()
            for raw in account.fetch_raw(folder).values() for h in _hits(raw)]


def test_unlinked_mail_is_purged_from_every_store_after_its_period(db, tmp_path, monkeypatch,
                                                                    imap_account):
    start = dt.datetime.now(dt.UTC)
    j = build(db, tmp_path, monkeypatch, clock=FixedClock(start),
              CLAUSEBOT_IMAP_HOST=imap_account.host, CLAUSEBOT_IMAP_PORT=str(imap_account.port),
              CLAUSEBOT_IMAP_SSL="false", CLAUSEBOT_IMAP_USERNAME=imap_account.user,
              CLAUSEBOT_IMAP_PASSWORD=imap_account.password)
    fanny = j.account(2, "--role", "facilitateur", "--facilitateur", "fanny@agence.test")
    question = ("Bonjour, une amie, Léa Petit (née le 04/05/1988, 06 11 22 33 44), "
                "cherche un emploi : pouvez-vous la rappeler ?")
    assert j.email(f"RH <{BTP}>", "Une question", question) == {"traite": 1}
    imap_account.append("INBOX", make_mail(f"Direction <{PEINTURES}>", "Autre question", question,
                                           to=AGENCY))
    imap_cfg = MailConfig(agency_email=AGENCY, imap=imap_config(imap_account))
    ImapIntake(IntakeCore(j.ctx, imap_cfg), imap_cfg.imap).run_once()
    j.push()
    assert "Petit" in fanny.last.text  # the excerpt reached the facilitator
    asyncio.run(OutboxSender(j.ctx.db, j.ctx.documents, MaildirTransport(j.cfg.maildir_out),
                             j.cfg).send_due())
    assert _file_hits(j.data / "mail" / "outgoing") == []  # the replies do not quote it…
    assert len(list((j.cfg.maildir_out / "new").iterdir())) == 2  # …but are copies to remove

    real = wiring.build_context

    def purge_at(days: int) -> str:
        moved = FixedClock(start + dt.timedelta(days=days))
        monkeypatch.setattr(wiring, "build_context", lambda settings, clock=None: real(settings, clock=moved))
        return j.cli("purge")

    out = purge_at(89)
    assert "0 e-mail(s) brut(s)" in out
    assert _database_hits(db) and _file_hits(j.data / "documents") and _imap_hits(imap_account)
    assert _file_hits(j.cfg.maildir_in)

    out = purge_at(91)
    assert "2 e-mail(s) brut(s) ont été supprimé(s)" in out and "copie(s) d'e-mail retirée(s)" in out
    assert _database_hits(db) == []
    assert _file_hits(j.data / "documents") == []
    assert _file_hits(j.data / "mail") == []
    assert _imap_hits(imap_account) == []
    assert list((j.cfg.maildir_out / "new").iterdir()) == []
    with db.session() as s:  # bookkeeping stays: the messages are never processed again
        rows = list(s.scalars(select(InboundMail)))
        assert len(rows) == 2 and all(r.purged_at is not None and r.subject is None for r in rows)
    assert "Rien à purger." in purge_at(92)
