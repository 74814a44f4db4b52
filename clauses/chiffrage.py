"""Chiffrage: how many insertion hours a lot owes.

The facilitator's public method (DOMAIN.md, step 2): amount HT × labour share × insertion rate
gives the insertion budget in euros, divided by a loaded hourly cost it gives hours.
1 000 000 € HT × 50 % × 5 % = 25 000 €, ÷ 30 €/h = 833,33 h, announced as 833 h.

Hours owed are whole hours, rounded as the rulebook says (``chiffrage.rounding``):
``nearest`` (default: to the nearest hour, halves up, 833,5 -> 834, as a facilitator rounds by
hand), ``up`` (never under-estimate) or ``down``. The exact value is kept beside the rounded one
so the explanation can be checked. All arithmetic is Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from clauses.errors import ChiffrageInputError
from clauses.formatting import fr_hours, fr_money, fr_percent, to_decimal
from clauses.rulebook import Rulebook

_ROUNDING = {"nearest": ROUND_HALF_UP, "up": ROUND_CEILING, "down": ROUND_FLOOR}
_ROUNDING_FR = {
    "nearest": "arrondi à l'heure la plus proche",
    "up": "arrondi à l'heure supérieure",
    "down": "arrondi à l'heure inférieure",
}


@dataclass(frozen=True, slots=True)
class Chiffrage:
    """Result of a chiffrage, with every input used (so it can be stored and re-explained)."""

    hours: int
    exact_hours: Decimal
    amount_ht: Decimal
    labour_share: Decimal
    insertion_rate: Decimal
    hourly_cost: Decimal
    insertion_budget: Decimal
    trade: str | None
    trade_label_fr: str | None
    rounding: str
    explanation_fr: str

    @property
    def rounding_note_fr(self) -> str:
        """E.g. "833,33 h arrondi à l'heure la plus proche : 833 h"."""
        return f"{fr_hours(self.exact_hours)} {_ROUNDING_FR[self.rounding]} : {self.hours} h"


def _check_range(name_fr: str, value: Decimal, *, upper: Decimal | None = None) -> None:
    if value <= 0 or (upper is not None and value > upper):
        bound = f" et au plus {fr_percent(upper)}" if upper is not None else ""
        raise ChiffrageInputError(
            f"{name_fr.capitalize()} invalide ({value}) : indiquez une valeur positive{bound}.",
            f"Invalid {name_fr}: {value}.",
            details={"field": name_fr, "value": str(value)},
        )


def compute_lot_hours(
    amount_ht: Decimal | int | str,
    *,
    rulebook: Rulebook,
    trade: str | None = None,
    labour_share: Decimal | int | str | None = None,
    rate: Decimal | int | str | None = None,
    hourly_cost: Decimal | int | str | None = None,
) -> Chiffrage:
    """Hours of insertion owed by a lot of ``amount_ht`` euros HT.

    The labour share comes from ``labour_share`` when given (the facilitator's own estimate for a
    technical lot), else from the rulebook's ``trade``; one of them is required. ``rate`` and
    ``hourly_cost`` default to the rulebook's values. Raises :class:`UnknownTradeError` (listing
    the valid trades) or :class:`ChiffrageInputError`.
    """
    amount = to_decimal(amount_ht)
    _check_range("montant HT", amount)
    trade_obj = rulebook.trade(trade) if trade is not None else None
    if labour_share is not None:
        share = to_decimal(labour_share)
    elif trade_obj is not None:
        share = trade_obj.share
    else:
        raise ChiffrageInputError(
            "Indiquez le corps d'état du lot (ex. maçonnerie) ou sa part de main-d'œuvre "
            "(ex. 50 %). Corps d'état connus : " + ", ".join(sorted(rulebook.chiffrage.trades)),
            "Give the lot's trade or its labour share.",
            details={"valid": sorted(rulebook.chiffrage.trades)},
        )
    _check_range("part de main-d'œuvre", share, upper=Decimal(1))
    rate_used = to_decimal(rate) if rate is not None else rulebook.chiffrage.default_insertion_rate
    _check_range("taux d'insertion", rate_used, upper=Decimal(1))
    cost = (
        to_decimal(hourly_cost)
        if hourly_cost is not None
        else rulebook.chiffrage.default_hourly_cost
    )
    _check_range("coût horaire", cost)

    budget = amount * share * rate_used
    exact = budget / cost
    rounding = rulebook.chiffrage.rounding
    hours = int(exact.quantize(Decimal(1), rounding=_ROUNDING[rounding]))

    if trade_obj is not None and labour_share is None:
        share_note = f"part main-d'œuvre {trade_obj.label_fr}"
    elif trade_obj is not None:
        share_note = f"part main-d'œuvre retenue pour {trade_obj.label_fr}"
    else:
        share_note = "part main-d'œuvre"
    explanation = (
        f"{fr_money(amount, ht=True)} × {fr_percent(share)} ({share_note}) × "
        f"{fr_percent(rate_used)} (taux d'insertion) = {fr_money(budget.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP))}"
        f" ÷ {fr_money(cost)}/h = {fr_hours(hours)}"
    )
    return Chiffrage(
        hours=hours,
        exact_hours=exact,
        amount_ht=amount,
        labour_share=share,
        insertion_rate=rate_used,
        hourly_cost=cost,
        insertion_budget=budget,
        trade=trade,
        trade_label_fr=trade_obj.label_fr if trade_obj is not None else None,
        rounding=rounding,
        explanation_fr=explanation,
    )
