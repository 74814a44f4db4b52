"""Eligibility to the clause: validated criteria, proof windows, derived criteria, entry window."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clauses.eligibility import (
    NO_VALIDATION_FR,
    CriterionProof,
    ParticipantFacts,
    age_on,
    assess_eligibility,
    clause_eligibility_end,
)
from clauses.rulebook import shipped_rulebook

RB = shipped_rulebook("default")
D = dt.date
FAC = "facilitatrice@amoi.example"

VALIDATED = ParticipantFacts(
    birth_date=D(1985, 6, 1), validated_on=D(2025, 1, 10), validated_by=FAC
)


VALIDATION_DAY = D(2025, 1, 10)


def proof(
    key: str, dated: dt.date | None, validated: dt.date | None = VALIDATION_DAY
) -> CriterionProof:
    return CriterionProof(key, dated, validated, FAC if validated else None)


def test_validated_proof_in_window_makes_eligible_until_its_expiry() -> None:
    result = assess_eligibility(VALIDATED, [proof("rsa", D(2024, 12, 1))], D(2025, 2, 1), RB)
    assert result.eligible and result.criteria == ("rsa",)
    # RSA proof valid 6 months: expires on 01/06/2025, usable until 31/05/2025
    assert result.valid_until == D(2025, 5, 31)
    assert result.missing == ()
    assert not result.entered


def test_expired_proof_is_named_with_its_expiry_date() -> None:
    result = assess_eligibility(VALIDATED, [proof("rsa", D(2024, 9, 12))], D(2025, 4, 1), RB)
    assert not result.eligible
    assert "justificatif RSA expiré le 12/03/2025" in result.missing
    assert result.valid_until is None


def test_claimed_but_unvalidated_criterion_does_not_make_eligible() -> None:
    result = assess_eligibility(
        VALIDATED, [proof("deld", D(2025, 1, 5), validated=None)], D(2025, 2, 1), RB
    )
    assert not result.eligible
    assert "justificatif DELD non validé par la·le facilitateur·rice" in result.missing


def test_validation_after_the_assessment_date_does_not_count() -> None:
    result = assess_eligibility(
        VALIDATED, [proof("deld", D(2025, 1, 5), validated=D(2025, 3, 1))], D(2025, 2, 1), RB
    )
    assert not result.eligible


def test_no_facilitator_validation_of_the_candidature() -> None:
    facts = ParticipantFacts(birth_date=D(1985, 6, 1))
    result = assess_eligibility(facts, [proof("rsa", D(2025, 1, 1))], D(2025, 2, 1), RB)
    assert not result.eligible
    assert NO_VALIDATION_FR in result.missing
    assert result.criteria == ("rsa",)  # the criterion itself is fine


def test_diagnosis_expires_after_six_months_before_entry() -> None:
    result = assess_eligibility(VALIDATED, [proof("rqth", D(2024, 1, 1))], D(2025, 7, 10), RB)
    assert not result.eligible
    assert any("expirée le 10/07/2025" in m and "à renouveler" in m for m in result.missing)
    ok = assess_eligibility(VALIDATED, [proof("rqth", D(2024, 1, 1))], D(2025, 7, 9), RB)
    assert ok.eligible and ok.valid_until == D(2025, 7, 9)
    assert ok.sensitive_criteria == ("rqth",)


@pytest.mark.parametrize(
    ("birth", "at", "eligible", "criteria"),
    [
        (D(1999, 3, 2), D(2025, 3, 1), True, ("jeune_sans_qualification",)),  # 25 the day before
        (D(1999, 3, 1), D(2025, 3, 1), False, ()),  # 26 on the day
        (D(1975, 3, 1), D(2025, 3, 1), True, ("senior",)),  # 50 on the day
        (D(1975, 3, 2), D(2025, 3, 1), False, ()),  # 49
    ],
)
def test_age_criteria_are_derived_from_the_birth_date(
    birth: dt.date, at: dt.date, eligible: bool, criteria: tuple[str, ...]
) -> None:
    facts = ParticipantFacts(birth_date=birth, validated_on=D(2025, 2, 1))
    proofs = [proof("jeune_sans_qualification", D(2025, 2, 1), D(2025, 2, 1))]
    result = assess_eligibility(facts, proofs, at, RB)
    assert result.eligible is eligible
    assert result.criteria == criteria


def test_youth_needs_its_validated_proof_too() -> None:
    facts = ParticipantFacts(birth_date=D(2003, 5, 5), validated_on=D(2025, 2, 1))
    assert not assess_eligibility(facts, [], D(2025, 3, 1), RB).eligible
    unvalidated = [proof("jeune_sans_qualification", D(2025, 2, 1), validated=None)]
    assert not assess_eligibility(facts, unvalidated, D(2025, 3, 1), RB).eligible


def test_youth_eligibility_ends_the_day_before_the_26th_birthday() -> None:
    facts = ParticipantFacts(birth_date=D(1999, 4, 15), validated_on=D(2025, 2, 1))
    proofs = [proof("jeune_sans_qualification", D(2025, 2, 1), D(2025, 2, 1))]
    result = assess_eligibility(facts, proofs, D(2025, 3, 1), RB)
    assert result.eligible and result.valid_until == D(2025, 4, 14)


def test_senior_and_qpv_need_no_proof_but_a_validated_candidature() -> None:
    senior = ParticipantFacts(birth_date=D(1960, 1, 1), validated_on=D(2025, 1, 10))
    result = assess_eligibility(senior, [], D(2025, 2, 1), RB)
    assert result.eligible and result.criteria == ("senior",)
    assert result.valid_until == D(2025, 7, 9)  # bounded by the diagnosis (6 months)
    qpv = ParticipantFacts(birth_date=D(1990, 1, 1), qpv_resident=True, validated_on=D(2025, 1, 10))
    assert assess_eligibility(qpv, [], D(2025, 2, 1), RB).criteria == ("qpv",)
    not_validated = ParticipantFacts(birth_date=D(1960, 1, 1), qpv_resident=True)
    assert not assess_eligibility(not_validated, [], D(2025, 2, 1), RB).eligible


def test_best_criterion_gives_the_longest_window() -> None:
    proofs = [proof("rsa", D(2024, 12, 1)), proof("aah", D(2024, 12, 1))]
    result = assess_eligibility(VALIDATED, proofs, D(2025, 2, 1), RB)
    assert set(result.criteria) == {"rsa", "aah"}
    assert result.valid_until == D(2025, 7, 9)  # AAH runs to 30/11/2025, diagnosis to 09/07/2025


def test_after_entry_criteria_are_checked_at_entry_and_last_24_months() -> None:
    facts = ParticipantFacts(
        birth_date=D(1985, 6, 1),
        first_entry_date=D(2025, 3, 1),
        validated_on=D(2025, 2, 20),
        validated_by=FAC,
    )
    proofs = [proof("rsa", D(2025, 1, 15), D(2025, 2, 20))]
    # the RSA proof expired on 15/07/2025, but the person entered on 01/03/2025
    result = assess_eligibility(facts, proofs, D(2026, 6, 1), RB)
    assert result.eligible and result.entered
    assert result.reference_date == D(2025, 3, 1)
    assert result.valid_until == D(2027, 2, 28) == clause_eligibility_end(D(2025, 3, 1), RB)
    late = assess_eligibility(facts, proofs, D(2027, 3, 1), RB)
    assert not late.eligible
    assert any("terminée le 28/02/2027" in m for m in late.missing)


def test_proof_expired_at_entry_is_not_saved_by_the_entry() -> None:
    facts = ParticipantFacts(first_entry_date=D(2025, 9, 1), validated_on=D(2025, 8, 20))
    result = assess_eligibility(
        facts, [proof("rsa", D(2025, 1, 15), D(2025, 8, 20))], D(2025, 10, 1), RB
    )
    assert not result.eligible
    assert "justificatif RSA expiré le 15/07/2025" in result.missing


def test_unknown_criterion_is_reported_not_crashing() -> None:
    result = assess_eligibility(VALIDATED, [proof("licorne", D(2025, 1, 1))], D(2025, 2, 1), RB)
    assert not result.eligible
    assert "critère inconnu du règlement : « licorne »" in result.missing


def test_proof_without_date_for_an_expiring_criterion() -> None:
    result = assess_eligibility(VALIDATED, [proof("deld", None)], D(2025, 2, 1), RB)
    assert not result.eligible and "justificatif DELD sans date" in result.missing


@pytest.mark.parametrize(
    ("entry", "end"),
    [
        (D(2025, 3, 1), D(2027, 2, 28)),
        (D(2025, 3, 15), D(2027, 3, 14)),
        (D(2024, 2, 29), D(2026, 2, 28)),
        (D(2025, 3, 31), D(2027, 3, 30)),
        (D(2025, 8, 31), D(2027, 8, 30)),
        (D(2025, 12, 31), D(2027, 12, 30)),
        (D(2025, 1, 31), D(2027, 1, 30)),
    ],
)
def test_clause_eligibility_end(entry: dt.date, end: dt.date) -> None:
    assert clause_eligibility_end(entry, RB) == end


def test_age_on() -> None:
    assert age_on(D(2000, 2, 29), D(2025, 2, 28)) == 24
    assert age_on(D(2000, 2, 29), D(2025, 3, 1)) == 25
    assert age_on(D(1975, 12, 31), D(2025, 12, 31)) == 50


# --- properties ----------------------------------------------------------------------------

days = st.dates(min_value=D(2022, 1, 1), max_value=D(2028, 12, 31))
maybe_day = st.one_of(st.none(), days)
proofs_st = st.lists(
    st.builds(
        CriterionProof,
        criterion=st.sampled_from(sorted(RB.eligibility.criteria)),
        proof_date=maybe_day,
        validated_on=maybe_day,
        validated_by=st.just(FAC),
    ),
    max_size=4,
)
facts_st = st.builds(
    ParticipantFacts,
    birth_date=st.one_of(st.none(), st.dates(min_value=D(1950, 1, 1), max_value=D(2008, 1, 1))),
    qpv_resident=st.booleans(),
    first_entry_date=maybe_day,
    validated_on=maybe_day,
)


@settings(max_examples=300)
@given(facts_st, proofs_st, days)
def test_eligible_until_valid_until_and_reasons_when_not(
    facts: ParticipantFacts, proofs: list[CriterionProof], at: dt.date
) -> None:
    result = assess_eligibility(facts, proofs, at, RB)
    if result.eligible:
        assert result.valid_until is not None and result.valid_until >= at
        assert result.criteria
        assert assess_eligibility(facts, proofs, result.valid_until, RB).eligible
    else:
        assert result.missing and result.valid_until is None


@settings(max_examples=200)
@given(facts_st, proofs_st, days)
def test_unvalidated_claims_never_make_eligible(
    facts: ParticipantFacts, proofs: list[CriterionProof], at: dt.date
) -> None:
    unvalidated = [dataclasses.replace(p, validated_on=None, validated_by=None) for p in proofs]
    plain = dataclasses.replace(facts, qpv_resident=False, birth_date=None)
    assert not assess_eligibility(plain, unvalidated, at, RB).eligible
