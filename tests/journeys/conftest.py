"""Journeys of the person's path from an EMPTY database: the territory comes from the example
import and invitation codes through the real `clausebot` CLI, everything else through the
channels (console chat, Maildir, CLI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage.db import Database
from tests.cli_runner import Run, cli_runner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`cli("contrat", "list")` runs `clausebot contrat list` on the test database."""
    return cli_runner(db, tmp_path, monkeypatch)


@pytest.fixture
def territory(cli: Run) -> dict[str, str]:
    """The example territory imported, a facilitator, and invitation codes for the company
    BTP Rhône-Confluent (lot 2 of market 2025-017), Maçonnerie Saint-Genis (the same lot) and
    the facilitator."""
    assert cli("import", str(EXAMPLES / "import_exemple.csv")).exit_code == 0
    made = cli("facilitateur", "create", "--nom", "Fanny Facil", "--email", "fanny@agence.test")
    assert made.exit_code == 0, made.output
    codes = {}
    for key, args in {
        "company": ("--role", "entreprise", "--entreprise", "BTP Rhône-Confluent", "--nom", "Sophie"),
        "facilitator": ("--role", "facilitateur", "--facilitateur", "fanny@agence.test"),
        "other_company": ("--role", "entreprise", "--entreprise", "Maçonnerie Saint-Genis"),
    }.items():
        out = cli("invitation", "create", *args)
        assert out.exit_code == 0, out.output
        codes[key] = re.search(r"Code \(affiché une seule fois\) : (\S+)", out.output).group(1)
    return codes


def drain_chat(ctx, transport) -> None:
    """Deliver the queued chat messages to the console accounts."""
    import asyncio

    from bot.outbox_sender import ChatOutboxSender
    from storage.models import OutboxMessage

    sender = ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0)
    asyncio.run(sender.drain())


def propose_in_chat(company, last: str, first: str) -> None:
    """The company's /candidat, RSA claimed, no contact, no CV."""
    for line in ("/candidat", last, first):
        company.send(line)
    company.press("Passer")
    company.press("RSA")
    company.press("Terminé")
    company.press("Passer")
    assert "transmise" in company.press("Confirmer")[-1].text


def validate_in_chat(ctx, transport, fanny, number: int) -> None:
    """The facilitator presses « Valider » on the candidature's alert."""
    drain_chat(ctx, transport)
    alert = next(m for m in reversed(fanny.transcript) if f"Candidature n° {number} à valider" in m.text)
    data = next(d for label, d in (b for row in alert.buttons for b in row) if "Valider" in label)
    assert "validée" in fanny.press_data(data)[-1].text
    drain_chat(ctx, transport)


ACCOUNTS = {"company": 1, "facilitator": 2, "other_company": 3}
"""The console chat account of each invited person of :func:`territory`."""


def signed_in(ctx, territory: dict[str, str], *who: str) -> tuple:
    """A console chat and, in order, the accounts of ``who`` (keys of :func:`territory`), each
    signed in with its invitation code: ``transport, company, fanny = signed_in(ctx, territory,
    "company", "facilitator")``."""
    from bot.console import ConsoleTransport
    from bot.core import ChatCore

    transport = ConsoleTransport(ChatCore(ctx))
    chats = [transport.chat(ACCOUNTS[key]) for key in who]
    for key, chat in zip(who, chats, strict=True):
        chat.send(territory[key])
    return (transport, *chats)


def hire_in_chat(company, start: str, end: str, job_title: str) -> str:
    """The company presses « Déclarer l'embauche » and hires on a CDD it carries itself; returns
    the confirmation's text."""
    assert "Type de contrat" in company.press("Déclarer l'embauche")[-1].text
    company.press("CDD")
    company.send(start)
    company.send(end)
    company.press("Non, par l'entreprise")
    company.send(job_title)
    return company.press("Confirmer")[-1].text


def declare_in_chat(company, month_label: str, work_hours: str) -> str:
    """After /declarer has shown the months: the month's button, the work hours, no training,
    no comment, « Confirmer »; returns the confirmation's text."""
    company.press(month_label)
    company.send(work_hours)
    company.send("0")
    company.press("Passer")
    return company.press("Confirmer")[-1].text
