"""French wording of the bilans: titles, periods and the labels of fixed vocabularies."""

from __future__ import annotations

from clauses.bilan.figures import BilanFigures, BilanKind, Period, RelationStatus
from clauses.formatting import fr_date

MARKET_KIND_LABELS: dict[str, str] = {
    "clause_execution": "Marchés avec clause d'exécution sociale",
    "critere_attribution": "Marchés avec clause et critère d'attribution insertion",
    "marche_reserve": "Marchés réservés (SIAE / structures équivalentes)",
    "marche_insertion": "Marchés d'insertion",
}
MARKET_KIND_SHORT: dict[str, str] = {
    "clause_execution": "Clause d'exécution",
    "critere_attribution": "Clause + critère",
    "marche_reserve": "Marché réservé",
    "marche_insertion": "Marché d'insertion",
}
APART_PLURAL: dict[str, str] = {"marche_reserve": "Marchés réservés",
                                "marche_insertion": "Marchés d'insertion"}
MARKET_STATUS_LABELS: dict[str, str] = {"prevu": "Prévu", "en_cours": "En cours",
                                        "termine": "Terminé", "clos": "Clos"}
COMPANY_KIND_LABELS: dict[str, str] = {
    "ordinaire": "Entreprise",
    "EI": "EI",
    "ETTI": "ETTI",
    "AI": "AI",
    "ACI": "ACI",
    "GEIQ": "GEIQ",
    "EA": "EA",
}
MEANS_LABELS: dict[str, str] = {
    "embauche_directe": "Embauche directe (CDD, CDI, apprentissage, professionnalisation)",
    "etti": "Intérim d'insertion (ETTI)",
    "ai": "Mise à disposition par une association intermédiaire",
    "geiq": "Mise à disposition par un GEIQ",
    "sous_traitance_siae": "Sous-traitance ou cotraitance avec une SIAE",
}
RELATION_LABELS: dict[RelationStatus, str] = {
    RelationStatus.A_JOUR: "À jour",
    RelationStatus.EN_RETARD: "En retard",
    RelationStatus.SOUS_PROCEDURE: "Sous procédure",
    RelationStatus.DEFAILLANTE: "Défaillante",
}
RELATION_COLOURS: dict[RelationStatus, str] = {
    RelationStatus.A_JOUR: "#1b7f3b",
    RelationStatus.EN_RETARD: "#b25e00",
    RelationStatus.SOUS_PROCEDURE: "#b00020",
    RelationStatus.DEFAILLANTE: "#6d0016",
}


def period_label(period: Period) -> str:
    """"année 2025" or "du 01/03/2025 au 30/06/2025"."""
    if period.is_calendar_year:
        return f"année {period.start.year}"
    return f"du {fr_date(period.start)} au {fr_date(period.end)}"


def as_of_line(figures: BilanFigures) -> str:
    """The one « as of » of the document: the end of the last complete month."""
    cutoff = figures.progress_cutoff
    if cutoff == figures.at:
        return f"Chiffres au {fr_date(cutoff)}."
    return (f"Chiffres au {fr_date(cutoff)} : dernier mois complet au {fr_date(figures.at)} "
            "(le mois en cours n'est pas compté).")


CONTESTED_NOTE = "en attente d'un justificatif ou d'une correction de l'entreprise"
"""Why contested hours are shown apart yet still counted (clauses.declaration_control)."""


def counted_span(figures: BilanFigures) -> str:
    """The months the period's hours cover: « en 2025 » or « du 01/01/2026 au 30/11/2026 »."""
    start = figures.period.month_start
    if figures.period.is_calendar_year and figures.progress_cutoff == figures.period.end:
        return f"en {start.year}"
    return f"du {fr_date(start)} au {fr_date(figures.progress_cutoff)}"


def title(figures: BilanFigures) -> str:
    kind = figures.kind
    if kind is BilanKind.ANNUEL:
        if figures.period.is_calendar_year:
            return f"Bilan annuel {figures.period.start.year}"
        return f"Bilan {period_label(figures.period)}"
    if kind is BilanKind.POINT_ETAPE:
        return f"Point d'étape au {fr_date(figures.at)}"
    if kind is BilanKind.FINAL:
        return "Bilan final synthétique"
    if figures.period.is_calendar_year:
        return f"Bilan du territoire {figures.period.start.year}"
    return f"Bilan du territoire {period_label(figures.period)}"


def subject_of(figures: BilanFigures) -> str:
    """Who or what the bilan is about: the donneur, or the market with its reference."""
    if figures.market_reference:
        return f"marché {figures.market_reference}"
    if figures.donneur_name:
        return figures.donneur_name
    return "tous les donneurs d'ordre"


def mail_subject(figures: BilanFigures) -> str:
    """E.g. "Bilan annuel 2025 — Ville d'Oullins"."""
    return f"{title(figures)} — {subject_of(figures)}"


def file_stem(figures: BilanFigures) -> str:
    """A safe file name stem: "bilan-annuel-2025-ville-d-oullins"."""
    import re
    import unicodedata

    text = f"{title(figures)} {subject_of(figures)}"
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:100] or "bilan"
