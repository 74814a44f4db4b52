"""Validation of a monthly declaration of hours, before anything is stored.

A declaration says: for this contract, in this month, this many hours of work and of training.
It is refused (typed :class:`~clauses.errors.DeclarationError`, or
:class:`~clauses.errors.UnknownContractTypeError`, with a French message saying what
to fix) when:

* the month is in the future (the current month is accepted, with a warning);
* the month is outside the contract's dates, or outside the lot's / market's dates;
* hours are negative, have more than two decimals, or exceed the legal monthly ceiling
  (``hours.monthly_hours_max``); above full time (``hours.monthly_hours_full_time``) it is only
  a warning;
* the participant's eligibility has not been validated by the facilitator;
* a declaration already exists for that contract and month and this one is not an explicit
  correction (nothing twice) — unless it carries exactly the stored hours, which records
  nothing and is answered "unchanged" —, or a correction targets a month with nothing to
  correct.

:func:`declaration_problems` returns every error and warning at once (for spreadsheet intake,
where telling everything in one answer saves round trips); :func:`validate_declaration` raises
the first error and returns the warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from clauses.counting import month_end, month_start
from clauses.declaring.lookup import is_running_in_month
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
from clauses.formatting import fr_date, fr_hours, fr_month, to_decimal
from clauses.rulebook import Rulebook

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DeclarationDraft:
    """What the company sent for one contract and one month."""

    month: dt.date
    work_hours: Decimal
    training_hours: Decimal = ZERO
    is_correction: bool = False
    contract_type: str | None = None


@dataclass(frozen=True, slots=True)
class DeclarationContext:
    """What storage knows about the contract, the lot and the participant."""

    today: dt.date
    contract_start: dt.date
    contract_end: dt.date | None = None
    lot_start: dt.date | None = None
    lot_end: dt.date | None = None
    market_start: dt.date | None = None
    market_end: dt.date | None = None
    participant_validated: bool = True
    declaration_exists: bool = False
    declaration_identical: bool = False
    """The stored declaration has exactly these hours: sending it again (a company re-sends
    last month's file) changes nothing and is no error, correction or not."""


ContractDates = tuple[dt.date, dt.date | None, dt.date | None, dt.date | None, dt.date | None,
                      dt.date | None]
"""The contract's, the lot's and the market's (start, end): :data:`clauses.declarations.CONTRACT_DATES`."""


def contract_dates(columns: Sequence[dt.date | None]) -> ContractDates:
    """The CONTRACT_DATES columns of a result row as :func:`declaration_inputs` reads them
    (a contract's start date is never NULL, which the row's type cannot say)."""
    return cast(ContractDates, tuple(columns))


def declaration_inputs(
    *,
    today: dt.date,
    month: dt.date,
    work_hours: Decimal,
    training_hours: Decimal,
    contract_type: str | None,
    dates: ContractDates,
    validated: bool,
    exists: bool,
    correction: bool = False,
    identical: bool = False,
) -> tuple[DeclarationDraft, DeclarationContext]:
    """The draft and context of :func:`validate_declaration`, built the same way by every path
    (one declaration in the chat, a whole file, the chat's check before its summary).

    ``dates`` are the contract's, the lot's and the market's (start, end) pairs, in the order of
    :data:`clauses.declarations.CONTRACT_DATES`.
    """
    c_start, c_end, l_start, l_end, m_start, m_end = dates
    draft = DeclarationDraft(month=month, work_hours=Decimal(work_hours),
                             training_hours=Decimal(training_hours), is_correction=correction,
                             contract_type=contract_type)
    context = DeclarationContext(
        today=today, contract_start=c_start, contract_end=c_end, lot_start=l_start,
        lot_end=l_end, market_start=m_start, market_end=m_end,
        participant_validated=validated, declaration_exists=exists,
        declaration_identical=exists and identical,
    )
    return draft, context


@dataclass(frozen=True, slots=True)
class DeclarationWarning:
    code: str
    message_fr: str
    message_en: str


@dataclass(frozen=True, slots=True)
class DeclarationProblems:
    errors: tuple[DomainError, ...] = field(default=())
    warnings: tuple[DeclarationWarning, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_window(
    month: dt.date,
    start: dt.date | None,
    end: dt.date | None,
    *,
    what_fr: str,
    what_en: str,
    error: type[DeclarationError],
) -> DeclarationError | None:
    """Refuse a month that does not overlap [start, end] (None: open): the rule of
    :func:`clauses.declaring.lookup.is_running_in_month`, then which end was crossed."""
    if is_running_in_month(start or dt.date.min, end, month):
        return None
    if end is not None and month > end:
        return error(
            f"{what_fr} s'est terminé le {fr_date(end)} : impossible de déclarer "
            f"{fr_month(month)}. Vérifiez le mois.",
            f"The {what_en} ended on {end.isoformat()}: cannot declare {month:%Y-%m}. "
            "Check the month.",
            details={"month": month.isoformat(), "end": end.isoformat()},
        )
    if start is not None and month_end(month) < start:
        return error(
            f"{what_fr} commence le {fr_date(start)} : impossible de déclarer "
            f"{fr_month(month)}. Vérifiez le mois.",
            f"The {what_en} starts on {start.isoformat()}: cannot declare {month:%Y-%m}. "
            "Check the month.",
            details={"month": month.isoformat(), "start": start.isoformat()},
        )
    return None


def declaration_problems(
    draft: DeclarationDraft, context: DeclarationContext, rulebook: Rulebook
) -> DeclarationProblems:
    """Every error and warning of a declaration (see module docstring), none raised."""
    errors: list[DomainError] = []
    warnings: list[DeclarationWarning] = []
    month = month_start(draft.month)
    current = month_start(context.today)

    if month > current:
        errors.append(
            MonthInFutureError(
                f"{fr_month(month, capitalize=True)} n'est pas encore passé : on ne déclare que "
                "des heures déjà réalisées. Vérifiez le mois.",
                f"{month:%Y-%m} is in the future: only hours already worked can be declared.",
                details={"month": month.isoformat()},
            )
        )
    elif month == current:
        warnings.append(
            DeclarationWarning(
                "current_month",
                f"{fr_month(month, capitalize=True)} n'est pas terminé : pensez à compléter "
                "la déclaration en fin de mois (par une correction).",
                f"{month:%Y-%m} is not over yet.",
            )
        )

    for err in (
        _check_window(
            month,
            context.contract_start,
            context.contract_end,
            what_fr="Le contrat",
            what_en="contract",
            error=MonthOutsideContractError,
        ),
        _check_window(
            month,
            context.lot_start,
            context.lot_end,
            what_fr="Le lot",
            what_en="lot",
            error=MonthOutsideLotError,
        ),
        _check_window(
            month,
            context.market_start,
            context.market_end,
            what_fr="Le marché",
            what_en="market",
            error=MonthOutsideLotError,
        ),
    ):
        if err is not None:
            errors.append(err)

    work = to_decimal(draft.work_hours)
    training = to_decimal(draft.training_hours)
    if work < 0 or training < 0:
        errors.append(
            NegativeHoursError(
                "Le nombre d'heures ne peut pas être négatif. Pour retirer des heures, "
                "envoyez une correction avec le bon total du mois.",
                "Hours cannot be negative; send a correction with the right monthly total.",
                details={"work": str(work), "training": str(training)},
            )
        )
    for value in (work, training):
        if value.is_finite() and value != value.quantize(Decimal("0.01")):
            errors.append(
                HoursPrecisionError(
                    f"{value} h : indiquez les heures avec au plus deux décimales "
                    "(ex. 12,25 pour 12 h 15).",
                    f"{value} h: use at most two decimals.",
                    details={"value": str(value)},
                )
            )
            break
    total = work + training
    hours = rulebook.hours
    if total > hours.monthly_hours_max:
        errors.append(
            HoursAboveMaximumError(
                f"{fr_hours(total)} en {fr_month(month)} dépasse le maximum légal de "
                f"{fr_hours(hours.monthly_hours_max)} par mois. Vérifiez le nombre d'heures "
                "(heures du mois pour cette personne, pas du chantier).",
                f"{total} h in {month:%Y-%m} exceeds the legal monthly maximum of "
                f"{hours.monthly_hours_max} h.",
                details={"total": str(total), "max": str(hours.monthly_hours_max)},
            )
        )
    elif total > hours.monthly_hours_full_time:
        warnings.append(
            DeclarationWarning(
                "above_full_time",
                f"{fr_hours(total)} en {fr_month(month)} : plus qu'un temps plein "
                f"({fr_hours(hours.monthly_hours_full_time)}). Merci de vérifier.",
                f"{total} h is above full time ({hours.monthly_hours_full_time} h).",
            )
        )
    elif total == 0 and not draft.is_correction:
        warnings.append(
            DeclarationWarning(
                "zero_hours",
                f"Aucune heure déclarée en {fr_month(month)}.",
                f"No hours declared in {month:%Y-%m}.",
            )
        )

    if not context.participant_validated:
        errors.append(
            ParticipantNotValidatedError(
                "L'éligibilité de cette personne n'a pas encore été validée par la·le "
                "facilitateur·rice : ses heures ne peuvent pas être déclarées. Contactez "
                "votre facilitateur·rice.",
                "The participant's eligibility has not been validated by the facilitator.",
            )
        )

    if context.declaration_exists and not draft.is_correction and not context.declaration_identical:
        errors.append(
            DuplicateDeclarationError(
                f"Des heures sont déjà déclarées pour ce contrat en {fr_month(month)}. "
                "Pour les modifier, envoyez une correction (elle remplace la déclaration "
                "existante).",
                f"A declaration already exists for this contract in {month:%Y-%m}; "
                "send an explicit correction to replace it.",
                details={"month": month.isoformat()},
            )
        )
    elif draft.is_correction and not context.declaration_exists:
        errors.append(
            NothingToCorrectError(
                f"Aucune déclaration à corriger pour ce contrat en {fr_month(month)} : "
                "envoyez une déclaration simple.",
                f"Nothing to correct for this contract in {month:%Y-%m}.",
                details={"month": month.isoformat()},
            )
        )

    kind = None
    if draft.contract_type is not None:
        try:
            kind = rulebook.contract_type(draft.contract_type)
        except UnknownContractTypeError as exc:
            errors.append(exc)
    if kind is not None:
        if work > 0 and not kind.work_hours_count:
            warnings.append(
                DeclarationWarning(
                    "work_not_counted",
                    f"Les heures de travail ne sont pas comptées pour ce type de contrat "
                    f"({kind.label_fr}).",
                    f"Work hours do not count for contract type {kind.key}.",
                )
            )
        if training > 0 and not kind.training_hours_count:
            warnings.append(
                DeclarationWarning(
                    "training_not_counted",
                    f"Les heures de formation ne sont pas comptées pour ce type de contrat "
                    f"({kind.label_fr}).",
                    f"Training hours do not count for contract type {kind.key}.",
                )
            )

    return DeclarationProblems(errors=tuple(errors), warnings=tuple(warnings))


def validate_declaration(
    draft: DeclarationDraft, context: DeclarationContext, rulebook: Rulebook
) -> tuple[DeclarationWarning, ...]:
    """Raise the first error of the declaration, or return its warnings (possibly none)."""
    problems = declaration_problems(draft, context, rulebook)
    if problems.errors:
        raise problems.errors[0]
    return problems.warnings
