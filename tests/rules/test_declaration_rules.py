"""Validation of a monthly declaration: each refusal is typed and says what to fix."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from clauses.declaration_rules import (
    DeclarationContext,
    DeclarationDraft,
    declaration_inputs,
    declaration_problems,
    validate_declaration,
)
from clauses.errors import (
    DeclarationError,
    DomainError,
    DuplicateDeclarationError,
    HoursAboveMaximumError,
    HoursPrecisionError,
    MonthInFutureError,
    MonthOutsideContractError,
    MonthOutsideLotError,
    NegativeHoursError,
    NothingToCorrectError,
    ParticipantNotValidatedError,
    UnknownContractTypeError,
)
from clauses.rulebook import shipped_rulebook

RB = shipped_rulebook("default")
D = dt.date

CONTEXT = DeclarationContext(
    today=D(2025, 6, 16),
    contract_start=D(2024, 11, 4),
    contract_end=D(2025, 12, 31),
    lot_start=D(2024, 10, 1),
    lot_end=D(2025, 3, 31),
    market_start=D(2024, 9, 1),
    market_end=D(2026, 6, 30),
    participant_validated=True,
    declaration_exists=False,
)


def draft(
    month: dt.date,
    work: str = "120",
    training: str = "0",
    *,
    is_correction: bool = False,
    contract_type: str | None = None,
) -> DeclarationDraft:
    return DeclarationDraft(
        month=month,
        work_hours=Decimal(work),
        training_hours=Decimal(training),
        is_correction=is_correction,
        contract_type=contract_type,
    )


def test_valid_declaration_has_no_warning() -> None:
    assert validate_declaration(draft(D(2025, 2, 1)), CONTEXT, RB) == ()


def test_month_after_lot_end_is_refused_with_the_dates() -> None:
    with pytest.raises(MonthOutsideLotError) as err:
        validate_declaration(draft(D(2025, 4, 1)), CONTEXT, RB)
    assert err.value.message_fr == (
        "Le lot s'est terminé le 31/03/2025 : impossible de déclarer avril 2025. Vérifiez le mois."
    )
    assert isinstance(err.value, DeclarationError) and isinstance(err.value, DomainError)
    assert err.value.message_en


@pytest.mark.parametrize(
    ("month", "changes", "error", "fragment"),
    [
        (D(2025, 7, 1), {}, MonthInFutureError, "Juillet 2025 n'est pas encore passé"),
        (
            D(2024, 10, 1),
            {"lot_start": None},
            MonthOutsideContractError,
            "Le contrat commence le 04/11/2024",
        ),
        (
            D(2025, 2, 1),
            {"contract_end": D(2025, 1, 15)},
            MonthOutsideContractError,
            "Le contrat s'est terminé le 15/01/2025",
        ),
        (
            D(2024, 11, 1),
            {"lot_start": D(2024, 12, 1)},
            MonthOutsideLotError,
            "Le lot commence le 01/12/2024",
        ),
        (
            D(2025, 2, 1),
            {"market_end": D(2025, 1, 31), "lot_end": None},
            MonthOutsideLotError,
            "Le marché s'est terminé le 31/01/2025",
        ),
        (
            D(2025, 2, 1),
            {"participant_validated": False},
            ParticipantNotValidatedError,
            "pas encore été validée",
        ),
        (D(2025, 2, 1), {"declaration_exists": True}, DuplicateDeclarationError, "correction"),
    ],
)
def test_context_refusals(
    month: dt.date, changes: dict[str, object], error: type[DeclarationError], fragment: str
) -> None:
    context = dataclasses.replace(CONTEXT, **changes)  # type: ignore[arg-type]
    with pytest.raises(error) as err:
        validate_declaration(draft(month), context, RB)
    assert fragment in err.value.message_fr


@pytest.mark.parametrize(
    ("work", "training", "error"),
    [
        ("-1", "0", NegativeHoursError),
        ("10", "-0.5", NegativeHoursError),
        ("12.333", "0", HoursPrecisionError),
        ("208.01", "0", HoursAboveMaximumError),
        ("150", "60", HoursAboveMaximumError),
    ],
)
def test_hours_refusals(work: str, training: str, error: type[DeclarationError]) -> None:
    with pytest.raises(error) as err:
        validate_declaration(draft(D(2025, 2, 1), work, training), CONTEXT, RB)
    assert err.value.message_fr


def test_ceiling_message_names_the_maximum() -> None:
    with pytest.raises(HoursAboveMaximumError) as err:
        validate_declaration(draft(D(2025, 2, 1), "350"), CONTEXT, RB)
    assert "350 h en février 2025 dépasse le maximum légal de 208 h" in err.value.message_fr


@pytest.mark.parametrize(
    ("work", "training", "month", "codes"),
    [
        ("208", "0", D(2025, 2, 1), ("above_full_time",)),
        ("151.67", "0", D(2025, 2, 1), ()),
        ("0", "0", D(2025, 2, 1), ("zero_hours",)),
        ("100", "0", D(2025, 6, 1), ("current_month",)),
    ],
)
def test_warnings(work: str, training: str, month: dt.date, codes: tuple[str, ...]) -> None:
    context = dataclasses.replace(CONTEXT, lot_end=None)
    warnings = validate_declaration(draft(month, work, training), context, RB)
    assert tuple(w.code for w in warnings) == codes
    assert all(w.message_fr for w in warnings)


def test_correction_replaces_an_existing_declaration_only() -> None:
    existing = dataclasses.replace(CONTEXT, declaration_exists=True)
    assert validate_declaration(draft(D(2025, 2, 1), is_correction=True), existing, RB) == ()
    with pytest.raises(NothingToCorrectError):
        validate_declaration(draft(D(2025, 2, 1), is_correction=True), CONTEXT, RB)


def test_contract_type_warnings_and_unknown_type() -> None:
    warnings = validate_declaration(
        draft(D(2025, 2, 1), "100", "20", contract_type="mad_ai"), CONTEXT, RB
    )
    assert [w.code for w in warnings] == ["training_not_counted"]
    warnings = validate_declaration(
        draft(D(2025, 2, 1), "10", "20", contract_type="formation"), CONTEXT, RB
    )
    assert [w.code for w in warnings] == ["work_not_counted"]
    with pytest.raises(UnknownContractTypeError):
        validate_declaration(draft(D(2025, 2, 1), contract_type="stage"), CONTEXT, RB)


def test_all_problems_at_once() -> None:
    context = dataclasses.replace(CONTEXT, participant_validated=False, declaration_exists=True)
    problems = declaration_problems(draft(D(2025, 4, 1), "-3"), context, RB)
    assert not problems.ok
    assert [type(e) for e in problems.errors] == [
        MonthOutsideLotError,
        NegativeHoursError,
        ParticipantNotValidatedError,
        DuplicateDeclarationError,
    ]
    # validate_declaration raises the first one
    with pytest.raises(MonthOutsideLotError):
        validate_declaration(draft(D(2025, 4, 1), "-3"), context, RB)


def test_month_given_as_any_day_is_its_month() -> None:
    assert validate_declaration(draft(D(2025, 3, 31)), CONTEXT, RB) == ()
    with pytest.raises(MonthOutsideLotError):
        validate_declaration(draft(D(2025, 4, 30)), CONTEXT, RB)


def test_the_stored_hours_sent_again_are_no_duplicate() -> None:
    """A company re-sending a month exactly as stored changes nothing: no refusal; any other
    figure for an existing month still needs a correction."""
    identical = dataclasses.replace(CONTEXT, declaration_exists=True, declaration_identical=True)
    assert validate_declaration(draft(D(2025, 2, 1)), identical, RB) == ()
    _, built = declaration_inputs(
        today=CONTEXT.today, month=D(2025, 2, 1), work_hours=Decimal(120),
        training_hours=Decimal(0), contract_type=None,
        dates=(CONTEXT.contract_start, None, None, None, None, None), validated=True,
        exists=False, identical=True)
    assert not built.declaration_identical  # nothing stored: nothing identical
    with pytest.raises(DuplicateDeclarationError):
        validate_declaration(draft(D(2025, 2, 1)),
                             dataclasses.replace(CONTEXT, declaration_exists=True), RB)
