"""The facilitator's control of declared hours, from an EMPTY database: the territory and the
hire by the CLI, the company declares in chat (or by e-mail), the facilitator contests in chat
(or with the CLI), the company is told and corrects, the facilitator validates, and the bilan
shows the contested hours apart until then."""

from __future__ import annotations

import io
import mailbox
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from mail.declaration_template import build_xlsx
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from storage.models import (
    AuditEntry,
    Contract,
    DeclarationStatus,
    Document,
    HourDeclaration,
    OutboxMessage,
)
from tests.journeys.conftest import drain_chat, propose_in_chat, signed_in, validate_in_chat
from tests.mail.conftest import XLSX_MIME, mail_config, make_mail

HIRE = ("contrat", "create", "--candidature", "1", "--marche", "2025-017", "--lot", "2",
        "--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025")
REASON = "heures supérieures au bulletin de paie"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _decl(ctx) -> HourDeclaration:
    with ctx.db.session() as s:
        (decl,) = s.scalars(select(HourDeclaration)).all()
        s.expunge(decl)
        return decl


def _audits(ctx, action: str) -> list[AuditEntry]:
    with ctx.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _button(message, label: str) -> str:
    return next(d for text, d in (b for row in message.buttons for b in row) if label in text)


def test_contest_in_chat_correction_then_validation_and_the_bilan(ctx, territory, cli):
    transport, company, fanny = signed_in(ctx, territory, "company", "facilitator")
    propose_in_chat(company, "Koffi", "Awa")
    validate_in_chat(ctx, transport, fanny, 1)
    assert cli(*HIRE).exit_code == 0

    assert "Aucune déclaration à contrôler" in fanny.send("/controle")[-1].text
    # the company declares in chat, by free text
    assert "Personne : KOFFI Awa" in company.send("Koffi Awa 120h mai 2025")[-1].text
    assert "Déclaration enregistrée" in company.press("Confirmer")[-1].text
    assert _decl(ctx).status == DeclarationStatus.ENREGISTREE

    # a company cannot reach the control, neither by command nor by a forged button
    assert "n'est pas disponible pour votre profil" in company.send("/controle")[-1].text
    company.press_data(f"ctl:v:{_decl(ctx).id}:1")
    assert _decl(ctx).status == DeclarationStatus.ENREGISTREE

    listing = fanny.send("/controle")[-1]
    assert "BTP Rhône-Confluent — mai 2025 — marché 2025-017 : 1 à contrôler" in listing.text
    line = fanny.press_data(_button(listing, "Détail"))[-1]
    assert "KOFFI Awa — mai 2025 — marché 2025-017 lot 2 : 120 h de travail" in line.text
    stale_contest = _button(line, "Contester")
    assert "écrivez le motif" in fanny.press_data(stale_contest)[-1].text
    assert "en quelques mots" in fanny.send("ab")[-1].text  # too short: asked again
    assert _decl(ctx).status == DeclarationStatus.ENREGISTREE
    done = fanny.send(REASON)[-1].text
    assert "Déclaration contestée" in done and "l'entreprise est prévenue" in done
    assert _decl(ctx).status == DeclarationStatus.CONTESTEE
    # contested twice: a clear answer, nothing more sent
    assert "déjà contestée" in fanny.send(f"/controle contester {_decl(ctx).id} autre motif")[-1].text

    drain_chat(ctx, transport)
    notice = company.last
    assert "est contestée par la·le facilitateur·rice" in notice.text
    assert f"Motif : « {REASON} »" in notice.text and notice.labels == ["✏️ Corriger", "📎 Envoyer le justificatif"]

    # the bilan and the company's progress show the contested hours apart, still counted
    point = fanny.send("/point 2025-017")[-1].text
    assert "(dont 120 h contestées, en attente d'un justificatif" in point
    assert "(dont 120 h contestées" in company.send("/avancement")[-1].text
    assert f"❗ contestée : « {REASON} »" in company.send("/mes_declarations")[-1].text

    # the company sends the payslip from the notice's button: stored, back to control
    assert "Envoyez le justificatif" in company.press_data(_button(notice, "justificatif"))[-1].text
    assert "J'attends un fichier" in company.send("le voici")[-1].text
    assert "Justificatif enregistré" in company.send_file(PDF, "bulletin-mai.pdf")[-1].text
    decl = _decl(ctx)
    assert decl.status == DeclarationStatus.ENREGISTREE and decl.proof_document_id is not None
    drain_chat(ctx, transport)
    assert "Justificatif reçu de BTP Rhône-Confluent" in fanny.last.text
    assert "justificatif joint" in fanny.last.text and fanny.last.labels == ["✅ Valider"]
    # the payslip shows 100 h: contested again (one line), the company corrects by button
    again = fanny.send(f"/controle contester {decl.id} le bulletin indique 100 h")[-1].text
    assert "Déclaration contestée" in again
    drain_chat(ctx, transport)
    assert "« le bulletin indique 100 h »" in company.last.text

    # the company corrects from the notice's button: a new revision, back to control
    company.press("Corriger")
    company.send("100")
    company.send("0")
    company.send("erreur de saisie")
    assert "Correction enregistrée (révision 2)" in company.press("Confirmer")[-1].text
    assert _decl(ctx).status == DeclarationStatus.ENREGISTREE
    assert "contestées" not in fanny.send("/point 2025-017")[-1].text

    # the facilitator's old button names revision 1: refused with the new figures
    stale = fanny.press_data(stale_contest)[-1].text
    assert "corrigée entre-temps (révision 2 : 100 h de travail" in stale

    listing = fanny.send("/controle")[-1]
    line = fanny.press_data(_button(listing, "Détail"))[-1]
    assert "(corrigée après la contestation « le bulletin indique 100 h »)" in line.text
    assert "✅ 1 déclaration(s) validée(s)" in fanny.press_data(_button(line, "Valider"))[-1].text
    decl = _decl(ctx)
    assert (decl.status, decl.work_hours, decl.revision) == (DeclarationStatus.VALIDEE, Decimal(100), 2)
    assert "Aucune déclaration à contrôler" in fanny.send("/controle")[-1].text
    assert "— ✅ validée" in company.send("/mes_declarations")[-1].text
    assert "Heures réalisées" in fanny.send("/point 2025-017")[-1].text
    contested = _audits(ctx, "declaration.contested")
    (validated,) = _audits(ctx, "declaration.validated")
    (proof,) = _audits(ctx, "declaration.proof_attached")
    assert [a.detail["reason"] for a in contested] == [REASON, "le bulletin indique 100 h"]
    assert validated.detail["revision"] == 2 and proof.actor_label == "Sophie"
    assert {a.actor_label for a in [*contested, validated]} == {"Fanny Facil"}


RH = "Sophie MARTIN <rh@btp-rhone-confluent.example>"
CANDIDATE = ("Bonjour,\n\nNom : KOFFI\nPrénom : Awa\nDate de naissance : 12/04/1990\n"
             "Critères : RSA\nMarché : 2025-017\nLot : 2\n\nCordialement.")


def _sheet(rows: list[list]) -> bytes:
    workbook = load_workbook(io.BytesIO(build_xlsx()))
    sheet = workbook["Déclaration"]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_contest_by_cli_reaches_a_company_without_chat_by_email(ctx, territory, cli, tmp_path):
    """No chat account: the contest goes to the company's address; its corrected workbook
    reopens the control; the facilitator validates the whole month with the CLI."""
    transport, fanny = signed_in(ctx, territory, "facilitator")
    root = tmp_path / "incoming"
    intake = MaildirIntake(IntakeCore(ctx, mail_config(maildir_in=root)), root, poll_seconds=0.05)
    intake.ensure()
    box = mailbox.Maildir(root, create=True)
    box.add(make_mail(RH, "Candidature KOFFI Awa", CANDIDATE))
    assert intake.run_once() == {"traite": 1}
    validate_in_chat(ctx, transport, fanny, 1)
    assert cli(*HIRE).exit_code == 0
    box.add(make_mail(RH, "Heures d'avril", "ci-joint", attachments=[
        ("heures.xlsx", _sheet([["2025-017", 2, "KOFFI", "Awa", "04/2025", 90, 0]]), XLSX_MIME)]))
    assert intake.run_once() == {"traite": 1}
    decl_id = _decl(ctx).id

    listed = cli("heures", "controle", "liste", "--mois", "avril 2025")
    assert "BTP Rhône-Confluent" in listed.output and "avril 2025" in listed.output
    detail = cli("heures", "controle", "detail", "--entreprise", "BTP Rhône-Confluent",
                 "--mois", "04/2025")
    assert f"{decl_id}" in detail.output and "à contrôler" in detail.output

    # bad inputs: French answers, nothing written
    for args, expected in [
        (("contester", str(decl_id), "--motif", "x"), "motif de la contestation en quelques mots"),
        (("contester", str(decl_id), "--motif", "trop", "--revision", "3"), "corrigée entre-temps"),
        (("valider",), "soit des n° de déclaration"),
        (("valider", "--entreprise", "BTP Rhône-Confluent"), "--entreprise ET --mois"),
        (("valider", "--entreprise", "Inconnue SA", "--mois", "04/2025"), "introuvable"),
        (("liste", "--mois", "avrol"), "Mois non reconnu"),
        (("contester", "999", "--motif", "motif valable"), "introuvable"),
    ]:
        out = cli("heures", "controle", *args)
        assert out.exit_code != 0 and expected in out.output, (args, out.output)
    assert _decl(ctx).status == DeclarationStatus.ENREGISTREE

    out = cli("heures", "controle", "contester", str(decl_id), "--motif", REASON, "--revision", "1")
    assert out.exit_code == 0 and "1 message(s) à l'entreprise" in out.output, out.output
    with ctx.db.session() as s:
        (mail,) = s.scalars(select(OutboxMessage).where(
            OutboxMessage.dedup_key.like(f"declaration:{decl_id}:%"))).all()
    assert mail.to_address == "rh@btp-rhone-confluent.example"
    assert mail.subject == f"Déclaration contestée : KOFFI Awa, avril 2025 [déclaration n° {decl_id}]"
    assert REASON in mail.body_text and "raison de correction" in mail.body_text

    # the payslip, by replying: another company's address is refused, the company's is stored
    payslip = [("bulletin-avril.pdf", PDF, "application/pdf")]
    box.add(make_mail("contact@maconnerie-saint-genis.example", f"RE: {mail.subject}", "ci-joint",
                      attachments=payslip))
    box.add(make_mail(RH, f"RE: {mail.subject}", "Voici le bulletin.", attachments=payslip))
    assert intake.run_once() == {"erreur": 1, "traite": 1}
    decl = _decl(ctx)
    assert decl.status == DeclarationStatus.ENREGISTREE and decl.proof_document_id is not None
    with ctx.db.session() as s:
        doc = s.get(Document, decl.proof_document_id)
        assert (doc.kind, doc.display_name, doc.participant_id) == (
            "proof", "bulletin-avril.pdf", s.get(Contract, decl.contract_id).participant_id)
        replies = {m.to_address: m.body_text for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.subject.like("%[déclaration n°%")))}
    assert "Justificatif enregistré (bulletin-avril.pdf)" in replies["rh@btp-rhone-confluent.example"]
    assert "n'est pas celle de l'entreprise" in replies["contact@maconnerie-saint-genis.example"]
    drain_chat(ctx, transport)
    assert "Justificatif reçu de BTP Rhône-Confluent" in fanny.last.text
    # the payslip says 70 h: contested again, then the company corrects with its workbook
    out = cli("heures", "controle", "contester", str(decl_id), "--motif", "le bulletin indique 70 h")
    assert out.exit_code == 0, out.output

    box.add(make_mail(RH, "Heures d'avril corrigées", "ci-joint", attachments=[
        ("heures.xlsx", _sheet([["2025-017", 2, "KOFFI", "Awa", "04/2025", 70, 0, "bulletin"]]),
         XLSX_MIME)]))
    assert intake.run_once() == {"traite": 1}
    assert (_decl(ctx).status, _decl(ctx).work_hours) == (DeclarationStatus.ENREGISTREE, Decimal(70))

    out = cli("heures", "controle", "valider", "--entreprise", "BTP Rhône-Confluent",
              "--mois", "04/2025")
    assert out.exit_code == 0 and "Validée : n° " in out.output and "70 h de travail" in out.output
    assert _decl(ctx).status == DeclarationStatus.VALIDEE
    again = cli("heures", "controle", "valider", "--entreprise", "BTP Rhône-Confluent",
                "--mois", "04/2025")
    assert "Aucune déclaration à valider" in again.output
    assert _decl(ctx).controlled_at is not None
    assert "Exemple" in cli("heures", "controle", "--help").output
