"""Job offer, from an EMPTY database (issue 21's done-when): the company files an offer in chat,
the facilitator approves it by button, it is e-mailed to the partners (SMTP sink), two
prescribers apply by e-mail quoting OFF-1 (Dovecot IMAP), the facilitator validates both and sends
the pre-selection, the company chooses one in chat and hires her with the usual guided hire,
and the other's prescriber is told with initials only. Bad input along the way writes nothing."""

from __future__ import annotations

import mailbox

from sqlalchemy import select

from mail.imap_intake import ImapIntake
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from storage.models import (
    Alert,
    Candidature,
    CandidatureStatus,
    Contract,
    JobOffer,
    JobOfferStatus,
    OutboxMessage,
)
from tests.dialogue import converse
from tests.journeys.conftest import drain_chat, hire_in_chat, signed_in, validate_in_chat
from tests.mail.conftest import deliver, imap_config, mail_config, make_mail
from tests.queries import count_rows

FT = "Paul Conseil <paul@francetravail.example>"
ML = "Lina Suivi <lina@ml-sud.example>"
OFFER = "/offre 2025-017 2 ; Maçon coffreur ; Oullins ; 01/09/2025 ; 6 ; 35 ; 1"


def _application(last: str, first: str) -> str:
    return f"Bonjour,\n\nNom : {last}\nPrénom : {first}\nCritères : RSA\n\nCordialement."


def _emails_to(ctx, address: str) -> list[OutboxMessage]:
    with ctx.db.session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address)
                              .order_by(OutboxMessage.id)))


def test_offer_broadcast_applications_preselection_hire(ctx, territory, cli, tmp_path, smtp_sink,
                                                     imap_account):
    for args in (("--nom", "France Travail Oullins", "--type", "france_travail",
                  "--email", "paul@francetravail.example"),
                 ("--nom", "Mission Locale Sud", "--type", "mission_locale",
                  "--email", "lina@ml-sud.example")):
        made = cli("prescripteur", "create", *args)
        assert made.exit_code == 0, made.output
    transport, company, fanny = signed_in(ctx, territory, "company", "facilitator")

    # bad input in chat: a lot the company does not hold, an incomplete line — nothing written
    refused = company.send("/offre 2025-017 1 ; Démolisseur ; Oullins ; 01/09/2025 ; 6 ; 35 ; 1")[-1].text
    assert "ne tient pas le lot 1 du marché 2025-017" in refused
    assert "Offre incomplète" in company.send("/offre 2025-017 2 ; Maçon")[-1].text
    assert "Heures par semaine « 90 » invalide" in company.send(
        "/offre 2025-017 2 ; Maçon ; Oullins ; 01/09/2025 ; 6 ; 90 ; 1")[-1].text
    # and through the CLI, for a company that holds no such lot
    cli_refused = cli("offre", "create", "--entreprise", "Peintures du Pilat", "--marche", "2025-017",
                      "--lot", "2", "--intitule", "Peintre", "--lieu", "Oullins", "--debut", "01/09/2030",
                      "--duree", "3", "--heures", "35")
    assert cli_refused.exit_code == 1 and "ne tient pas le lot 2" in cli_refused.output
    assert count_rows(ctx.db, JobOffer) == 0

    # the company files the offer; twice is refused
    assert "Offre enregistrée : OFF-1 « Maçon coffreur »" in company.send(OFFER)[-1].text
    assert "déjà enregistrée (OFF-1" in company.send(OFFER)[-1].text
    assert count_rows(ctx.db, JobOffer) == 1

    # the facilitator approves from the alert: the partners are e-mailed, once
    drain_chat(ctx, transport)
    alert = next(m for m in reversed(fanny.transcript) if "Offre d'emploi à valider" in m.text)
    assert "OFF-1 — Maçon coffreur" in alert.text and "métier maconnerie" in alert.text
    data = next(d for label, d in (b for row in alert.buttons for b in row) if "diffuser" in label)
    assert "envoyée à 2 adresse(s)" in fanny.press_data(data)[-1].text
    with ctx.db.session() as s:  # the approval answers the alert
        assert s.scalar(select(Alert.handled_at).where(Alert.subject_type == "job_offer")) is not None
    assert "déjà validée et diffusée" in fanny.press_data(data)[-1].text
    deliver(ctx, mail_config(), smtp_sink)
    for address in ("paul@francetravail.example", "lina@ml-sud.example"):
        (broadcast,) = smtp_sink.messages_to(address)
        assert "OFF-1" in broadcast.subject and "Maçon coffreur" in broadcast.subject
    drain_chat(ctx, transport)
    assert "diffusée aux partenaires de l'emploi sous la référence OFF-1" in company.last.text

    # two prescribers apply by e-mail quoting the reference; bad quotes are answered
    # (through the real Dovecot IMAP server, as the service reads the agency's mailbox)
    imap_cfg = mail_config(imap_config(imap_account))
    imap_intake = ImapIntake(IntakeCore(ctx, imap_cfg), imap_cfg.imap)
    imap_account.append("INBOX", make_mail(FT, "Candidature pour l'offre OFF-1", _application("KOFFI", "Awa")))
    imap_account.append("INBOX", make_mail(ML, "Candidature OFF-1 Maçon", _application("TRAORE", "Issa")))
    imap_account.append("INBOX", make_mail(ML, "Candidature OFF-1 (rappel)",
                                           _application("TRAORE", "Issa")))  # duplicate
    imap_account.append("INBOX", make_mail(FT, "Candidature OFF-77",
                                           _application("DIALLO", "Mariam")))  # unknown offer
    imap_intake.run_once()
    # the two applications are filed as done, the duplicate and the unknown offer as refused
    assert not imap_account.folder_uids("INBOX")
    assert (len(imap_account.folder_uids("Traités")), len(imap_account.folder_uids("Erreurs"))) == (2, 2)
    with ctx.db.session() as s:
        cands = list(s.scalars(select(Candidature).order_by(Candidature.id)))
        assert [(c.job_offer_id, c.status) for c in cands] == [(1, CandidatureStatus.A_VALIDER)] * 2
        assert all(c.lot_id is not None and c.company_id is not None for c in cands)
    assert any("déjà candidate à l'offre OFF-1" in m.body_text for m in _emails_to(ctx, "lina@ml-sud.example"))
    assert any("L'offre OFF-77 est introuvable" in m.body_text
               for m in _emails_to(ctx, "paul@francetravail.example"))

    # the facilitator sees them per offer; a pre-selection of a person not validated is refused
    listing = fanny.send("/offres OFF-1")[-1].text
    assert "KOFFI Awa — a_valider" in listing and "TRAORE Issa — a_valider" in listing
    early = cli("offre", "preselection", "OFF-1", "1")
    assert early.exit_code == 1 and "n'est pas validée" in early.output
    validate_in_chat(ctx, transport, fanny, 1)
    validate_in_chat(ctx, transport, fanny, 2)
    sent = fanny.send("/offres OFF-1")
    assert "2 candidature(s) envoyée" in fanny.press_data("off:sel:1")[-1].text, sent
    drain_chat(ctx, transport)
    pre = company.last
    assert "Présélection pour votre offre OFF-1" in pre.text
    assert pre.labels == ["✅ KOFFI Awa", "✅ TRAORE Issa"]

    # the company chooses Awa: the offer is filled, and the usual hire follows
    chosen = company.press("KOFFI Awa")[-1]
    assert "Vous avez retenu KOFFI Awa pour l'offre OFF-1 : l'offre est pourvue." in chosen.text
    assert chosen.labels == ["👷 Déclarer l'embauche"]
    assert "Embauche enregistrée : KOFFI Awa" in hire_in_chat(company, "01/09/2025", "28/02/2026",
                                                              "Maçon coffreur")
    with ctx.db.session() as s:
        offer = s.get(JobOffer, 1)
        assert offer.status == JobOfferStatus.POURVUE and offer.closed_at is not None
        assert s.get(Candidature, 1).status == CandidatureStatus.EMBAUCHEE
        assert s.get(Candidature, 2).status == CandidatureStatus.RETIREE
        assert s.scalar(select(Contract.candidature_id)) == 1

    # the other's prescriber is told, initials only; the filled offer takes no more applications
    (told,) = [m for m in _emails_to(ctx, "lina@ml-sud.example") if "non retenue" in m.subject]
    assert "(I. T.)" in told.body_text and "TRAORE" not in told.body_text and "Issa" not in told.body_text
    assert "n'est plus ouverte (pourvue)" in company.send("/candidat OFF-1")[-1].text
    assert "n'est plus ouverte (pourvue)" in company.press_data("off:ch:2")[-1].text
    assert count_rows(ctx.db, Candidature) == 2

    # the path: 30 days before Awa's contract ends, the scheduler proposes the companies with
    # hours still owed on a close trade; the facilitator proposes her to one, which hires her
    import datetime as dt

    from scheduler.jobs import run_job

    ctx.clock.set(dt.datetime(2026, 1, 28, 9, 0))
    assert run_job(ctx, "paths").done == 0  # 31 days before the end: not yet
    ctx.clock.set(dt.datetime(2026, 1, 29, 9, 0))
    assert run_job(ctx, "paths").done == 1
    assert run_job(ctx, "paths").due == 0  # raised once
    drain_chat(ctx, transport)
    path = next(m for m in reversed(fanny.transcript) if "Parcours :" in m.text)
    assert "KOFFI Awa chez BTP Rhône-Confluent se termine le 28/02/2026" in path.text
    assert "Maçonnerie Saint-Genis — marché 2025-017 lot 2 (maconnerie) : 200 h encore dues" in path.text
    assert path.labels == ["➡️ Maçonnerie Saint-Genis"]
    data = path.buttons[0][0][1]
    rival = transport.chat(3)
    rival.send(territory["other_company"])
    assert "Candidature n° 3 (validée) proposée" in fanny.press_data(data)[-1].text
    assert "Déjà proposée : candidature n° 3" in fanny.press_data(data)[-1].text
    drain_chat(ctx, transport)
    assert "vous propose KOFFI Awa" in rival.last.text
    assert "Embauche enregistrée : KOFFI Awa" in hire_in_chat(rival, "01/03/2026", "30/06/2026", "Maçon")
    with ctx.db.session() as s:
        contracts = list(s.scalars(select(Contract).order_by(Contract.id)))
        assert [(c.participant_id, c.start_date) for c in contracts] == [
            (contracts[0].participant_id, dt.date(2025, 9, 1)), (contracts[0].participant_id, dt.date(2026, 3, 1))]
        assert contracts[0].engagement_id != contracts[1].engagement_id

    # the annual bilan counts Awa's path (two successive contracts), asked in chat
    ctx.clock.set(dt.datetime(2026, 12, 6, 9, 0))
    summary = fanny.send("/bilan 2026 Ville d'Oullins")[-1].text
    assert "Parcours (plusieurs contrats successifs) : 1 personne" in summary, summary


def test_offer_filed_in_cli_closed_unanswered_and_closed_offer_refuses(ctx, territory, cli, tmp_path,
                                                                       smtp_sink):
    """The facilitator's path: CLI create and approve, a company application in chat, an
    e-mail application, then « Fermer »: the offer is FERMEE, the prescriber is told, and later
    quotes of the closed offer (e-mail, chat) are refused without writing anything."""
    assert cli("prescripteur", "create", "--nom", "PLIE Sud", "--type", "plie",
               "--email", "lina@ml-sud.example").exit_code == 0
    made = cli("offre", "create", "--entreprise", "BTP Rhône-Confluent", "--marche", "2025-017",
               "--lot", "2", "--intitule", "Manœuvre", "--lieu", "Oullins", "--debut", "01/09/2030",
               "--duree", "3", "--heures", "35", "--postes", "2")
    assert made.exit_code == 0 and "Offre enregistrée : OFF-1" in made.output, made.output
    assert cli("offre", "approve", "OFF-1").exit_code == 0
    again = cli("offre", "approve", "OFF-1")
    assert again.exit_code == 1 and "déjà validée et diffusée" in again.output
    assert count_rows(ctx.db, OutboxMessage, OutboxMessage.to_address == "lina@ml-sud.example") == 1

    _, company, rival, fanny = signed_in(ctx, territory, "company", "other_company",
                                         "facilitator")
    # another company cannot apply to BTP's offer
    assert "L'offre OFF-1 est introuvable" in rival.send("/candidat OFF-1")[-1].text
    assert "Candidature pour l'offre OFF-1" in company.send("/candidat OFF-1")[-1].text
    company.send("Koffi")
    company.send("Awa")
    company.press("Passer")
    company.press("RSA")
    company.press("Terminé")
    company.press("Passer")
    assert "transmise" in company.press("Confirmer")[-1].text

    root = tmp_path / "incoming"
    intake = MaildirIntake(IntakeCore(ctx, mail_config(maildir_in=root)), root, poll_seconds=0.05)
    intake.ensure()
    box = mailbox.Maildir(root, create=True)
    box.add(make_mail(ML, "Candidature OFF-1", _application("TRAORE", "Issa")))
    intake.run_once()
    assert "KOFFI Awa" in cli("offre", "candidatures", "OFF-1").output
    assert "1 validée" not in cli("offre", "list").output

    # pre-selection with nothing validated is refused; closing tells the waiting prescriber
    assert "Aucune candidature validée" in fanny.press_data("off:sel:1")[-1].text
    assert "Accès refusé" in company.press_data("off:cl:1")[-1].text  # a company does not close
    assert "Offre OFF-1 fermée" in fanny.press_data("off:cl:1")[-1].text
    assert "déjà fermee" in fanny.press_data("off:cl:1")[-1].text
    with ctx.db.session() as s:
        assert s.get(JobOffer, 1).status == JobOfferStatus.FERMEE
        assert {c.status for c in s.scalars(select(Candidature))} == {CandidatureStatus.RETIREE}
    (told,) = [m for m in _emails_to(ctx, "lina@ml-sud.example") if "non retenue" in m.subject]
    assert "(I. T.)" in told.body_text and "l'offre a été fermée" in told.body_text

    box.add(make_mail(ML, "Candidature OFF-1", _application("DIALLO", "Mariam")))
    intake.run_once()
    assert any("n'est plus ouverte (fermée)" in m.body_text for m in _emails_to(ctx, "lina@ml-sud.example"))
    assert "n'est plus ouverte (fermée)" in company.send("/candidat OFF-1")[-1].text
    assert count_rows(ctx.db, Candidature) == 2


def test_company_files_an_offer_step_by_step(ctx, territory):
    """The guided /offre: the only lot is taken, each answer checked at once."""
    _, company = signed_in(ctx, territory, "company")
    converse(company, [
        ("/offre", "Offre sur le marché 2025-017, lot 2. Intitulé du poste"),
        ("Maçon VRD", "Lieu de travail"),
        ("Oullins", "Date de début"),
        ("01/01/2025", "La date de début est passée"),
        ("bientôt", "date illisible"),
        ("15/09/2025", "Durée du contrat"),
        ("6 mois", "Heures par semaine"),
        ("60", "Heures par semaine « 60 » invalide : un nombre entier de 1 à 48"),
        ("35", "Nombre de postes"),
        ("2", "Offre enregistrée : OFF-1 « Maçon VRD »"),
    ])
    with ctx.db.session() as s:
        offer = s.get(JobOffer, 1)
        assert (offer.place, offer.duration_months, offer.hours_per_week, offer.positions,
                offer.trade, offer.approved_at) == ("Oullins", 6, 35, 2, "maconnerie", None)
