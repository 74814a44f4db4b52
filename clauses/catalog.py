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


class MarketKind(LabelledEnum):
    """Kinds of market a buyer's bilan counts separately (DOMAIN.md, "Kinds of market")."""

    CLAUSE_EXECUTION = (
        "clause_execution",
        "Marché avec clause d'exécution sociale",
        "Market with a social execution clause",
    )
    CLAUSE_ATTRIBUTION = (
        "clause_attribution",
        "Clause d'exécution + critère d'attribution insertion",
        "Execution clause + insertion award criterion",
    )
    RESERVE = (
        "reserve",
        "Marché réservé aux SIAE / structures équivalentes (art. L2113-13 CCP)",
        "Market reserved to SIAE / equivalent structures (art. L2113-13 CCP)",
    )
    INSERTION = (
        "insertion",
        "Marché d'insertion (achat d'une prestation d'insertion)",
        "Insertion market (purchase of an insertion service)",
    )

    @property
    def owes_hours(self) -> bool:
        """Markets whose holder owes a number of insertion hours (tracked by a grid)."""
        return self in (MarketKind.CLAUSE_EXECUTION, MarketKind.CLAUSE_ATTRIBUTION)


class CompanyKind(LabelledEnum):
    """Kinds of employer that hold a lot or carry a work contract."""

    ENTREPRISE = ("entreprise", "Entreprise", "Company")
    EI = ("ei", "Entreprise d'insertion (EI)", "Work integration company (EI)")
    ETTI = (
        "etti",
        "Entreprise de travail temporaire d'insertion (ETTI)",
        "Work integration temp agency (ETTI)",
    )
    AI = ("ai", "Association intermédiaire (AI)", "Intermediary association (AI)")
    ACI = ("aci", "Atelier et chantier d'insertion (ACI)", "Insertion workshop (ACI)")
    GEIQ = (
        "geiq",
        "Groupement d'employeurs pour l'insertion et la qualification (GEIQ)",
        "Employers' group for insertion and qualification (GEIQ)",
    )
    EA = ("ea", "Entreprise adaptée (EA)", "Disability-inclusive company (EA)")
    ETT = ("ett", "Entreprise de travail temporaire", "Temp agency")

    @property
    def is_siae(self) -> bool:
        """Structures of the IAE (insertion par l'activité économique)."""
        return self in (CompanyKind.EI, CompanyKind.ETTI, CompanyKind.AI, CompanyKind.ACI)


class EngagementMean(LabelledEnum):
    """Ways a company meets its clause (DOMAIN.md, life of a clause, step 8)."""

    EMBAUCHE_DIRECTE = (
        "embauche_directe",
        "Embauche directe (CDD, CDI, apprentissage, professionnalisation)",
        "Direct hiring",
    )
    INTERIM_ETTI = ("interim_etti", "Intérim via une ETTI", "Temp work through an ETTI")
    INTERIM_ETT = ("interim_ett", "Intérim via une agence classique", "Temp work (ordinary agency)")
    MISE_A_DISPOSITION_AI = (
        "mise_a_disposition_ai",
        "Mise à disposition par une AI",
        "Staff lent by an AI",
    )
    MISE_A_DISPOSITION_GEIQ = (
        "mise_a_disposition_geiq",
        "Mise à disposition par un GEIQ",
        "Staff lent by a GEIQ",
    )
    SOUS_TRAITANCE_SIAE = (
        "sous_traitance_siae",
        "Sous-traitance à une SIAE (EI, ACI)",
        "Subcontracting to an SIAE",
    )
    COTRAITANCE_SIAE = (
        "cotraitance_siae",
        "Cotraitance avec une SIAE (EI, ACI)",
        "Co-contracting with an SIAE",
    )
    EMBAUCHE_SALARIE_SIAE = (
        "embauche_salarie_siae",
        "Embauche d'un·e salarié·e en parcours SIAE",
        "Hiring an SIAE employee",
    )


class Role(LabelledEnum):
    """Roles of the product's users (the participant is never a user)."""

    ADMIN = ("admin", "Administrateur·rice", "Administrator")
    FACILITATEUR = ("facilitateur", "Facilitateur·rice clause sociale", "Clause facilitator")
    DONNEUR_ORDRE = ("donneur_ordre", "Référent·e du donneur d'ordre", "Buyer's referent")
    ENTREPRISE = ("entreprise", "Entreprise (titulaire, SIAE, GEIQ, EA)", "Company")
    PRESCRIPTEUR = ("prescripteur", "Prescripteur·rice", "Prescriber")


class PrescriberKind(LabelledEnum):
    """Employment and insertion intermediaries that refer candidates."""

    FRANCE_TRAVAIL = ("france_travail", "France Travail", "France Travail")
    MISSION_LOCALE = ("mission_locale", "Mission Locale", "Mission Locale (youth)")
    PLIE = ("plie", "PLIE", "PLIE (local employment plan)")
    CAP_EMPLOI = ("cap_emploi", "Cap Emploi", "Cap Emploi (disability)")
    SPIP = ("spip", "SPIP", "Probation service (SPIP)")
    DEPARTEMENT = ("departement", "Département (référent RSA)", "Département (RSA referent)")
    SIAE = ("siae", "SIAE", "SIAE")
    AUTRE = ("autre", "Autre", "Other")


class Gender(LabelledEnum):
    """Gender as reported in the bilans' beneficiary typology."""

    FEMME = ("f", "Femme", "Woman")
    HOMME = ("m", "Homme", "Man")
    NON_RENSEIGNE = ("nr", "Non renseigné", "Not stated")


EXIT_CATEGORY_KEYS: tuple[str, ...] = (
    "emploi_durable",
    "emploi_transition",
    "sortie_positive",
    "autre",
)
"""The four exit categories every rulebook defines (their situations are rulebook data)."""
