"""Reading what the bilans need from the rulebook, tolerantly.

The bilan must still be produced when the data hold a key the rulebook no longer knows (a
contract type renamed, a situation removed): such keys are shown as they are, and an unknown exit
situation falls in the "autre" category rather than making the annual bilan fail.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from clauses.catalog import EXIT_CATEGORY_KEYS

OTHER_CATEGORY = "autre"

_FALLBACK_CATEGORY_LABELS = {
    "emploi_durable": "Emploi durable",
    "emploi_transition": "Emploi de transition",
    "sortie_positive": "Sortie positive",
    "autre": "Autres sorties",
}


def contract_type_info(rulebook: Any, key: str) -> tuple[str, bool]:
    """(French label, durable flag) of a contract type key."""
    types = getattr(rulebook, "contract_types", None) or {}
    item = types.get(key) if hasattr(types, "get") else None
    if item is None:
        return key, False
    return str(getattr(item, "label_fr", key)), bool(getattr(item, "durable", False))


def criterion_labels(rulebook: Any) -> dict[str, tuple[str, bool]]:
    """Criterion key -> (short French label, sensitive?): the status at entry is a criterion key.

    Sensitive criteria (RQTH is health data, SPIP is criminal-offence data, RGPD art. 9/10) are
    flagged so that reports leaving the agency can merge them into one protected row.
    """
    criteria = getattr(getattr(rulebook, "eligibility", None), "criteria", None) or {}
    out = {}
    for key, c in criteria.items():
        label = str(getattr(c, "short_fr", None) or getattr(c, "label_fr", key))
        out[key] = (label[:1].upper() + label[1:], bool(getattr(c, "sensitive", None)))
    return out


def exit_categories(rulebook: Any) -> list[tuple[str, str, dict[str, str]]]:
    """[(category key, label, {situation key: label})] in the fixed order of the bilans."""
    categories = getattr(getattr(rulebook, "exits", None), "categories", None) or {}
    out = []
    for key in EXIT_CATEGORY_KEYS:
        category = categories.get(key) if hasattr(categories, "get") else None
        label = str(getattr(category, "label_fr", "") or _FALLBACK_CATEGORY_LABELS.get(key, key))
        situations = getattr(category, "situations", None) or {}
        out.append((key, label, {s: str(getattr(v, "label_fr", s)) for s, v in situations.items()}))
    return out


def progress_tolerances(rulebook: Any) -> tuple[Decimal, Decimal]:
    """(late, at risk) tolerances; 15 % / 5 % (the shipped defaults) when absent."""
    rules = getattr(rulebook, "progress", None)
    late = Decimal(str(getattr(rules, "late_tolerance", "0.15")))
    risk = Decimal(str(getattr(rules, "at_risk_tolerance", "0.05")))
    return late, risk


def progress(
    owed: Decimal, done: Decimal, start: dt.date, end: dt.date, at: dt.date, rulebook: Any
) -> tuple[Decimal, str, str, str]:
    """(expected hours, status key, French label, method) of one engagement at ``at``.

    Uses :func:`clauses.progress.engagement_progress` (the rule shared with the bot and the
    lateness alerts) when it is importable; otherwise the same pro-rata rule, computed here.
    """
    engagement_progress = _shared_progress()
    if engagement_progress is not None:
        p = engagement_progress(owed, done, start, end, at, rulebook)
        key, label = _status_texts(p.status)
        return (Decimal(p.expected).quantize(_HUNDREDTH), key, label,
                "clauses.progress.engagement_progress")
    return (*_fallback_progress(owed, done, start, end, at, rulebook), "bilan (pro rata simple)")


_HUNDREDTH = Decimal("0.01")


@functools.cache
def _status_texts(status: Any) -> tuple[str, str]:
    """(key, French label) of a progress status, read once per status (a territory bilan asks
    for tens of thousands of engagements)."""
    return str(getattr(status, "value", status)), str(getattr(status, "label_fr", status))


@functools.cache
def _shared_progress() -> Callable[..., Any] | None:
    """:func:`clauses.progress.engagement_progress`, looked up once (a bilan calls
    :func:`progress` for every engagement of the territory), or None when not importable."""
    try:
        from clauses.progress import engagement_progress
    except ImportError:
        return None
    return engagement_progress


def _fallback_progress(
    owed: Decimal, done: Decimal, start: dt.date, end: dt.date, at: dt.date, rulebook: Any
) -> tuple[Decimal, str, str]:
    if at <= start:
        expected = Decimal(0)
    elif at >= end:
        expected = owed
    else:
        expected = owed * Decimal((at - start).days) / Decimal((end - start).days)
    expected = expected.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    late, risk = progress_tolerances(rulebook)
    if done >= owed:
        return expected, "solde", "soldé"
    if at > end or done < expected * (1 - late):
        return expected, "en_retard", "en retard"
    if done < expected * (1 - risk):
        return expected, "a_risque", "à risque"
    return expected, "a_jour", "à jour"


_STEP_LABELS = {
    "ouverture": "ouverture de la procédure",
    "accord_demande": "accord du donneur d'ordre demandé",
    "accord_donneur": "accord du donneur d'ordre",
    "reponse_entreprise": "réponse de l'entreprise",
}
"""Steps recorded beside the procedure's transitions (clauses.escalation_service)."""


def step_label(event: str) -> str:
    """French label of an escalation step (the procedure's own labels; the key if unknown)."""
    if event in _STEP_LABELS:
        return _STEP_LABELS[event]
    try:
        from clauses.escalation import EscalationEvent

        return str(EscalationEvent(event).label_fr)
    except (ImportError, ValueError):
        return event.replace("_", " ")


def state_label(state: str) -> str:
    """French label of an escalation state."""
    try:
        from clauses.escalation import EscalationStatus

        return str(EscalationStatus(state).label_fr)
    except (ImportError, ValueError, AttributeError):
        return state.replace("_", " ")


MEETING_LABELS = {
    "lancement": "réunion de lancement",
    "siae_collective_debut": "réunion collective SIAE (début d'année)",
    "siae_mi_annee": "réunion SIAE de mi-année",
    "siae_collective_fin": "réunion collective SIAE (fin d'année)",
    "partenariat_annuel": "réunion annuelle de partenariat",
    "suivi": "réunion de suivi",
}


def meeting_label(kind: str) -> str:
    return MEETING_LABELS.get(kind, kind.replace("_", " "))
