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


class _UnknownNameError(BilanError):
    """A name typed that matches nothing (or several): says so and lists the closest names."""

    def __init__(self, head_fr: str, head_en: str, key: str, typed: str, suggestions: Sequence[str],
                 close: bool) -> None:
        super().__init__(
            f"{head_fr} « {typed} ».{_suggestions_fr(suggestions, close)}",
            f"{head_en} {typed!r}; close matches: {', '.join(suggestions)}.",
            details={key: typed, "suggestions": list(suggestions)},
        )
        self.suggestions = list(suggestions)


class UnknownDonneurError(_UnknownNameError):
    """No donneur d'ordre matches the name given; the message lists the closest names."""

    code = "unknown_donneur"

    def __init__(self, name: str, suggestions: Sequence[str], ambiguous: bool = False,
                 close: bool = True) -> None:
        head = "Plusieurs donneurs d'ordre correspondent à" if ambiguous else "Donneur d'ordre inconnu :"
        super().__init__(head, "Unknown or ambiguous donneur", "name", name, suggestions, close)


class UnknownMarketError(_UnknownNameError):
    code = "unknown_market"

    def __init__(self, reference: str, suggestions: Sequence[str], close: bool = True) -> None:
        super().__init__("Marché inconnu :", "Unknown market", "reference", reference, suggestions, close)


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
