"""The small rules of the escalation's channels, with explicit examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clauses.escalation_procedure import case_id_in, is_consent
from clauses.importing.values import ValueProblem, parse_cap_share
from clauses.penalties import compute_penalties, statement_lines


@pytest.mark.parametrize("text", ["Accord.", "accord", "D'accord !", "Oui", "OK pour moi",
                                  "Bon pour accord\n\nJ. Rey", "\n\nAccord, bien sûr.",
                                  "Je donne mon accord."])
def test_plain_consents(text: str) -> None:
    assert is_consent(text)


@pytest.mark.parametrize("text", ["Pas d'accord.", "Non", "Oui mais pas avant lundi",
                                  "Accord sauf pour le délai", "Je refuse", "", "Merci",
                                  "Quel accord ?", "d'accord ? n'est-ce pas trop tôt",
                                  "Attendez, accord plus tard"])
def test_anything_else_is_not_a_consent(text: str) -> None:
    assert not is_consent(text)


def test_the_case_number_is_read_from_the_subject_tag() -> None:
    assert case_id_in("Re: Accord demandé : courrier (marché 2025-017, lot 1) [procédure n° 12]") == 12
    assert case_id_in("RE: TR: [Procedure no 7]") == 7
    assert case_id_in("Re: Déclaration de mars, lot 2") is None


def test_statement_when_the_cap_applies(rulebook) -> None:
    # 833 h × 60 € = 49 980 € + 12 days × 100 € = 1 200 €: 51 180 € over the cap of
    # 20 % × 200 000 € = 40 000 €, so 40 000 €.
    result = compute_penalties(833, 0, 200000, 12, None, rulebook)
    lines = statement_lines(result)
    assert lines[-1] == "Total ramené au plafond : 40 000,00 € HT"
    assert lines[2] == "Total avant plafond : 51 180,00 € HT"
    assert result.total == Decimal(40000) and result.capped


def test_statement_of_one_day_late_is_singular(rulebook) -> None:
    lines = statement_lines(compute_penalties(10, 10, 100000, 1, None, rulebook))
    assert lines[0] == "Heures d'insertion non réalisées : 0 h × 60,00 € HT par heure = 0,00 € HT"
    assert lines[1].startswith("Retard après la mise en demeure : 1 jour après l'échéance")


@pytest.mark.parametrize(("text", "share"), [("20 %", "0.2"), ("20", "0.2"), ("0,2", "0.2"),
                                             ("100 %", "1"), ("5%", "0.05")])
def test_cap_share_in_whole_percents(text: str, share: str) -> None:
    assert parse_cap_share(text) == Decimal(share)


@pytest.mark.parametrize("text", ["12,5 %", "0,125", "150 %", "vingt"])
def test_cap_share_refused(text: str) -> None:
    with pytest.raises(ValueProblem):
        parse_cap_share(text)
