"""A territory built from an empty database through the channels, for the privacy journeys.

The CLI imports the example file and creates the accounts; each account is linked in the
console chat with its invitation code. E-mail arrives through the Maildir intake; what the bot
sends goes to the console chats and to the outgoing Maildir.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import mailbox
import re
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from bot.console import ConsoleChat, ConsoleTransport
from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from clausebot.cli import main
from clauses.clock import FixedClock
from clauses.context import Context, Policy
from clauses.rulebook import load_rulebook
from mail.config import MailConfig
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from storage.documents import DocumentStore
from storage.models import OutboxMessage
from tests.mail.conftest import make_mail

CODE = re.compile(r"/start ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "import_exemple.csv"
AGENCY = "clauses@agence.test"
BTP = "rh@btp-rhone-confluent.example"
PEINTURES = "direction@peintures-pilat.example"


@dataclass
class Journey:
    data: Path
    env: dict[str, str]
    ctx: Context
    cfg: MailConfig
    maildir: MaildirIntake
    transport: ConsoleTransport
    chat_sender: ChatOutboxSender

    def cli(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    def account(self, number: int, *invitation: str) -> ConsoleChat:
        """A chat linked with a fresh invitation (`invitation` = CLI options)."""
        code = CODE.search(self.cli("invitation", "create", *invitation)).group(1)
        chat = self.transport.chat(number)
        assert "Bienvenue" in chat.send(f"/start {code}")[0].text
        return chat

    def email(self, sender: str, subject: str, text: str, **kw) -> dict[str, int]:
        mailbox.Maildir(self.cfg.maildir_in).add(make_mail(sender, subject, text, to=AGENCY, **kw))
        return self.maildir.run_once()

    def push(self) -> None:
        asyncio.run(self.chat_sender.drain())


def build(db, tmp_path: Path, monkeypatch, *, clock: FixedClock | None = None,
          **env_extra: str) -> Journey:
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    env = {"CLAUSEBOT_DATABASE_URL": db.url, "CLAUSEBOT_DATA_DIR": str(data),
           "CLAUSEBOT_AGENCY_EMAIL": AGENCY, **env_extra}
    ctx = Context(db=db, documents=DocumentStore(data / "documents"),
                  rulebook=load_rulebook("default"),
                  clock=clock or FixedClock(dt.datetime(2025, 6, 16, 10, 0)),
                  policy=Policy())
    incoming = data / "mail" / "incoming"
    cfg = MailConfig(agency_email=AGENCY, maildir_in=incoming, maildir_out=data / "mail" / "outgoing")
    maildir = MaildirIntake(IntakeCore(ctx, cfg), incoming)
    maildir.ensure()
    transport = ConsoleTransport(ChatCore(ctx))
    j = Journey(data, env, ctx, cfg, maildir, transport,
                ChatOutboxSender(db, transport, chat_filter=OutboxMessage.to_chat_id < 0))
    j.cli("import", str(EXAMPLE))
    j.cli("facilitateur", "create", "--nom", "Fanny Morel", "--email", "fanny@agence.test")
    return j


def candidature_text(last: str, first: str, birth: str, *, email: str = "", phone: str = "") -> str:
    return (f"Bonjour,\n\nNom : {last}\nPrénom : {first}\nDate de naissance : {birth}\n"
            + (f"E-mail : {email}\n" if email else "") + (f"Téléphone : {phone}\n" if phone else "")
            + "Critères : RSA\n")
