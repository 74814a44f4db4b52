"""THE erasure journey: a person who came through every channel is erased, then every store is
searched for her name, birth date, phone, e-mail and CV bytes.

From an empty database: the territory comes from the CLI import, the accounts from CLI
invitations redeemed in the console chat. Marie Dupont is then proposed by e-mail (with a CV,
through the Maildir intake) and again in the chat (same company: the bot asks whether she is
the same person, the company says yes, one record), her hours are declared in the chat with a
payslip, a question naming her (birth date, phone) arrives on the IMAP mailbox of the test
Dovecot, the facilitator gets alerts in the chat, and the référent gets a point d'étape by
e-mail. `clausebot rgpd erase` then runs; afterwards the database (every column of every
table), the documents directory, the Maildir (incoming and sent) and every IMAP folder hold
nothing of her, except what docs/privacy.md lists (hours attached to "EFFACÉ n° N").

The contract itself is written with the factory: hiring through a channel is not part of this
branch (issue 13a); everything else goes through the channels.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import mailbox
import re
import zipfile
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import MetaData, select

from bot.console import ConsoleTransport
from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from clausebot.cli import main
from clauses.clock import FixedClock
from clauses.context import Context, Policy
from clauses.rulebook import load_rulebook
from mail.config import MailConfig
from mail.imap_intake import ImapIntake
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from mail.outbox_sender import OutboxSender
from mail.transport import MaildirTransport
from reports.queued import ReportPreparer
from storage.documents import DocumentStore
from storage.models import Candidature, Engagement, OutboxMessage, Participant
from tests import factories as f
from tests.mail.conftest import imap_config, make_mail

CODE = re.compile(r"/start ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "import_exemple.csv"
COMPANY_MAIL = "rh@btp-rhone-confluent.example"
CV = b"%PDF-1.4\n% CV de Marie DUPONT - unique-cv-marker-7f3a9\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PAYSLIP = b"%PDF-1.4\n% bulletin de paie - unique-payslip-marker-2c81\ntrailer<<>>\n%%EOF\n"
NEEDLES_TEXT = ["dupont", "12/03/1990", "1990-03-12", "0612345678", "06 12 34 56 78",
                "marie.dupont@exemple.fr"]
NEEDLES_BYTES = [b"unique-cv-marker-7f3a9", b"unique-payslip-marker-2c81"]


def _hits(blob: bytes) -> list[str]:
    low = blob.decode("utf-8", "replace").casefold()
    return [n for n in NEEDLES_TEXT if n in low] + [n.decode() for n in NEEDLES_BYTES if n in blob]


def _database_hits(db) -> list[str]:
    """Every column of every table, as text."""
    found = []
    meta = MetaData()
    meta.reflect(db.engine)
    with db.engine.connect() as conn:
        for table in meta.tables.values():
            for row in conn.execute(select(table)):
                hits = _hits(repr(tuple(row)).encode())
                found += [f"{table.name}: {h}" for h in hits]
    return found


def _files_hits(root: Path) -> list[str]:
    return [f"{p.relative_to(root)}: {h}" for p in root.rglob("*") if p.is_file()
            for h in _hits(p.read_bytes())]


def test_erasure_reaches_every_store(db, tmp_path, monkeypatch, imap_account):
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    env = {"CLAUSEBOT_DATABASE_URL": db.url, "CLAUSEBOT_DATA_DIR": str(data),
           "CLAUSEBOT_AGENCY_EMAIL": "clauses@agence.test",
           "CLAUSEBOT_IMAP_HOST": imap_account.host, "CLAUSEBOT_IMAP_PORT": str(imap_account.port),
           "CLAUSEBOT_IMAP_SSL": "false", "CLAUSEBOT_IMAP_USERNAME": imap_account.user,
           "CLAUSEBOT_IMAP_PASSWORD": imap_account.password}
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("import", str(EXAMPLE))
    cli("facilitateur", "create", "--nom", "Fanny Morel", "--email", "fanny@agence.test")
    codes = {
        "fanny": CODE.search(cli("invitation", "create", "--role", "facilitateur",
                                 "--facilitateur", "fanny@agence.test")).group(1),
        "company": CODE.search(cli("invitation", "create", "--role", "entreprise", "--entreprise",
                                   "BTP Rhône-Confluent", "--nom", "Sophie Martin")).group(1),
        "referent": CODE.search(cli("invitation", "create", "--role", "referent", "--donneur",
                                    "Ville d'Oullins", "--nom", "Juliette Rey",
                                    "--email", "juliette@oullins.test")).group(1),
    }
    ctx = Context(db=db, documents=DocumentStore(data / "documents"),
                  rulebook=load_rulebook("default"), clock=FixedClock(dt.datetime(2025, 6, 16, 10, 0)),
                  policy=Policy())
    core = ChatCore(ctx)
    transport = ConsoleTransport(core)
    company, fanny, referent = transport.chat(1), transport.chat(2), transport.chat(3)
    assert "Bienvenue" in company.send(f"/start {codes['company']}")[0].text
    assert "Bienvenue" in fanny.send(f"/start {codes['fanny']}")[0].text
    assert "Bienvenue" in referent.send(f"/start {codes['referent']}")[0].text
    chat_sender = ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0)

    # 1. candidature by e-mail with a CV (Maildir intake)
    incoming = data / "mail" / "incoming"
    cfg = MailConfig(agency_email="clauses@agence.test", maildir_in=incoming,
                     maildir_out=data / "mail" / "outgoing")
    maildir = MaildirIntake(IntakeCore(ctx, cfg), incoming)
    maildir.ensure()
    mailbox.Maildir(incoming).add(make_mail(
        f"Sophie Martin <{COMPANY_MAIL}>", "Candidature",
        "Bonjour,\n\nNom : DUPONT\nPrénom : Marie\nDate de naissance : 12/03/1990\n"
        "E-mail : marie.dupont@exemple.fr\nTéléphone : 06 12 34 56 78\nCritères : RSA\n",
        attachments=[("cv-marie-dupont.pdf", CV, "application/pdf")], to="clauses@agence.test"))
    assert maildir.run_once() == {"traite": 1}

    # 2. the same person proposed again in the chat: the company confirms she is the same
    for line in ("/candidat", "Dupont", "Marie", "06 12 34 56 78"):
        company.send(line)
    company.press("Terminé")
    company.press("Passer")
    question = company.press("Confirmer")[-1]
    assert "déjà connue" in question.text and "DUPONT Marie" in question.text
    assert "transmise" in company.press("même personne")[-1].text
    asyncio.run(chat_sender.drain())
    fanny.send("/alertes")
    assert "validée" in fanny.press("Valider n° 1")[-1].text
    with ctx.db.session() as s:
        (pid,) = s.scalars(select(Participant.id)).all()  # one person, one record
        assert s.query(Candidature).count() == 2
        engagement = s.scalar(select(Engagement).where(Engagement.lot_id.is_not(None)).join(
            Engagement.company).where(Engagement.company.has(name="BTP Rhône-Confluent")))
        f.contract(s, s.get(Participant, pid), engagement, start=dt.date(2025, 3, 3), end=None)

    # 3. hours declared in the chat, with a payslip
    company.send("/declarer")
    company.type("1")  # May 2025, the default month
    company.type("35")
    assert "Justificatif" in company.type("0")[-1].text
    proof = tmp_path / "bulletin.pdf"
    proof.write_bytes(PAYSLIP)
    assert company.type(f"!fichier {proof}")[0].text == "Justificatif reçu."
    assert "Déclaration enregistrée" in company.press("Confirmer")[-1].text

    # 4. a free-text question naming her, on the IMAP mailbox
    imap_account.append("INBOX", make_mail(
        f"Sophie Martin <{COMPANY_MAIL}>", "Question sur une salariée",
        "Bonjour, Marie Dupont (née le 12/03/1990, 06 12 34 56 78) peut-elle commencer lundi ?",
        to="clauses@agence.test"))
    imap_cfg = MailConfig(agency_email="clauses@agence.test", imap=imap_config(imap_account))
    ImapIntake(IntakeCore(ctx, imap_cfg), imap_cfg.imap).run_once()
    assert imap_account.folder_uids("Traités")

    # 5. the alerts reach the facilitator's chat; a report goes to the référent by e-mail
    asyncio.run(chat_sender.drain())
    assert "DUPONT" in fanny.last.text.upper()
    mailbox.Maildir(incoming).add(make_mail(
        "Juliette Rey <juliette@oullins.test>", "Point d'étape marché 2025-017",
        "Bonjour, pouvez-vous m'envoyer le point d'étape du marché 2025-017 ?",
        to="clauses@agence.test"))
    maildir.run_once()
    mail_sender = OutboxSender(ctx.db, ctx.documents, MaildirTransport(cfg.maildir_out), cfg,
                               reports=ReportPreparer(ctx, isolated=False))
    asyncio.run(mail_sender.send_due())
    sent = [mailbox.MaildirMessage(p.read_bytes()) for p in (cfg.maildir_out / "new").iterdir()]
    assert any("juliette@oullins.test" in (m["To"] or "") and "2025-017" in (m["Subject"] or "")
               for m in sent)  # the point d'étape reached the référent
    assert any(COMPANY_MAIL in (m["To"] or "") for m in sent)  # replies to the company
    before = _database_hits(db) + _files_hits(data) + [
        h for folder in imap_account.list_folders()
        for raw in imap_account.fetch_raw(folder).values() for h in _hits(raw)]
    assert {"dupont", "12/03/1990", "marie.dupont@exemple.fr", "unique-cv-marker-7f3a9"} <= {
        h.rpartition(": ")[2] for h in before}

    # 6. her export holds every message that concerns her, the raw e-mails included
    cli("rgpd", "export", str(pid), "--sortie", str(tmp_path / "export.zip"))
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        exported = json.loads(zf.read(f"personne-{pid}.json"))
        raw_mails = [zf.read(n) for n in zf.namelist() if n.endswith(".eml")]
    assert {m["subject"] for m in exported["emails_recus"]} == {"Candidature", "Question sur une salariée"}
    assert len(raw_mails) == 2 and any(b"peut-elle comm" in r for r in raw_mails)
    assert exported["messages_envoyes"] and any("DUPONT" in a["message"] for a in exported["alertes"])

    # 7. erasure, by the CLI
    out = cli("rgpd", "erase", str(pid), "--confirm", "--force", "demande écrite du 02/06/2025")
    assert f"Personne n° {pid} effacée" in out and "copie(s) d'e-mail retirée(s)" in out

    assert _database_hits(db) == []
    assert _files_hits(data / "documents") == []
    assert _files_hits(data / "mail") == []
    for folder in imap_account.list_folders():
        for raw in imap_account.fetch_raw(folder).values():
            assert _hits(raw) == [], folder
    with ctx.db.session() as s:  # what docs/privacy.md says stays: the hours, without identity
        person = s.get(Participant, pid)
        assert (person.last_name, person.first_name) == ("EFFACÉ", f"n° {pid}")
