"""Closed enumerations of the domain, with French (and English) labels.

These sets are fixed by law or by the product itself (the kinds of market a bilan counts, the
kinds of employer, the ways a company meets its clause, the roles of the product), so they are
code: storage columns, reports and authorization can rely on them. What varies by territory
(contract types and how they count, eligibility criteria, trades, exit situations) is *not* here:
it is rulebook data (see :mod:`clauses.rulebook`); only the four exit category keys are fixed,
because the bilans always report these four.

Each member is a ``str`` (its key, stored as is) with ``label_fr`` / ``label_en`` attributes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from storage.models.enums import (
    CompanyKind,
    EngagementMeans,
    Gender,
    MarketKind,
    PrescriberKind,
    Role,
)


class LabelledEnum(StrEnum):
    """A string enum whose members carry a French and an English label."""

    label_fr: str
    label_en: str

    def __new__(cls, value: str, label_fr: str = "", label_en: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label_fr = label_fr or value
        member.label_en = label_en or value
        return member

    @classmethod
    def keys(cls) -> list[str]:
        return [member.value for member in cls]

    @classmethod
    def choices_fr(cls) -> str:
        """One "key : label" line per member, for help texts listing the valid values."""
        return "\n".join(f"{member.value} : {member.label_fr}" for member in cls)

    @classmethod
    def parse(cls, value: str) -> Self:
        """Member from its key, case-insensitive; ValueError listing the valid keys otherwise."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"{value!r} is not one of: {', '.join(cls.keys())}") from None


# French labels of the schema's closed vocabularies (storage.models.enums holds the values the
# database constrains; there is one list of values, and its labels live here).
MARKET_KIND_FR: dict[MarketKind, str] = {
    MarketKind.CLAUSE_EXECUTION: "Marché avec clause d'exécution sociale",
    MarketKind.CRITERE_ATTRIBUTION: "Clause d'exécution + critère d'attribution insertion",
    MarketKind.MARCHE_RESERVE: "Marché réservé aux SIAE / structures équivalentes (art. L2113-13 CCP)",
    MarketKind.MARCHE_INSERTION: "Marché d'insertion (achat d'une prestation d'insertion)",
}

COMPANY_KIND_FR: dict[CompanyKind, str] = {
    CompanyKind.ORDINAIRE: "Entreprise",
    CompanyKind.EI: "Entreprise d'insertion (EI)",
    CompanyKind.ETTI: "Entreprise de travail temporaire d'insertion (ETTI)",
    CompanyKind.AI: "Association intermédiaire (AI)",
    CompanyKind.ACI: "Atelier et chantier d'insertion (ACI)",
    CompanyKind.GEIQ: "Groupement d'employeurs pour l'insertion et la qualification (GEIQ)",
    CompanyKind.EA: "Entreprise adaptée (EA)",
}

ENGAGEMENT_MEANS_FR: dict[EngagementMeans, str] = {
    EngagementMeans.EMBAUCHE_DIRECTE: "Embauche directe (CDD, CDI, alternance)",
    EngagementMeans.ETTI: "Intérim via une ETTI",
    EngagementMeans.AI: "Mise à disposition par une AI",
    EngagementMeans.GEIQ: "Mise à disposition par un GEIQ",
    EngagementMeans.SOUS_TRAITANCE_SIAE: "Sous-traitance ou cotraitance avec une SIAE",
}

ROLE_FR: dict[Role, str] = {
    Role.ADMIN: "Administrateur·rice",
    Role.FACILITATEUR: "Facilitateur·rice clause sociale",
    Role.ENTREPRISE: "Entreprise (titulaire, SIAE, GEIQ, EA)",
    Role.REFERENT: "Référent·e du donneur d'ordre",
    Role.PRESCRIPTEUR: "Prescripteur·rice",
}

PRESCRIBER_KIND_FR: dict[PrescriberKind, str] = {
    PrescriberKind.FRANCE_TRAVAIL: "France Travail",
    PrescriberKind.MISSION_LOCALE: "Mission Locale",
    PrescriberKind.PLIE: "PLIE",
    PrescriberKind.CAP_EMPLOI: "Cap Emploi",
    PrescriberKind.SPIP: "SPIP",
    PrescriberKind.DEPARTEMENT: "Département",
    PrescriberKind.SIAE: "SIAE",
    PrescriberKind.AUTRE: "Autre",
}

GENDER_FR: dict[Gender, str] = {Gender.F: "Femme", Gender.M: "Homme", Gender.X: "Non renseigné"}

OWES_HOURS: frozenset[MarketKind] = frozenset(
    {MarketKind.CLAUSE_EXECUTION, MarketKind.CRITERE_ATTRIBUTION}
)
"""Markets whose holder owes a number of insertion hours (tracked by a grid)."""


EXIT_CATEGORY_KEYS: tuple[str, ...] = (
    "emploi_durable",
    "emploi_transition",
    "sortie_positive",
    "autre",
)
"""The four exit categories every rulebook defines (their situations are rulebook data)."""
