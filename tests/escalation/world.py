"""The channels of the escalation tests: CLI, console chats, Maildir in and out, the clock and
the scheduler's jobs, on a territory created from an empty database by the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import mailbox
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.console import ConsoleTransport
from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from clauses.context import Context
from mail.intake import IntakeCore
from mail.letters import LetterPreparer
from mail.maildir_intake import MaildirIntake
from mail.outbox_sender import OutboxSender
from mail.transport import MaildirTransport
from scheduler.jobs import run_job
from tests.mail.conftest import mail_config, make_mail

__all__ = ["make_mail"]

BTP = "chef@btp-rhone.test"
PILAT = "direction@peintures-pilat.test"
JULIETTE = "juliette.rey@oullins.test"
FANNY = "fanny.morel@agence.test"
GENIS = "contact@maconnerie-saint-genis.test"

IMPORT = (
    "donneur;type_donneur;marche_ref;marche_intitule;type_marche;date_debut;date_fin;facilitateur;"
    "lot_numero;lot_intitule;corps_etat;montant_lot_ht;heures_insertion;penalite_heure;"
    "penalite_jour;penalite_plafond;entreprise;siret;type_entreprise;email_entreprise;"
    "contact_entreprise;heures_engagement;moyen\n"
    "Ville d'Oullins;ville;2025-017;Réhabilitation du groupe scolaire;clause_execution;03/02/2025;"
    f"30/06/2026;{FANNY};1;Gros œuvre;maconnerie;400 000,00;833;60;100;20 %;BTP Rhône;"
    f"821 953 452 00413;ordinaire;{BTP};Marc Chef;833;embauche_directe\n"
    "Ville d'Oullins;;2025-017;;;;;;2;Peinture intérieure;peinture_interieure;180 000,00;210;;;;"
    f"Peintures du Pilat;844 048 132 00949;ordinaire;{PILAT};Anne Pilat;210;etti\n"
    "Ville d'Oullins;;2026-002;Gymnase Jean Macé;clause_execution;02/03/2026;31/12/2026;"
    f"{FANNY};1;Maçonnerie;maconnerie;300 000,00;250;;;;Maçonnerie Saint-Genis;"
    f"849 446 562 00837;ordinaire;{GENIS};;250;embauche_directe\n"
)


class World:
    """The channels of the journey: CLI, console chats, Maildir in/out, the clock, the jobs."""

    def __init__(self, ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ctx = ctx
        self.tmp = tmp_path
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
        self.env = {"CLAUSEBOT_DATABASE_URL": ctx.db.url,
                    "CLAUSEBOT_DATA_DIR": str(tmp_path / "data"), "CLAUSEBOT_RULEBOOK": "default"}
        self.core = ChatCore(ctx)
        self.transport = ConsoleTransport(self.core)
        self.fanny = self.transport.chat(1)
        self.pilat = self.transport.chat(2)
        self.juliette = self.transport.chat(3)
        self.inbox = tmp_path / "mail" / "incoming"
        self.outbox = tmp_path / "mail" / "outgoing"
        self.cfg = mail_config(maildir_in=self.inbox)
        self.intake = MaildirIntake(IntakeCore(ctx, self.cfg), self.inbox, poll_seconds=0.05)
        self.intake.ensure()
        self.sent_files: set[str] = set()

    def cli(self, *args: str, ok: bool = True) -> str:
        from clausebot.cli import main

        result = CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        return result.output

    def code(self, *args: str) -> str:
        out = self.cli("invitation", "create", *args)
        match = re.search(r"\b([A-Z0-9]{4,}(?:-[A-Z0-9]{4,})+)\b", out)
        assert match, out
        return match.group(1)

    def at(self, y: int, m: int, d: int, hour: int = 10) -> None:
        self.ctx.clock.set(dt.datetime(y, m, d, hour, 0))  # type: ignore[attr-defined]

    def push(self) -> None:
        """The chat outbox sender delivers what was queued for the console accounts."""
        asyncio.run(ChatOutboxSender(self.ctx.db, self.transport).drain_once())

    def mail_out(self, *, isolated: bool = False) -> list:
        """The e-mail sender renders the letters and writes them to the outgoing Maildir;
        returns the messages written since the last call. ``isolated``: the PDF is printed in
        the reports' child process, as the service does."""
        sender = OutboxSender(self.ctx.db, self.ctx.documents, MaildirTransport(self.outbox),
                              self.cfg, reports=LetterPreparer(self.ctx, isolated=isolated))
        asyncio.run(sender.send_due())
        new = []
        for folder in ("new", "cur"):
            for path in sorted((self.outbox / folder).glob("*")) if (self.outbox / folder).exists() else []:
                if path.name not in self.sent_files:
                    self.sent_files.add(path.name)
                    new.append(message_from_bytes(path.read_bytes(), policy=policy.default))
        return new

    def mail_in(self, raw: bytes) -> None:
        mailbox.Maildir(self.inbox, create=True).add(raw)
        self.intake.run_once()

    def job(self, name: str) -> None:
        run_job(self.ctx, name)


def to(messages: list, address: str) -> list:
    return [m for m in messages if m["To"] == address]


def pdf_names(message) -> list[str]:
    return [p.get_filename() for p in message.iter_attachments()
            if p.get_content_type() == "application/pdf"]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()



def territory(w: World) -> dict[str, str]:
    """Facilitator, import file, invitations (the codes), the clock on Monday 16 June 2025."""
    w.cli("facilitateur", "create", "--nom", "Fanny Morel", "--email", FANNY)
    (w.tmp / "import.csv").write_text(IMPORT, encoding="utf-8")
    w.cli("import", str(w.tmp / "import.csv"))
    codes = {
        "fanny": w.code("--role", "facilitateur", "--facilitateur", FANNY),
        "pilat": w.code("--role", "entreprise", "--entreprise", "Peintures du Pilat", "--nom",
                        "Anne Pilat"),
        "juliette": w.code("--role", "referent", "--donneur", "Ville d'Oullins", "--nom",
                           "Juliette Rey", "--email", JULIETTE),
    }
    w.at(2025, 6, 16)
    assert "Bienvenue" in w.fanny.send(f"/start {codes['fanny']}")[0].text
    assert "Bienvenue" in w.pilat.send(f"/start {codes['pilat']}")[0].text
    assert "Bienvenue" in w.juliette.send(f"/start {codes['juliette']}")[0].text
    return codes
