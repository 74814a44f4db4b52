"""THE person's path (issue 13), from an EMPTY database, through the channels only: the territory
and a prescriber organisation (with its e-mail domain) by CLI, accounts by invitation codes; an
adviser of the Mission Locale e-mails a candidature (Maildir); the facilitator validates it in
the console chat; the company — told with a button — records the hire (in chat, by its
« Embauches » sheet, or the facilitator by `clausebot contrat create`); three months are
declared (two in chat, one by spreadsheet e-mail); the contract ends (its planned date passes, or
`clausebot contrat end`); the exits job asks the employer, who answers by button; the annual
bilan (`clausebot bilan`, HTML and XLSX read back) shows the person, the hours, the contract type
and the exit; the adviser received the hire and the exit feedback (outgoing Maildir)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import mailbox
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.console import ConsoleChat, ConsoleTransport
from bot.core import ChatCore
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from mail.outbox_sender import OutboxSender
from mail.transport import MaildirTransport
from scheduler.jobs import run_job
from storage.models import (
    Candidature,
    CandidatureStatus,
    Contract,
    Document,
    ExitFollowup,
    HourDeclaration,
    OutboxMessage,
    Participant,
)
from tests.journeys.conftest import Run, drain_chat, hire_in_chat
from tests.mail.conftest import XLSX_MIME, mail_config, make_mail

RH = "Sophie MARTIN <rh@btp-rhone-confluent.example>"
ADVISER = "claire.dupuis@ml-sudouest.example"
START, END = dt.date(2025, 3, 3), dt.date(2025, 6, 13)  # the clock stands at 16/06/2025
CANDIDATURE = ("Bonjour,\n\nJe vous propose la candidature suivante.\n\nNom : KOFFI\nPrénom : Awa\n"
               "Date de naissance : 12/04/1990\nSexe : F\nCommune : Oullins\nCritères : RSA\n"
               "Marché : 2025-017\nLot : 2\nEntreprise : BTP Rhône-Confluent\n\nCordialement,\n"
               "Claire Dupuis, conseillère")


class Path13:
    """The channels of one journey: the Maildirs, the console chats, the CLI."""

    def __init__(self, ctx, cli: Run, territory: dict[str, str], tmp_path: Path) -> None:
        self.ctx, self.cli = ctx, cli
        made = cli("prescripteur", "create", "--nom", "Mission Locale Sud-Ouest", "--type",
                   "mission_locale", "--domaine", "ml-sudouest.example")
        assert made.exit_code == 0, made.output
        self.incoming, self.outgoing = tmp_path / "in", tmp_path / "out"
        cfg = mail_config(maildir_in=self.incoming, maildir_out=self.outgoing)
        self.intake = MaildirIntake(IntakeCore(ctx, cfg), self.incoming, poll_seconds=0.05)
        self.intake.ensure()
        self.box = mailbox.Maildir(self.incoming, create=True)
        self.sender = OutboxSender(ctx.db, ctx.documents, MaildirTransport(self.outgoing), cfg)
        self.transport = ConsoleTransport(ChatCore(ctx))
        self.company, self.fanny = self.transport.chat(1), self.transport.chat(2)
        assert "Bienvenue" in self.company.send(territory["company"])[0].text
        assert "Bienvenue" in self.fanny.send(territory["facilitator"])[0].text

    def mail(self, sender: str, subject: str, text: str, attachments=None) -> None:
        self.box.add(make_mail(sender, subject, text, attachments=attachments or []))
        assert self.intake.run_once() == {"traite": 1}

    def chat(self) -> None:
        drain_chat(self.ctx, self.transport)

    def sent_to(self, address: str) -> list:
        """Deliver the queued e-mails to the outgoing Maildir; the messages ``address`` got."""
        asyncio.run(self.sender.send_due())
        out = []
        for f in sorted((self.outgoing / "new").iterdir()) if (self.outgoing / "new").exists() else []:
            m = message_from_bytes(f.read_bytes(), policy=policy.default)
            if address in str(m["To"]):
                out.append(m)
        return out

    def candidature_from_prescriber(self) -> None:
        self.mail(f"Claire Dupuis <{ADVISER}>", "Candidature KOFFI Awa", CANDIDATURE)
        with self.ctx.db.session() as s:
            cand = s.scalar(select(Candidature))
            assert cand.prescriber_id is not None and cand.company_id is not None
        self.chat()
        alert = next(m for m in reversed(self.fanny.transcript)
                     if "Candidature n° 1 à valider" in m.text)
        data = next(d for label, d in (b for row in alert.buttons for b in row) if "Valider" in label)
        assert "validée" in self.fanny.press_data(data)[-1].text
        self.chat()

    def workbook(self):
        """The company asks for the template by e-mail and opens its .xlsx."""
        self.mail(RH, "Demande de modèle de déclaration", "Pouvez-vous m'envoyer le modèle ?")
        with self.ctx.db.session() as s:
            reply = s.scalars(select(OutboxMessage).where(
                OutboxMessage.to_address == "rh@btp-rhone-confluent.example",
                OutboxMessage.subject.like("Re: Demande de modèle%"))).one()
            doc = next(d for d in (s.get(Document, a["document_id"]) for a in reply.attachments)
                       if d.display_name.endswith(".xlsx"))
            return load_workbook(io.BytesIO(self.ctx.documents.read(doc)))

    def send_workbook(self, workbook, subject: str) -> str:
        data = io.BytesIO()
        workbook.save(data)
        self.mail(RH, subject, "ci-joint", attachments=[("heures.xlsx", data.getvalue(), XLSX_MIME)])
        with self.ctx.db.session() as s:
            return s.scalars(select(OutboxMessage.body_text).where(
                OutboxMessage.to_address == "rh@btp-rhone-confluent.example")
                .order_by(OutboxMessage.id.desc())).first()

    def declare_in_chat(self, month: str, hours: str) -> None:
        for step in (lambda: self.company.send("/declarer"), lambda: self.company.send(month),
                     lambda: self.company.send(hours), lambda: self.company.send("0"),
                     lambda: self.company.press("Passer")):
            step()
        assert "Déclaration enregistrée" in self.company.press("Confirmer")[-1].text

    def exit_by_button(self, ended: dt.date) -> None:
        """The exits job asks the employer in chat; it answers « Emploi durable — CDI »."""
        assert run_job(self.ctx, "exits").done == 1
        self.chat()
        question = self.company.last
        assert f"Le contrat de KOFFI Awa a pris fin le {ended:%d/%m/%Y}" in question.text
        self.company.press("Emploi durable")
        assert "sortie enregistrée — « Emploi durable — CDI »" in self.company.press("CDI")[-1].text

    def check_outcome(self, tmp_path: Path, hours: Decimal, ended: dt.date) -> None:
        """What is stored, what the bilan shows, what the adviser received."""
        with self.ctx.db.session() as s:
            (contract,) = s.scalars(select(Contract)).all()
            cand = s.scalar(select(Candidature))
            person = s.get(Participant, contract.participant_id)
            assert cand.status == CandidatureStatus.EMBAUCHEE and contract.candidature_id == cand.id
            assert (person.first_entry_date, person.exit_date, person.exit_situation) == (
                START, ended, "cdi")
            assert contract.end_date == ended
            assert sum(d.work_hours for d in s.scalars(select(HourDeclaration))) == hours
            assert s.scalar(select(ExitFollowup.situation)) == "cdi"

        out = tmp_path / "bilans"
        made = self.cli("bilan", "--donneur", "Oullins", "--annee", "2025", "--format", "html,xlsx",
                        "--out", str(out), "--audience", "interne")
        assert made.exit_code == 0, made.output
        (html_file,) = out.glob("*.html")
        html = html_file.read_text(encoding="utf-8")
        assert "Personnes sorties sur la période" in html
        assert "Emploi durable" in html and "BTP Rhône-Confluent" in html
        (xlsx_file,) = out.glob("*.xlsx")
        book = load_workbook(xlsx_file)
        rows = {ws.title: {r for r in ws.iter_rows(values_only=True)} for ws in book.worksheets}
        n = int(hours)
        # the person (counted once, with her typology), the hours, the contract type, the exit
        assert {("Personnes (comptées une fois)", 1), ("Heures réalisées en 2025", n),
                ("Sorties sur la période", 1)} <= rows["Synthèse"]
        assert {("Femmes", 1, 1), ("Oullins", 1, 1), ("RSA", 1, 1)} <= (
            rows["Genre"] | rows["Commune"] | rows["Statut à l'entrée"])
        assert ("CDD", 1, 1, n, "non") in rows["Types de contrat"]
        assert {("Emploi durable", 1, 1), ("  CDI", 1, 1)} <= rows["Sorties"]
        assert any(r[:5] == ("2025-017 · lot 2", "Gros œuvre, maçonnerie", "BTP Rhône-Confluent",
                             633, n) for r in rows["Lots"])

        feedback = self.sent_to(ADVISER)
        subjects = [str(m["Subject"]) for m in feedback]
        assert subjects.count("Candidature n° 1 : embauche") == 1, subjects
        assert subjects.count("Retour de fin de mission : KOFFI A.") == 1, subjects
        exit_text = next(m for m in feedback if "fin de mission" in str(m["Subject"])).get_content()
        assert "Emploi durable — CDI" in exit_text and "Awa" not in exit_text  # initials only


@pytest.fixture
def path(ctx, cli, territory, tmp_path) -> Path13:
    return Path13(ctx, cli, territory, tmp_path)


def test_hire_in_chat_from_the_notice_then_the_whole_path(path: Path13, tmp_path):
    path.candidature_from_prescriber()
    # the company, named on the prescriber's candidature, is told, with the hire button
    notice = path.company.last
    assert "La candidature n° 1 (KOFFI A.), proposée par Mission Locale Sud-Ouest" in notice.text
    assert notice.labels == ["👷 Déclarer l'embauche"]
    hired = hire_in_chat(path.company, f"{START:%d/%m/%Y}", f"{END:%d/%m/%Y}", "Maçon coffreur")
    assert "Embauche enregistrée : KOFFI Awa" in hired

    path.declare_in_chat("03/2025", "120")
    path.declare_in_chat("04/2025", "140")
    book = path.workbook()
    book["Déclaration"].append(["2025-017", 2, "KOFFI", "Awa", "05/2025", 100, 0])
    ack = path.send_workbook(book, "Heures de mai")
    assert "KOFFI Awa, mai 2025" in ack, ack

    path.exit_by_button(END)
    path.check_outcome(tmp_path, Decimal(360), END)


def test_hire_by_the_embauches_sheet_then_the_whole_path(path: Path13, tmp_path):
    path.candidature_from_prescriber()
    book = path.workbook()
    hires = book["Embauches"]
    for c, value in enumerate(["1", "2025-017", 2, "CDD", f"{START:%d/%m/%Y}", f"{END:%d/%m/%Y}"],
                              start=1):
        hires.cell(row=2, column=c, value=value)
    book["Déclaration"].append(["2025-017", 2, "KOFFI", "Awa", "03/2025", 120, 0])
    ack = path.send_workbook(book, "Embauche et heures de mars")
    assert "Embauche enregistrée : KOFFI Awa" in ack and "KOFFI Awa, mars 2025" in ack, ack

    path.declare_in_chat("04/2025", "140")
    path.declare_in_chat("05/2025", "100")
    path.exit_by_button(END)
    path.check_outcome(tmp_path, Decimal(360), END)


def test_hire_by_the_facilitators_cli_ended_early_then_the_whole_path(path: Path13, tmp_path):
    path.candidature_from_prescriber()
    made = path.cli("contrat", "create", "--candidature", "1", "--marche", "2025-017", "--lot", "2",
                    "--type", "cdd", "--debut", f"{START:%d/%m/%Y}", "--fin", "31/08/2025",
                    "--poste", "Maçon")
    assert made.exit_code == 0, made.output
    assert "Embauche enregistrée : KOFFI Awa" in made.output

    path.declare_in_chat("03/2025", "120")
    book = path.workbook()
    book["Déclaration"].append(["2025-017", 2, "KOFFI", "Awa", "04/2025", 140, 0])
    assert "KOFFI Awa, avril 2025" in path.send_workbook(book, "Heures d'avril")
    path.declare_in_chat("05/2025", "100")

    # an exit while still under contract is refused, in the chat, and writes nothing
    fanny: ConsoleChat = path.fanny
    with path.ctx.db.session() as s:
        pid = s.scalar(select(Participant.id))
    refused = fanny.send(f"/sortie {pid} cdi 10/06/2025")[-1].text
    assert "encore sous contrat le 10/06/2025" in refused
    assert run_job(path.ctx, "exits").done == 0  # planned end 31/08: nobody to ask yet

    ended = dt.date(2025, 6, 10)
    done = path.cli("contrat", "end", "1", "--date", f"{ended:%d/%m/%Y}", "--motif", "fin de chantier")
    assert done.exit_code == 0, done.output
    path.exit_by_button(ended)
    path.check_outcome(tmp_path, Decimal(360), ended)


def test_a_company_without_chat_hears_of_the_validation_by_email(path: Path13):
    """Lot 1 has one holder (Démolition Lyonnaise Sud, no chat account): the prescriber's
    candidature is for it, and its address gets the validation with the « Embauches » way."""
    path.mail(f"Claire Dupuis <{ADVISER}>", "Candidature KOFFI Awa",
              CANDIDATURE.replace("Lot : 2", "Lot : 1").replace("Entreprise : BTP Rhône-Confluent\n", ""))
    path.chat()
    alert = next(m for m in reversed(path.fanny.transcript) if "Candidature n° 1 à valider" in m.text)
    path.fanny.press_data(next(d for label, d in (b for row in alert.buttons for b in row)
                               if "Valider" in label))
    (notice,) = path.sent_to("chantiers@demolition-lyonnaise-sud.example")
    assert str(notice["Subject"]) == "Candidature n° 1 : validée"
    body = notice.get_content()
    assert "proposée par Mission Locale Sud-Ouest pour votre entreprise" in body
    assert "onglet « Embauches »" in body and "candidature n° 1" in body
    assert "BTP" not in body and not any("Candidature n° 1" in m.text for m in path.company.transcript)
