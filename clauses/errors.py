"""Typed errors of the clause domain.

Every refusal of a rule is an exception that carries a French message telling the user *what to
fix* (``message_fr``), an English one for logs and operators (``message_en``), a stable ``code``
and the values involved (``details``). The bot, the e-mail intake and the CLI can therefore answer
any domain refusal the same way (``err.message_fr``) without knowing the rule that failed, and
tests can assert on the type instead of on wording.

``str(err)`` is the French message because the product's users read French; logs that want English
use ``err.message_en``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base class of every refusal by a clause rule."""

    code: ClassVar[str] = "domain_error"

    def __init__(
        self,
        message_fr: str,
        message_en: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message_fr)
        self.message_fr = message_fr
        self.message_en = message_en or message_fr
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message_fr


def _keys_fr(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys))


# --- rulebook ------------------------------------------------------------------------------


class RulebookError(DomainError):
    """A rulebook file cannot be found, parsed or validated."""

    code = "rulebook_invalid"


class UnknownKeyError(DomainError):
    """A key (trade, contract type, criterion...) is not in the rulebook; lists the valid ones."""

    code = "unknown_key"
    kind_fr: ClassVar[str] = "la clé"
    kind_en: ClassVar[str] = "key"

    def __init__(self, key: str, valid: Iterable[str]) -> None:
        valid_sorted = sorted(valid)
        super().__init__(
            f"Valeur inconnue pour {self.kind_fr} : « {key} ». "
            f"Valeurs possibles : {_keys_fr(valid_sorted)}.",
            f"Unknown {self.kind_en}: {key!r}. Valid values: {', '.join(valid_sorted)}.",
            details={"key": key, "valid": valid_sorted},
        )
        self.key = key
        self.valid = valid_sorted


class UnknownTradeError(UnknownKeyError):
    code = "unknown_trade"
    kind_fr = "le corps d'état"
    kind_en = "trade"


class UnknownContractTypeError(UnknownKeyError):
    code = "unknown_contract_type"
    kind_fr = "le type de contrat"
    kind_en = "contract type"


class UnknownCriterionError(UnknownKeyError):
    code = "unknown_criterion"
    kind_fr = "le critère d'éligibilité"
    kind_en = "eligibility criterion"


class UnknownSituationError(UnknownKeyError):
    code = "unknown_situation"
    kind_fr = "la situation de sortie"
    kind_en = "exit situation"


# --- input values ----------------------------------------------------------------------------


class InvalidValueError(DomainError):
    """A number or a date given by a user is out of its allowed range or malformed."""

    code = "invalid_value"


class MonthParseError(InvalidValueError):
    code = "month_unparsed"


class NumberParseError(InvalidValueError):
    code = "number_unparsed"


class ChiffrageInputError(InvalidValueError):
    code = "chiffrage_input"


# --- declarations ----------------------------------------------------------------------------


class DeclarationError(DomainError):
    """A monthly declaration of hours is refused; the message says what to correct."""

    code = "declaration_refused"


class MonthInFutureError(DeclarationError):
    code = "month_in_future"


class MonthOutsideContractError(DeclarationError):
    code = "month_outside_contract"


class MonthOutsideLotError(DeclarationError):
    code = "month_outside_lot"


class NegativeHoursError(DeclarationError):
    code = "negative_hours"


class HoursPrecisionError(DeclarationError):
    code = "hours_precision"


class HoursAboveMaximumError(DeclarationError):
    code = "hours_above_maximum"


class ParticipantNotValidatedError(DeclarationError):
    code = "participant_not_validated"


class DuplicateDeclarationError(DeclarationError):
    code = "declaration_duplicate"


class NothingToCorrectError(DeclarationError):
    code = "nothing_to_correct"


# --- escalation ------------------------------------------------------------------------------


class EscalationError(DomainError):
    code = "escalation_refused"


class IllegalTransitionError(EscalationError):
    code = "escalation_illegal_transition"


class ConsentRequiredError(EscalationError):
    code = "escalation_consent_required"


class NotEnoughContactsError(EscalationError):
    code = "escalation_not_enough_contacts"


class DeadlineNotPassedError(EscalationError):
    code = "escalation_deadline_not_passed"
