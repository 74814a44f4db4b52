"""Contractual penalties for a clause not fulfilled (only when the market's contract provides them).

Public example (default rulebook values): 60 € HT per insertion hour not done, 100 € HT per day
of late reporting after formal notice, the whole capped at 20 % of the lot's amount HT. The
market's own terms (:class:`PenaltyTerms`) override the rulebook, field by field.

The buyer applies penalties, not the agency: this computes the figure and its explanation for the
buyer's notice. Amounts are Decimal, rounded half up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from clauses.errors import InvalidValueError
from clauses.formatting import fr_hours, fr_money, fr_percent, to_decimal
from clauses.rulebook import Rulebook

_CENT = Decimal("0.01")
ZERO = Decimal(0)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class PenaltyTerms:
    """A market's own penalty terms; ``None`` keeps the rulebook's value."""

    per_missing_hour: Decimal | None = None
    per_day_late: Decimal | None = None
    cap_share: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PenaltyResult:
    missing_hours: Decimal
    per_missing_hour: Decimal
    hours_amount: Decimal
    days_late: int
    per_day_late: Decimal
    days_amount: Decimal
    uncapped: Decimal
    cap_share: Decimal
    cap: Decimal
    total: Decimal
    capped: bool
    explanation_fr: str


def compute_penalties(
    owed: Decimal | int | str,
    done: Decimal | int | str,
    lot_amount_ht: Decimal | int | str,
    days_late: int,
    terms: PenaltyTerms | None,
    rulebook: Rulebook,
) -> PenaltyResult:
    """Missing hours × rate + days late × rate, capped at cap share × lot amount."""
    owed_d, done_d, amount = to_decimal(owed), to_decimal(done), to_decimal(lot_amount_ht)
    if amount < 0 or owed_d < 0 or done_d < 0 or days_late < 0:
        raise InvalidValueError(
            "Calcul des pénalités : heures, montant du lot et jours de retard doivent être "
            "positifs ou nuls.",
            "Penalties: hours, lot amount and days late must be non-negative.",
            details={
                "owed": str(owed_d),
                "done": str(done_d),
                "amount": str(amount),
                "days_late": days_late,
            },
        )
    terms = terms or PenaltyTerms()
    rules = rulebook.penalties
    hour_rate = (
        to_decimal(terms.per_missing_hour)
        if terms.per_missing_hour is not None
        else rules.per_missing_hour
    )
    day_rate = (
        to_decimal(terms.per_day_late) if terms.per_day_late is not None else rules.per_day_late
    )
    cap_share = to_decimal(terms.cap_share) if terms.cap_share is not None else rules.cap_share

    missing = max(owed_d - done_d, ZERO)
    hours_amount = _cents(missing * hour_rate)
    days_amount = _cents(Decimal(days_late) * day_rate)
    uncapped = hours_amount + days_amount
    cap = _cents(amount * cap_share)
    capped = uncapped > cap
    total = cap if capped else uncapped

    parts = [
        f"heures manquantes : {fr_hours(missing)} × {fr_money(hour_rate, ht=True)} = "
        f"{fr_money(hours_amount, ht=True)}",
        f"retard : {days_late} jour{'s' if days_late > 1 else ''} × "
        f"{fr_money(day_rate, ht=True)} = {fr_money(days_amount, ht=True)}",
    ]
    explanation = "Pénalités — " + " ; ".join(parts) + f" ; total {fr_money(uncapped, ht=True)}"
    cap_fr = (
        f"plafond de {fr_percent(cap_share)} du montant du lot "
        f"({fr_money(amount, ht=True)} × {fr_percent(cap_share)} = {fr_money(cap, ht=True)})"
    )
    if capped:
        explanation += f", ramené au {cap_fr} : {fr_money(total, ht=True)}."
    else:
        explanation += f", sous le {cap_fr}."
    return PenaltyResult(
        missing_hours=missing,
        per_missing_hour=hour_rate,
        hours_amount=hours_amount,
        days_late=days_late,
        per_day_late=day_rate,
        days_amount=days_amount,
        uncapped=uncapped,
        cap_share=cap_share,
        cap=cap,
        total=total,
        capped=capped,
        explanation_fr=explanation,
    )


def statement_lines(result: PenaltyResult) -> list[str]:
    """The statement sent to the buyer: one line per figure, saying where it comes from."""
    r = result
    plural = "s" if r.days_late > 1 else ""
    lines = [
        f"Heures d'insertion non réalisées : {fr_hours(r.missing_hours)} × "
        f"{fr_money(r.per_missing_hour, ht=True)} par heure = {fr_money(r.hours_amount, ht=True)}",
        f"Retard après la mise en demeure : {r.days_late} jour{plural} après l'échéance du "
        f"courrier × {fr_money(r.per_day_late, ht=True)} par jour = "
        f"{fr_money(r.days_amount, ht=True)}",
        f"Total avant plafond : {fr_money(r.uncapped, ht=True)}",
        f"Plafond : {fr_percent(r.cap_share)} du montant du lot = {fr_money(r.cap, ht=True)}",
    ]
    if r.capped:
        lines.append(f"Total ramené au plafond : {fr_money(r.total, ht=True)}")
    else:
        lines.append(f"Total sous le plafond, retenu : {fr_money(r.total, ht=True)}")
    return lines
