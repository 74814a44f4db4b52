"""E-mail as people really write it, from an EMPTY database: the territory comes from the
example import and the CLI, everything else arrives in the Maildir as prescribers and companies
send it. Each test asserts what was recorded, what each person received and the folder the
message was filed in (`.Traités`, `.Erreurs`, `.Quarantaine`)."""

from __future__ import annotations

import mailbox
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
    assert "transmis à la personne chargée du suivi" in replies[-1].body_text
    (alert,) = room.alerts()
    assert "rien n'a été enregistré" in alert and "Candidature" in alert
    with ctx.db.session() as s:
        outcomes = list(s.scalars(select(InboundMail.kind).order_by(InboundMail.id)))
    assert outcomes[-1] == "candidature_a_saisir"
