"""Hire in chat, from an empty database: a company proposes a candidate with /candidat, the
facilitator validates by button, the company presses « Déclarer l'embauche » on the notice,
completes the guided hire, then declares the person's hours with /declarer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from bot.console import ConsoleTransport
from bot.core import ChatCore
from storage.models import (
    AuditEntry,
    Candidature,
    CandidatureStatus,
    Contract,
    HourDeclaration,
    Participant,
)
from tests.journeys.conftest import declare_in_chat, drain_chat, propose_in_chat, validate_in_chat


def test_company_hires_from_the_validation_notice_then_declares(ctx, territory, cli):
    transport = ConsoleTransport(ChatCore(ctx))
    company, fanny = transport.chat(1), transport.chat(2)
    assert "Bienvenue" in company.send(territory["company"])[0].text
    assert "Bienvenue" in fanny.send(territory["facilitator"])[0].text

    # a hire before the validation is refused, and writes nothing
    propose_in_chat(company, "Koffi", "Awa")
    refused = company.send("/embauche 1")[-1].text
    assert "n'est pas encore validée" in refused

    drain_chat(ctx, transport)
    assert "Candidature n° 1 à valider : KOFFI Awa" in fanny.last.text
    fanny.press("Valider")
    drain_chat(ctx, transport)
    notice = company.last
    assert "est validé par" in notice.text and notice.labels == ["👷 Déclarer l'embauche"]

    # the guided hire: one lot only (skipped), type, dates, carrier, title, summary
    assert "Type de contrat" in company.press("Déclarer l'embauche")[-1].text
    assert "Date de début" in company.press("CDD")[-1].text
    assert "date illisible « le 3 mars »" in company.send("le 3 mars")[-1].text
    company.send("03/03/2025")
    # an end before the start is refused at the step
    assert "avant la date de début" in company.send("28/02/2025")[-1].text
    carrier_question = company.send("31/08/2025")[-1]
    assert "porté par une structure" in carrier_question.text
    assert "Tremplin Intérim Insertion (ETTI)" in carrier_question.labels
    company.press("Tremplin")
    summary = company.send("Maçon coffreur")[-1]
    assert "KOFFI Awa" in summary.text and "CDD du 03/03/2025 au 31/08/2025" in summary.text
    assert "Tremplin Intérim Insertion" in summary.text and "2025-017 lot 2" in summary.text
    done = company.press("Confirmer")[-1].text
    assert "Embauche enregistrée : KOFFI Awa" in done

    # pressed twice (the notice's button again): one contract, a clear answer
    again = company.press_data("h:c:1")[-1].text
    assert "déjà enregistrée" in again
    with ctx.db.session() as s:
        (contract,) = s.scalars(select(Contract)).all()
        cand = s.scalar(select(Candidature))
        person = s.scalar(select(Participant))
        assert cand.status == CandidatureStatus.EMBAUCHEE and contract.candidature_id == cand.id
        assert (contract.contract_type, contract.start_date, contract.end_date) == (
            "cdd", dt.date(2025, 3, 3), dt.date(2025, 8, 31))
        assert contract.job_title == "Maçon coffreur"
        assert person.first_entry_date == dt.date(2025, 3, 3)
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "contract.hire")) == 1

    # the hours of the new person are now declarable with /declarer
    months = company.send("/declarer")[-1]  # the only person: chosen at once
    assert months.text.startswith("KOFFI Awa, marché 2025-017 lot 2")
    assert "Déclaration enregistrée : mai 2025" in declare_in_chat(company, "Mai 2025", "120")
    with ctx.db.session() as s:
        decl = s.scalar(select(HourDeclaration))
        assert (decl.contract_id, decl.work_hours) == (contract.id, Decimal(120))

    # another company holding the same lot cannot hire the first company's candidate
    rival = transport.chat(3)
    rival.send(territory["other_company"])
    assert "n'est pas proposée à votre entreprise" in rival.send("/embauche 1")[-1].text
    assert "n'est pas proposée à votre entreprise" in rival.press_data("h:c:1")[-1].text
    assert "Aucun contrat" in rival.send("/contrats")[-1].text

    # the facilitator hires the company's second candidate on a CDI (no end date asked)
    propose_in_chat(company, "Traore", "Issa")
    validate_in_chat(ctx, transport, fanny, 2)
    fanny.send("/embauche 2")
    assert "Date de début" in fanny.press("CDI")[-1].text
    carrier = fanny.send("02/06/2025")[-1]  # straight to the carrier: a CDI has no end
    assert "porté par une structure" in carrier.text
    fanny.press("Non, par l'entreprise")
    summary = fanny.press("Passer")[-1].text
    assert "CDI du 02/06/2025 (sans date de fin)" in summary and "l’entreprise" in summary
    assert "Embauche enregistrée : TRAORE Issa" in fanny.press("Confirmer")[-1].text
    listing = fanny.send("/contrats 2025-017")[-1].text
    assert "TRAORE Issa — CDI du 02/06/2025 (sans fin)" in listing
    assert "KOFFI Awa — CDD du 03/03/2025 au 31/08/2025, Maçon coffreur" in listing
    assert "porté par Tremplin Intérim Insertion — 120" in listing and "h déclarées" in listing
    assert "TRAORE Issa" in company.send("/contrats")[-1].text
