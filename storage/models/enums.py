"""Closed vocabularies of the schema.

They live in storage because the database constrains them; the domain re-exports them. Open
vocabularies that vary by territory (eligibility criteria, contract types, corps d'état, exit
situations) are rulebook data and stored as plain string keys.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa


class Role(StrEnum):
    ADMIN = "admin"
    FACILITATEUR = "facilitateur"
    ENTREPRISE = "entreprise"
    REFERENT = "referent"
    PRESCRIPTEUR = "prescripteur"


class DonneurKind(StrEnum):
    VILLE = "ville"
    METROPOLE = "metropole"
    BAILLEUR = "bailleur_social"
    ETAT = "etat"
    AUTRE = "autre"


class MarketKind(StrEnum):
    CLAUSE_EXECUTION = "clause_execution"
    CRITERE_ATTRIBUTION = "critere_attribution"
    MARCHE_RESERVE = "marche_reserve"
    MARCHE_INSERTION = "marche_insertion"


class MarketStatus(StrEnum):
    PREVU = "prevu"
    EN_COURS = "en_cours"
    CLOS = "clos"


class CompanyKind(StrEnum):
    ORDINAIRE = "ordinaire"
    EI = "EI"
    ETTI = "ETTI"
    AI = "AI"
    ACI = "ACI"
    GEIQ = "GEIQ"
    EA = "EA"


class EngagementMeans(StrEnum):
    EMBAUCHE_DIRECTE = "embauche_directe"
    ETTI = "etti"
    AI = "ai"
    GEIQ = "geiq"
    SOUS_TRAITANCE_SIAE = "sous_traitance_siae"


class ContactKind(StrEnum):
    REFERENT = "referent"
    ENTREPRISE = "entreprise"
    PRESCRIPTEUR = "prescripteur"


class PrescriberKind(StrEnum):
    FRANCE_TRAVAIL = "france_travail"
    MISSION_LOCALE = "mission_locale"
    PLIE = "plie"
    CAP_EMPLOI = "cap_emploi"
    SPIP = "spip"
    DEPARTEMENT = "departement"
    SIAE = "siae"
    AUTRE = "autre"


class Gender(StrEnum):
    F = "F"
    M = "M"
    X = "X"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    CONSOLE = "console"
    EMAIL = "email"
    CLI = "cli"
    SCHEDULER = "scheduler"
    SYSTEM = "system"


class CandidatureStatus(StrEnum):
    A_VALIDER = "a_valider"
    VALIDEE = "validee"
    REFUSEE = "refusee"
    EMBAUCHEE = "embauchee"
    RETIREE = "retiree"


class JobOfferStatus(StrEnum):
    OUVERTE = "ouverte"
    POURVUE = "pourvue"
    FERMEE = "fermee"


class DeclarationStatus(StrEnum):
    ENREGISTREE = "enregistree"
    VALIDEE = "validee"
    CONTESTEE = "contestee"


class EscalationState(StrEnum):
    OUVERT = "ouvert"
    CONTACTE = "contacte"
    RELANCE_ECRITE = "relance_ecrite"
    COURRIER_ENVOYE = "courrier_envoye"
    DONNEUR_ALERTE = "donneur_alerte"
    DEFAILLANCE_NOTIFIEE = "defaillance_notifiee"
    PENALITES_CALCULEES = "penalites_calculees"
    CLOS = "clos"


class AlertKind(StrEnum):
    CANDIDATURE_A_VALIDER = "candidature_a_valider"
    ENTREPRISE_EN_RETARD = "entreprise_en_retard"
    DECLARATION_MANQUANTE = "declaration_manquante"
    ESCALADE_ECHEANCE = "escalade_echeance"
    COURRIER_A_APPROUVER = "courrier_a_approuver"
    EMAIL_A_TRAITER = "email_a_traiter"
    EXPEDITEUR_INCONNU = "expediteur_inconnu"
    QUARANTAINE = "quarantaine"
    ENVOI_ECHOUE = "envoi_echoue"
    BILAN_FINAL = "bilan_final"
    BILAN_ANNUEL = "bilan_annuel"
    REUNION = "reunion"
    CONVENTION = "convention"
    FACTURATION = "facturation"
    AUTRE = "autre"


class MeetingKind(StrEnum):
    LANCEMENT = "lancement"
    SIAE_DEBUT = "siae_collective_debut"
    SIAE_MI_ANNEE = "siae_mi_annee"
    SIAE_FIN_ANNEE = "siae_collective_fin"
    PARTENARIAT_ANNUEL = "partenariat_annuel"
    SUIVI = "suivi"


class OutboxChannel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class MailStatus(StrEnum):
    TRAITE = "traite"
    ERREUR = "erreur"
    QUARANTAINE = "quarantaine"


def enum_type(enum_cls: type[StrEnum]) -> sa.Enum:
    """Store the enum's value (not its name) as a portable VARCHAR."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        values_callable=lambda e: [m.value for m in e],
        length=max(len(m.value) for m in enum_cls) + 8,
        validate_strings=True,
        name=enum_cls.__name__.lower(),
    )
