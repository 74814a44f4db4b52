"""Hire by e-mail, from an empty database: the company e-mails candidatures, the facilitator
validates them in chat, the company asks for the template, fills its « Embauches » sheet and the
first month on the « Déclaration » sheet of the same workbook, and drops it in the Maildir."""

from __future__ import annotations

import datetime as dt
import io
import mailbox
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from storage.models import (
    Candidature,
    CandidatureStatus,
    Contract,
    Document,
    HourDeclaration,
    OutboxMessage,
)
from tests.journeys.conftest import signed_in, validate_in_chat
from tests.mail.conftest import XLSX_MIME, mail_config, make_mail

RH = "Sophie MARTIN <rh@btp-rhone-confluent.example>"
CANDIDATE = ("Bonjour,\n\nNom : KOFFI\nPrénom : Awa\nDate de naissance : 12/04/1990\n"
             "Critères : RSA\nMarché : 2025-017\nLot : 2\n\nCordialement.")


def _replies(ctx) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.to_address == "rh@btp-rhone-confluent.example").order_by(OutboxMessage.id)))


def _fill(sheet, rows: list[list]) -> None:
    """Type the rows under the headers, as a person fills the template's formatted cells."""
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            sheet.cell(row=r, column=c, value=value)


def test_company_hires_and_declares_the_first_month_in_one_workbook(ctx, territory, tmp_path, cli):
    root = tmp_path / "incoming"
    intake = MaildirIntake(IntakeCore(ctx, mail_config(maildir_in=root)), root, poll_seconds=0.05)
    intake.ensure()
    box = mailbox.Maildir(root, create=True)
    transport, fanny = signed_in(ctx, territory, "facilitator")

    box.add(make_mail(RH, "Candidature KOFFI Awa", CANDIDATE))
    box.add(make_mail(RH, "Candidature KOFFI Awa (bis)", CANDIDATE))  # the same person again
    box.add(make_mail(RH, "Demande de modèle de déclaration", "Pouvez-vous m'envoyer le modèle ?"))
    assert intake.run_once() == {"traite": 3}
    validate_in_chat(ctx, transport, fanny, 1)
    validate_in_chat(ctx, transport, fanny, 2)
    # By e-mail nobody can confirm « the same person »: the facilitator is shown the possible
    # duplicate and merges the two records with the alert's button (one person, one record).
    duplicate = next(m for m in reversed(fanny.transcript) if "Fusionner" in " ".join(
        label for row in m.buttons for label, _ in row))
    merge = next(d for label, d in (b for row in duplicate.buttons for b in row) if "Fusionner" in label)
    fanny.press_data(merge)

    (template,) = [m for m in _replies(ctx) if m.attachments]
    decision = next(m for m in _replies(ctx) if m.dedup_key == "candidature:1:decision")
    assert "déclarez l'embauche dans l'onglet « Embauches »" in decision.body_text
    with ctx.db.session() as s:  # the .xlsx of the attached templates
        doc = next(d for d in (s.get(Document, a["document_id"]) for a in template.attachments)
                   if d.display_name.endswith(".xlsx"))
        workbook = load_workbook(io.BytesIO(ctx.documents.read(doc)))
    assert workbook.sheetnames[:2] == ["Déclaration", "Embauches"]
    hires = workbook["Embauches"]
    assert [c.value for c in hires[1]][:6] == [
        "candidature", "marche", "lot", "type_contrat", "date_debut", "date_fin"]
    _fill(hires, [
        [1, "2025-017", 2, "CDD", "03/03/2025", "31/08/2025", None, "Maçon"],
        [2, "2025-017", 2, "CDD", "01/04/2025", "30/09/2025"],  # overlaps the first
        [99, "2025-017", 2, "CDD", "01/04/2025", "30/09/2025"],  # no such candidature
        [1, "2025-017", 2, "CDD", "le 3 mars"],  # unreadable date
        [2, "2025-017", 1, "CDD", "01/10/2025", "31/12/2025"],  # a lot the company does not hold
    ])
    _fill(workbook["Déclaration"], [["2025-017", 2, "KOFFI", "Awa", "03/2025", 80, 0]])
    filled = io.BytesIO()
    workbook.save(filled)

    box.add(make_mail(RH, "Embauche et heures de mars", "ci-joint",
                      attachments=[("heures.xlsx", filled.getvalue(), XLSX_MIME)]))
    assert intake.run_once() == {"traite": 1}
    with ctx.db.session() as s:
        (contract,) = s.scalars(select(Contract)).all()
        assert (contract.candidature_id, contract.start_date, contract.end_date,
                contract.job_title) == (1, dt.date(2025, 3, 3), dt.date(2025, 8, 31), "Maçon")
        (decl,) = s.scalars(select(HourDeclaration)).all()
        assert (decl.contract_id, decl.month, decl.work_hours) == (
            contract.id, dt.date(2025, 3, 1), Decimal(80))
        statuses = dict(s.execute(select(Candidature.id, Candidature.status)).all())
        assert statuses == {1: CandidatureStatus.EMBAUCHEE, 2: CandidatureStatus.VALIDEE}
    ack = _replies(ctx)[-1].body_text
    assert "Embauches enregistrées (1)" in ack
    assert "onglet Embauches, ligne 2 : Embauche enregistrée : KOFFI Awa, CDD du 03/03/2025" in ack
    assert "onglet Embauches, ligne 3 : Cette personne a déjà un contrat sur ce lot" in ack
    assert "onglet Embauches, ligne 4 : La candidature n° 99 est introuvable" in ack
    assert "onglet Embauches, ligne 5 : Date de début : date illisible" in ack
    assert ("onglet Embauches, ligne 6 : L'entreprise n'a pas d'engagement sur le marché "
            "2025-017, lot 1") in ack
    assert "ligne 2 : KOFFI Awa, mars 2025" in ack

    # the same file again: nothing twice
    box.add(make_mail(RH, "Embauche et heures de mars (renvoi)", "ci-joint",
                      attachments=[("heures.xlsx", filled.getvalue(), XLSX_MIME)]))
    assert intake.run_once() == {"traite": 1}
    assert "déjà enregistrée (contrat n° 1" in _replies(ctx)[-1].body_text
    with ctx.db.session() as s:
        assert len(s.scalars(select(Contract)).all()) == 1
