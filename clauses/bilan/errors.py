"""Refusals of the bilan use cases, with a French message that says what to do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from clauses.errors import DomainError


class BilanError(DomainError):
    code = "bilan_refused"


def _suggestions_fr(suggestions: Sequence[str], close: bool = True) -> str:
    if not suggestions:
        return ""
    names = ", ".join(f"« {s} »" for s in suggestions)
    return f" Vouliez-vous dire : {names} ?" if close else f" Exemples enregistrés : {names}."


class UnknownDonneurError(BilanError):
    """No donneur d'ordre matches the name given; the message lists the closest names."""

    code = "unknown_donneur"

    def __init__(self, name: str, suggestions: Sequence[str], ambiguous: bool = False,
                 close: bool = True) -> None:
        what = "Plusieurs donneurs d'ordre correspondent à" if ambiguous else (
            "Donneur d'ordre inconnu :")
        super().__init__(
            f"{what} « {name} ».{_suggestions_fr(suggestions, close)}",
            f"Unknown or ambiguous donneur {name!r}; close matches: {', '.join(suggestions)}.",
            details={"name": name, "suggestions": list(suggestions)},
        )
        self.suggestions = list(suggestions)


class UnknownMarketError(BilanError):
    code = "unknown_market"

    def __init__(self, reference: str, suggestions: Sequence[str], close: bool = True) -> None:
        super().__init__(
            f"Marché inconnu : « {reference} ».{_suggestions_fr(suggestions, close)}",
            f"Unknown market {reference!r}; close matches: {', '.join(suggestions)}.",
            details={"reference": reference, "suggestions": list(suggestions)},
        )
        self.suggestions = list(suggestions)


class InvalidPeriodError(BilanError):
    code = "bilan_period_invalid"

    def __init__(self, start: dt.date, end: dt.date, reason: str = "order") -> None:
        if reason == "future":
            fr = (f"Période à venir : elle commence le {start:%d/%m/%Y}, après aujourd'hui. "
                  "Un bilan ne compte que des mois terminés : choisissez une période passée ou "
                  "en cours.")
            en = f"Future period: it starts on {start}, after today."
        else:
            fr = f"Période invalide : le {start:%d/%m/%Y} est après le {end:%d/%m/%Y}."
            en = f"Invalid period: {start} is after {end}."
        super().__init__(fr, en, details={"start": start.isoformat(), "end": end.isoformat()})
