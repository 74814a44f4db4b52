"""Hire by the facilitator's CLI, from an empty database, and the contract's life: every bad
input answered in French with nothing written, declared months never left outside a contract."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from storage.models import (
    AuditEntry,
    Candidature,
    CandidatureStatus,
    Company,
    Contract,
    Engagement,
    Participant,
)
from tests.journeys.conftest import declare_in_chat, propose_in_chat, signed_in, validate_in_chat

CREATE = ("contrat", "create", "--candidature", "1", "--marche", "2025-017", "--lot", "2")


def _contracts(ctx) -> list[Contract]:
    with ctx.db.session() as s:
        return list(s.scalars(select(Contract).order_by(Contract.id)))


def test_facilitator_hires_by_cli_then_lives_the_contract(ctx, territory, cli):
    transport, company, fanny = signed_in(ctx, territory, "company", "facilitator")
    propose_in_chat(company, "Koffi", "Awa")
    propose_in_chat(company, "Traore", "Issa")
    validate_in_chat(ctx, transport, fanny, 1)

    refusals = {
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025", "--candidature", "2"):
            "La candidature n° 2 n'est pas encore validée",
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025", "--lot", "1"):
            "L'entreprise n'a pas d'engagement sur le marché 2025-017, lot 1",
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "01/03/2025"):
            "La date de fin (01/03/2025) est avant la date de début (03/03/2025)",
        ("--type", "cdd", "--debut", "01/01/2025", "--fin", "31/08/2025"):
            "dans l'exécution du marché 2025-017 lot 2, du 03/02/2025 au 30/06/2026",
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "01/07/2026"):
            "du 03/02/2025 au 30/06/2026",
        ("--type", "cdi", "--debut", "03/03/2025", "--fin", "31/08/2025"):
            "Un CDI n'a pas de date de fin prévue",
        ("--type", "cdd", "--debut", "03/03/2025"): "Indiquez la date de fin prévue du CDD",
        ("--type", "stage", "--debut", "03/03/2025"): "Type de contrat inconnu « stage »",
        ("--type", "cdd", "--debut", "3 mars", "--fin", "31/08/2025"): "date illisible « 3 mars »",
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025",
         "--porteur", "BTP Rhône-Confluent"): "Structure porteuse « BTP Rhône-Confluent » inconnue",
        ("--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025", "--marche", "2099-001"):
            "2099-001",
    }
    for extra, message in refusals.items():
        result = cli(*CREATE, *extra)
        assert result.exit_code == 1, (extra, result.output)
        assert message in result.output, (extra, result.output)
    assert _contracts(ctx) == []

    made = cli(*CREATE, "--type", "Intérim", "--debut", "03/03/2025", "--fin", "31/08/2025",
               "--porteur", "tremplin intérim insertion", "--poste", "Manœuvre")
    assert made.exit_code == 0, made.output
    assert "Embauche enregistrée : KOFFI Awa, Intérim du 03/03/2025 au 31/08/2025" in made.output
    again = cli(*CREATE, "--type", "cdd", "--debut", "03/03/2025", "--fin", "31/08/2025")
    assert again.exit_code == 0 and "déjà enregistrée (contrat n° 1" in again.output
    (contract,) = _contracts(ctx)
    with ctx.db.session() as s:
        assert s.scalar(select(Candidature.status).where(Candidature.id == 1)) == CandidatureStatus.EMBAUCHEE
        assert s.scalar(select(Participant.first_entry_date).where(
            Participant.id == contract.participant_id)) == dt.date(2025, 3, 3)
        carrier = s.scalar(select(Company.name).where(Company.id == contract.employer_id))
        holder = s.scalar(select(Company.name).join(Engagement, Engagement.company_id == Company.id)
                          .where(Engagement.id == contract.engagement_id))
        # carried by the ETTI, counted on the attributaire's engagement
        assert (carrier, holder) == ("Tremplin Intérim Insertion", "BTP Rhône-Confluent")

    # the company declares May; the contract's life never leaves a declared month outside
    company.send("/declarer")
    assert "Déclaration enregistrée" in declare_in_chat(company, "Mai 2025", "100")

    early = cli("contrat", "end", "1", "--date", "30/04/2025", "--motif", "démission")
    assert early.exit_code == 1 and "heures sont déclarées pour mai 2025" in early.output
    assert cli("contrat", "end", "1", "--date", "15/06/2025").exit_code == 2  # --motif required
    ended = cli("contrat", "end", "1", "--date", "01/05/2025", "--motif", "démission")
    assert ended.exit_code == 0 and "terminé le 01/05/2025 (motif : démission)" in ended.output
    listing = cli("contrat", "list", "--marche", "2025-017")
    assert "KOFFI Awa" in listing.output and "démission" in listing.output
    assert "100" in listing.output and "Tremplin Intérim Insertion" in listing.output

    shorter = cli("contrat", "extend", "1", "--fin", "30/04/2025")
    assert shorter.exit_code == 1 and "doit être après la fin actuelle" in shorter.output
    assert "prolongé jusqu'au 31/12/2025" in cli("contrat", "extend", "1", "--fin", "31/12/2025").output
    assert "Intérim devenu CDI" in cli("contrat", "retype", "1", "--type", "CDI").output
    late = cli("contrat", "correct", "1", "--debut", "01/06/2025")
    assert late.exit_code == 1 and "mai 2025" in late.output
    assert "corrigé : du 10/03/2025 (sans fin)" in cli("contrat", "correct", "1", "--debut",
                                                       "10/03/2025").output
    (contract,) = _contracts(ctx)
    assert (contract.contract_type, contract.start_date, contract.end_date) == (
        "cdi", dt.date(2025, 3, 10), None)
    with ctx.db.session() as s:
        actions = dict(s.execute(select(AuditEntry.action, func.count()).where(
            AuditEntry.action.like("contract.%")).group_by(AuditEntry.action)).all())
        assert actions == {"contract.hire": 1, "contract.end": 1, "contract.extend": 1,
                           "contract.retype": 1, "contract.correct": 1}
        assert s.scalar(select(Participant.first_entry_date).where(
            Participant.id == contract.participant_id)) == dt.date(2025, 3, 10)
