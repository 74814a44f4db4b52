"""E-mail as people really write it, from an EMPTY database: the territory comes from the
example import and the CLI, everything else arrives in the Maildir as prescribers and companies
send it. Each test asserts what was recorded, what each person received and the folder the
message was filed in (`.Traités`, `.Erreurs`, `.Quarantaine`)."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from clauses.context import Context
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from storage.models import Alert, AlertKind, Candidature, InboundMail, OutboxMessage, Participant
from tests.journeys.conftest import Run
from tests.mail.conftest import mail_config, make_mail

CONSEILLER = "Paul Conseiller <paul.conseiller@ml-sud.example>"
CONSEILLER_ADDR = "paul.conseiller@ml-sud.example"
SIGNATURE = ("\n\n--\nPaul CONSEILLER\nConseiller emploi\nMission Locale Sud\n"
             "Tél. 04 72 00 00 00\npaul.conseiller@ml-sud.example")


class Mailroom:
    """The incoming Maildir and its intake, as `clausebot run` wires them."""

    def __init__(self, ctx: Context, root: Path) -> None:
        self.root = root
        self.intake = MaildirIntake(IntakeCore(ctx, mail_config(maildir_in=root)), root, poll_seconds=0.05)
        self.intake.ensure()
        self.box = mailbox.Maildir(root, create=True)
        self.ctx = ctx

    def send(self, raw: bytes) -> str:
        """Drop a message; its Message-ID (to find where it was filed)."""
        self.box.add(raw)
        return mailbox.MaildirMessage(raw)["Message-ID"]

    def run(self) -> dict[str, int]:
        return self.intake.run_once()

    def folder_of(self, message_id: str) -> str:
        """The folder a processed message was moved to."""
        for folder in self.box.list_folders():
            for message in self.box.get_folder(folder):
                if message["Message-ID"] == message_id:
                    return folder
        raise AssertionError(f"{message_id} was not filed")

    def replies(self, to: str) -> list[OutboxMessage]:
        with self.ctx.db.session() as s:
            return list(s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == to)
                                  .order_by(OutboxMessage.id)))

    def delivered(self, to: str) -> list[EmailMessage]:
        """Send the outbox into the outgoing Maildir (as `clausebot run` does with no SMTP
        server); the messages `to` received there."""
        import asyncio
        from email import message_from_bytes, policy

        from mail.outbox_sender import OutboxSender
        from mail.transport import MaildirTransport

        out = self.root.parent / "outgoing"
        cfg = mail_config(maildir_out=out)
        asyncio.run(OutboxSender(self.ctx.db, self.ctx.documents, MaildirTransport(out), cfg).send_due())
        received = [message_from_bytes(path.read_bytes(), policy=policy.default)
                    for path in sorted((out / "new").iterdir())]
        return [m for m in received if isinstance(m, EmailMessage) and str(m["To"]) == to]

    def alerts(self) -> list[str]:
        with self.ctx.db.session() as s:
            return list(s.scalars(select(Alert.message).where(Alert.kind == AlertKind.EMAIL_A_TRAITER)
                                  .order_by(Alert.id)))


def _candidatures(ctx: Context) -> list[tuple[str, str, str | None, int | None]]:
    """(last name, first name, market, lot) of every recorded candidature."""
    from storage.models import Lot, Market

    with ctx.db.session() as s:
        rows = s.execute(select(Participant.last_name, Participant.first_name, Market.reference, Lot.number)
                         .select_from(Candidature).join(Participant, Candidature.participant_id == Participant.id)
                         .outerjoin(Lot, Candidature.lot_id == Lot.id)
                         .outerjoin(Market, Lot.market_id == Market.id).order_by(Candidature.id))
        return [tuple(r) for r in rows]


def test_prescribers_in_four_styles_and_a_signature_only_mail(ctx, cli: Run, territory, tmp_path):
    made = cli("prescripteur", "create", "--nom", "Mission Locale Sud", "--type", "mission_locale",
               "--email", CONSEILLER_ADDR)
    assert made.exit_code == 0, made.output
    room = Mailroom(ctx, tmp_path / "incoming")

    subject_style = room.send(make_mail(
        CONSEILLER, "Candidature marché 2025-017 – lot 05 : Mme Awa KOFFI",
        "Bonjour,\n\nJe vous propose la candidature de :\nNom : KOFFI\nPrénom : Awa\n"
        "Date de naissance : 12/04/1990\nCritères : RSA, DELD\n\nCordialement," + SIGNATURE))
    pipe_table = room.send(make_mail(
        CONSEILLER, "Proposition de candidat",
        "Bonjour,\n\nVoici un candidat pour vos chantiers :\n\n"
        "| Marché | 2025-017 – lot 05 |\n| Nom | DIALLO |\n| Prénom | Moussa |\n"
        "| Date de naissance | 03/07/1998 |\n| Critères | Jeune de moins de 26 ans, QPV |\n\n"
        "Bien à vous," + SIGNATURE))
    html_table = room.send(make_mail(
        CONSEILLER, "Candidature peinture", "Voir le tableau ci-dessous." + SIGNATURE,
        html="<p>Bonjour,</p><table><tr><th>Marché</th><td>2025-017 lot 5</td></tr>"
             "<tr><th>Nom</th><td>NGUYEN</td></tr><tr><th>Prénom</th><td>Linh</td></tr>"
             "<tr><th>Date de naissance</th><td>21/11/1985</td></tr>"
             "<tr><th>Critères</th><td>RSA</td></tr></table>"
             "<p>Cordialement,<br>Paul CONSEILLER<br>Mission Locale Sud</p>"))
    forwarded = room.send(make_mail(
        CONSEILLER, "TR: candidature marché 2025-017 - lot 5",
        "Bonjour, je vous transfère la candidature reçue de ma collègue.\n\n"
        "-------- Message transféré --------\nDe : Julie Dupont <julie.dupont@ml-sud.example>\n"
        "Objet : candidature\n\nNom : PEREIRA\nPrénom : Ana\nDate de naissance : 30/01/1979\n"
        "Critères : DELD\n" + SIGNATURE))
    signature_only = room.send(make_mail(
        CONSEILLER, "Candidature", "Bonjour,\n\nCi-joint une candidature pour le lot peinture.\n\n"
        "Cordialement," + SIGNATURE))
    assert room.run() == {"traite": 5}

    assert _candidatures(ctx) == [("KOFFI", "Awa", "2025-017", 5), ("DIALLO", "Moussa", "2025-017", 5),
                                  ("NGUYEN", "Linh", "2025-017", 5), ("PEREIRA", "Ana", "2025-017", 5)]
    with ctx.db.session() as s:  # the prescriber never became a candidate
        assert s.scalar(select(Participant.id).where(Participant.last_name.ilike("conseiller"))) is None
    for message_id in (subject_style, pipe_table, html_table, forwarded, signature_only):
        assert room.folder_of(message_id) == "Traités"
    replies = room.replies(CONSEILLER_ADDR)
    assert len(replies) == 5
    for reply, name in zip(replies, ("Awa KOFFI (n° 1)", "Moussa DIALLO (n° 2)", "Linh NGUYEN (n° 3)",
                                     "Ana PEREIRA (n° 4)"), strict=False):
        assert f"Nous avons bien reçu la candidature de {name}" in reply.body_text
    assert "transmis à la personne chargée du suivi" in replies[-1].body_text
    (alert,) = room.alerts()
    assert "rien n'a été enregistré" in alert and "Candidature" in alert
    subjects = sorted(str(m["Subject"]) for m in room.delivered("fanny@agence.test"))
    assert len(subjects) == 5
    for number, name in ((1, "KOFFI Awa"), (2, "DIALLO Moussa"), (3, "NGUYEN Linh"), (4, "PEREIRA Ana")):
        assert f"[clausebot] Candidature n° {number} à valider : {name} pour Peintures du Pilat" in subjects[number - 1]
    assert subjects[4].startswith("[clausebot] Candidature reçue par e-mail de Paul Conseiller "
                                  "(Mission Locale Sud) <paul.conseiller@ml-sud.example>")
    with ctx.db.session() as s:
        outcomes = list(s.scalars(select(InboundMail.kind).order_by(InboundMail.id)))
    assert outcomes[-1] == "candidature_a_saisir"


# -- companies: their own spreadsheets, questions, the template -----------------------------------

RH = "Sophie MARTIN <rh@btp-rhone-confluent.example>"
RH_ADDR = "rh@btp-rhone-confluent.example"
PEOPLE = (("KOFFI", "Awa", "12/04/1990"), ("DIALLO", "Moussa", "03/07/1998"), ("NGUYEN", "Linh", "21/11/1985"))


def _xlsx(*sheets: tuple[str, list[list[object]]]) -> bytes:
    """A workbook as a company saves it: its own sheet names and headers."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _hired_people(ctx: Context, cli: Run, territory: dict[str, str], room: Mailroom) -> None:
    """The company proposes three people by e-mail, the facilitator validates them in chat, the
    contracts are entered with the CLI: what a company has before it declares hours."""
    from bot.console import ConsoleTransport
    from bot.core import ChatCore
    from tests.journeys.conftest import validate_in_chat

    transport = ConsoleTransport(ChatCore(ctx))
    fanny = transport.chat(2)
    fanny.send(territory["facilitator"])
    for last, first, born in PEOPLE:
        room.send(make_mail(RH, f"Candidature {last} {first}",
                            f"Bonjour,\n\nNom : {last}\nPrénom : {first}\nDate de naissance : {born}\n"
                            "Critères : RSA\nMarché : 2025-017\nLot : 2\n\nCordialement."))
    assert room.run() == {"traite": 3}
    for number in (1, 2, 3):
        validate_in_chat(ctx, transport, fanny, number)
        made = cli("contrat", "create", "--candidature", str(number), "--marche", "2025-017", "--lot", "2",
                   "--type", "cdd", "--debut", "03/02/2025", "--fin", "31/12/2025")
        assert made.exit_code == 0, made.output


def _declared(ctx: Context) -> set[tuple[str, str, float]]:
    """(last name, month YYYY-MM, work hours) of every hour declaration."""
    from storage.models import Contract, HourDeclaration

    with ctx.db.session() as s:
        rows = s.execute(select(Participant.last_name, HourDeclaration.month, HourDeclaration.work_hours)
                         .join(Contract, HourDeclaration.contract_id == Contract.id)
                         .join(Participant, Contract.participant_id == Participant.id))
        return {(last, month.strftime("%Y-%m"), float(hours)) for last, month, hours in rows}


def test_company_spreadsheets_in_their_own_layouts(ctx, cli: Run, territory, tmp_path):
    from tests.mail.conftest import XLSX_MIME

    room = Mailroom(ctx, tmp_path / "incoming")
    _hired_people(ctx, cli, territory, room)
    before = len(room.replies(RH_ADDR))

    def declare(subject: str, *files: tuple[str, bytes]) -> str:
        return room.send(make_mail(RH, subject, "Bonjour,\n\nCi-joint nos heures.\n\nSophie MARTIN",
                                   attachments=[(name, data, XLSX_MIME) for name, data in files]))

    participant_column = declare("Heures février", ("heures-fevrier.xlsx", _xlsx(("Feuil1", [
        ["Participant", "Marché", "Lot", "Mois", "Heures"],
        ["KOFFI Awa", "2025-017", 2, "02/2025", 120],
        ["Moussa Diallo", "2025-017", 2, "février 2025", 100]]))))
    market_lot_column = declare("Heures mars", ("mars.xlsx", _xlsx(("Relevé", [
        ["NOM", "Prénom", "Marché / lot", "Période", "Heures travaillées"],
        ["Koffi", "Awa", "2025-017 lot 2", "03/2025", 121],
        ["DIALLO", "Moussa", "2025-017 - lot 02", "03/2025", 101]]))))
    months_as_columns = declare("Heures NGUYEN", ("nguyen.xlsx", _xlsx(("Heures", [
        ["Salarié", "Marché", "Lot", "février 2025", "mars 2025"],
        ["NGUYEN Linh", "2025-017", 2, 70, 72]]))))
    two_sheets = declare("Heures avril et mai", ("koffi.xlsx", _xlsx(
        ("Avril", [["Nom", "Prénom", "Marché", "Lot", "Mois", "Heures"],
                  ["KOFFI", "Awa", "2025-017", 2, "04/2025", 130]]),
        ("Mai", [["Nom", "Prénom", "Marché", "Lot", "Mois", "Heures"],
                 ["KOFFI", "Awa", "2025-017", 2, "05/2025", 131]]))))
    header = ["Nom", "Prénom", "Marché", "Lot", "Mois", "Heures"]
    two_files = declare("Heures avril et mai DIALLO",
                        ("avril.xlsx", _xlsx(("Feuil1", [header, ["DIALLO", "Moussa", "2025-017", 2, "04/2025", 103]]))),
                        ("mai.xlsx", _xlsx(("Feuil1", [header, ["DIALLO", "Moussa", "2025-017", 2, "05/2025", 104]]))))
    three_files_raw = make_mail(RH, "Heures avril, mai, juin NGUYEN", "Ci-joint les trois mois.", attachments=[
        (name, _xlsx(("Feuil1", [header, ["NGUYEN", "Linh", "2025-017", 2, month, hours]])), XLSX_MIME)
        for name, month, hours in (("m4.xlsx", "04/2025", 73), ("m5.xlsx", "05/2025", 74), ("m6.xlsx", "06/2025", 75))])
    three_files = room.send(three_files_raw)
    assert room.run() == {"traite": 6}

    assert _declared(ctx) == {
        ("KOFFI", "2025-02", 120.0), ("DIALLO", "2025-02", 100.0),
        ("KOFFI", "2025-03", 121.0), ("DIALLO", "2025-03", 101.0),
        ("NGUYEN", "2025-02", 70.0), ("NGUYEN", "2025-03", 72.0),
        ("KOFFI", "2025-04", 130.0), ("KOFFI", "2025-05", 131.0),
        ("DIALLO", "2025-04", 103.0), ("DIALLO", "2025-05", 104.0),
        ("NGUYEN", "2025-04", 73.0), ("NGUYEN", "2025-05", 74.0), ("NGUYEN", "2025-06", 75.0)}
    for message_id in (participant_column, market_lot_column, months_as_columns, two_sheets, two_files,
                       three_files):
        assert room.folder_of(message_id) == "Traités"
    acks = room.replies(RH_ADDR)[before:]
    assert len(acks) == 6
    assert all("introuvable" not in ack.body_text and not ack.attachments for ack in acks)

    # The same mail delivered again (same Message-ID): only filed, nothing recorded, no reply.
    room.send(three_files_raw)
    assert room.run() == {"traite": 1}
    assert len(_declared(ctx)) == 13 and len(room.replies(RH_ADDR)) == before + 6
    # The company sends the same files again in a new mail: nothing new, and said so plainly.
    again = room.send(make_mail(RH, "Heures avril, mai, juin NGUYEN (renvoi)", "Je renvoie.",
                                attachments=_attachments(three_files_raw)))
    room.run()
    assert len(_declared(ctx)) == 13
    answer = room.replies(RH_ADDR)[-1].body_text
    assert "Ce fichier correspond exactement à des heures déjà enregistrées : rien n'a changé." in answer
    assert "Des heures sont déjà déclarées" not in answer
    assert room.folder_of(again) == "Traités"  # acknowledged, not an error


def _attachments(raw: bytes) -> list[tuple[str, bytes, str]]:
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    return [(part.get_filename() or "", part.get_payload(decode=True), part.get_content_type())
            for part in message.iter_attachments()]  # type: ignore[attr-defined]


def test_company_questions_reach_a_person_and_the_template_only_when_asked(ctx, cli: Run, territory, tmp_path):
    room = Mailroom(ctx, tmp_path / "incoming")
    question = room.send(make_mail(
        RH, "Question déclaration",
        "Bonjour,\n\nUn de nos salariés était en arrêt maladie en mai : faut-il déclarer ses heures "
        "à part ou les laisser à zéro ?\n\nMerci d'avance,\nSophie MARTIN"))
    complaint = room.send(make_mail(
        RH, "Relance", "Bonjour,\n\nNous n'avons toujours pas de réponse pour la convention de "
        "notre chantier, pouvez-vous nous rappeler ?\n\nSophie MARTIN"))
    template = room.send(make_mail(
        RH, "Modèle", "Bonjour,\n\nPouvez-vous m'envoyer le modèle de déclaration des heures ?\n\nMerci"))
    assert room.run() == {"traite": 3}

    alerts = room.alerts()
    assert len(alerts) == 2
    assert "faut-il déclarer ses heures à part" in alerts[0] and "Question déclaration" in alerts[0]
    assert "pouvez-vous nous rappeler" in alerts[1]
    told, told_again, sent_template = room.replies(RH_ADDR)
    for reply in (told, told_again):
        assert not reply.attachments and "transmis" in reply.body_text
    assert sent_template.attachments and "modèle" in sent_template.body_text.lower()
    for message_id in (question, complaint, template):
        assert room.folder_of(message_id) == "Traités"
    inbox = room.delivered(RH_ADDR)
    files = {str(m["Subject"]): [a.get_filename() or "" for a in m.iter_attachments()] for m in inbox}
    assert set(files) == {"Re: Question déclaration", "Re: Relance", "Re: Modèle"}
    assert files["Re: Question déclaration"] == files["Re: Relance"] == []
    assert any(name.endswith(".xlsx") for name in files["Re: Modèle"])
    facilitator = sorted(str(m["Subject"]) for m in room.delivered("fanny@agence.test"))
    assert len(facilitator) == 2 and "« Question déclaration »" in facilitator[0]
    assert "Sophie MARTIN (BTP Rhône-Confluent) <rh@btp-rhone-confluent.example>" in facilitator[0]
    assert "« Relance »" in facilitator[1]


def test_a_company_file_nobody_can_read_names_each_row(ctx, cli: Run, territory, tmp_path):
    from tests.mail.conftest import XLSX_MIME

    room = Mailroom(ctx, tmp_path / "incoming")
    _hired_people(ctx, cli, territory, room)
    before = len(room.replies(RH_ADDR))
    bad = room.send(make_mail(RH, "Heures mai", "Ci-joint.", attachments=[("mai.xlsx", _xlsx(("Feuil1", [
        ["Participant", "Marché / lot", "Mois", "Heures"],
        ["KOFFI Awa", "2025-017 lot 2", "05/2025", 120],
        ["Jean INCONNU", "2025-017 lot 2", "05/2025", 35],
        ["DIALLO Moussa", "2025-017 lot 2", "le mois dernier", 35],
        ["NGUYEN Linh", "2025-017 lot 2", "05/2025", "beaucoup"]])), XLSX_MIME)]))
    assert room.run() == {"traite": 1}
    assert _declared(ctx) == {("KOFFI", "2025-05", 120.0)}
    (answer,) = room.replies(RH_ADDR)[before:]
    text = answer.body_text
    assert "Lignes refusées (3)" in text and "introuvable" not in text.split("Lignes refusées")[0]
    assert "- ligne 2 : KOFFI Awa, mai 2025 : 120 h de travail" in text
    assert "- ligne 3 : « Jean INCONNU » ne correspond à aucune personne" in text
    assert "- ligne 4 : Mois non reconnu : « le mois dernier ». Écrivez par exemple" in text
    assert "- ligne 5 : Nombre non reconnu : « beaucoup »." in text
    assert room.folder_of(bad) == "Traités"  # one line was recorded


def test_two_and_three_spreadsheets_through_dovecot_and_smtp(ctx, cli: Run, territory, tmp_path,
                                                            imap_account, smtp_sink):
    """The same company mails as above, through a real IMAP mailbox and SMTP server: every line
    of every file recorded, the message filed in « Traités », the acknowledgement on the wire
    names each file's line 2, and the mail found again in the mailbox records nothing."""
    from mail.imap_intake import ImapIntake
    from tests.mail.conftest import XLSX_MIME, deliver, imap_config

    _hired_people(ctx, cli, territory, Mailroom(ctx, tmp_path / "incoming"))
    cfg = mail_config(imap_config(imap_account))
    intake = ImapIntake(IntakeCore(ctx, cfg), cfg.imap)
    header = ["Salarié", "Marché / lot", "Mois", "Heures"]
    two = make_mail(RH, "Heures mai et juin DIALLO", "Bonjour, mai et juin en deux fichiers.",
                    message_id="<two-files@btp-rhone-confluent.example>", attachments=[
                        (f"{month}.xlsx", _xlsx(("Feuil1", [header, ["DIALLO Moussa", "2025-017 lot 2", f"{month} 2025", h]])),
                         XLSX_MIME) for month, h in (("mai", 90), ("juin", 91))])
    three = make_mail(RH, "Heures NGUYEN", "Trois fichiers.", attachments=[
        (f"nguyen-{n}.xlsx", _xlsx(("Feuil1", [header, ["NGUYEN Linh", "2025-017 lot 2", f"0{n}/2025", 60 + n]])),
         XLSX_MIME) for n in (3, 4, 5)])
    imap_account.append("INBOX", two)
    imap_account.append("INBOX", three)
    intake.run_once()

    assert _declared(ctx) == {("DIALLO", "2025-05", 90.0), ("DIALLO", "2025-06", 91.0),
                              ("NGUYEN", "2025-03", 63.0), ("NGUYEN", "2025-04", 64.0),
                              ("NGUYEN", "2025-05", 65.0)}
    assert len(imap_account.folder_uids("Traités")) == 2 and not imap_account.folder_uids("INBOX")
    deliver(ctx, cfg, smtp_sink)
    acks = {m.subject: m.text_body() for m in smtp_sink.messages_to(RH_ADDR)}
    assert "Lignes enregistrées (2)" in acks["Re: Heures mai et juin DIALLO"]
    assert "Lignes enregistrées (3)" in acks["Re: Heures NGUYEN"]
    assert "refusées" not in acks["Re: Heures NGUYEN"]

    sent = len(smtp_sink.messages)
    imap_account.append("INBOX", three)  # found again (a copy restored by a mail client)
    intake.run_once()
    assert len(_declared(ctx)) == 5 and len(imap_account.folder_uids("Traités")) == 3
    deliver(ctx, cfg, smtp_sink)
    assert len(smtp_sink.messages) == sent  # nothing recorded, nobody told twice


def test_a_csv_from_french_excel_and_months_as_date_cells(ctx, cli: Run, territory, tmp_path):
    """A CSV saved by a French Excel (Windows-1252, semicolons, « 12,5 », month cells shown
    « févr-25 »), and a workbook whose month columns are date cells next to a « Total » column."""
    import datetime as dt

    from tests.mail.conftest import XLSX_MIME

    room = Mailroom(ctx, tmp_path / "incoming")
    _hired_people(ctx, cli, territory, room)
    before = len(room.replies(RH_ADDR))
    csv = ("Nom;Prénom;N° marché;N° lot;Mois;Nb heures\r\n"
           "KOFFI;Awa;2025-017;2;02/2025;12,5\r\n"
           "DIALLO;Moussa;2025-017;lot 2;févr-25;7\r\n"
           "DIALLO;Moussa;2025-017;2;Total-25;7\r\n").encode("cp1252")
    from_csv = room.send(make_mail(RH, "Heures février", "Ci-joint.", attachments=[("heures.csv", csv, "text/csv")]))
    dates = _xlsx(("Feuil1", [
        ["Nom Prénom", "Marché", "Lot", dt.datetime(2025, 3, 1), dt.datetime(2025, 4, 1), "Total"],
        ["NGUYEN Linh", "2025-017", "02", 10, 11, 21]]))
    from_dates = room.send(make_mail(RH, "Heures NGUYEN", "Ci-joint.", attachments=[("dates.xlsx", dates, XLSX_MIME)]))
    assert room.run() == {"traite": 2}

    assert _declared(ctx) == {("KOFFI", "2025-02", 12.5), ("DIALLO", "2025-02", 7.0),
                              ("NGUYEN", "2025-03", 10.0), ("NGUYEN", "2025-04", 11.0)}
    csv_ack, dates_ack = (r.body_text for r in room.replies(RH_ADDR)[before:])
    assert "ligne 3 : DIALLO Moussa, février 2025 : 7 h de travail" in csv_ack
    assert "ligne 4 : Mois non reconnu : « Total-25 »." in csv_ack
    assert "Lignes enregistrées (2)" in dates_ack and "refusées" not in dates_ack
    assert room.folder_of(from_csv) == room.folder_of(from_dates) == "Traités"
