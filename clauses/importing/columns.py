"""The import file's format: its columns, their French descriptions and the size limits.

Kept apart from the reading and the validation because it is the contract with users: the
template (:func:`template_header`), ``examples/modele_import.csv`` and ``examples/README.md``
all follow :data:`COLUMNS`.
"""

from __future__ import annotations

from decimal import Decimal

COLUMNS: dict[str, str] = {
    "donneur": "Nom du donneur d'ordre (ex. Ville d'Oullins).",
    "type_donneur": "ville, metropole, bailleur_social, etat ou autre. Rempli : crée le donneur "
                    "s'il n'existe pas.",
    "marche_ref": "Référence du marché, unique (ex. 2025-017).",
    "marche_intitule": "Intitulé du marché.",
    "type_marche": "clause_execution, critere_attribution, marche_reserve ou marche_insertion.",
    "procedure": "Procédure de passation (ex. MAPA, appel d'offres ouvert).",
    "montant_marche_ht": "Montant du marché en euros HT (ex. 1 250 000,00).",
    "date_notification": "Date de notification (JJ/MM/AAAA ou AAAA-MM-JJ).",
    "date_debut": "Début d'exécution.",
    "date_fin": "Fin d'exécution (pas avant le début).",
    "facilitateur": "E-mail d'un·e facilitateur·rice existant·e, chargé·e du marché.",
    "part_heures_qpv": "Part minimale des heures réalisée par des résident·es QPV, si le marché "
                       "en fixe une (ex. 5 % sur une opération ANRU) ; vide : aucune.",
    "lot_numero": "Numéro du lot (entier, 1 pour un lot unique).",
    "lot_intitule": "Intitulé du lot.",
    "corps_etat": "Corps d'état du règlement (ex. maconnerie, peinture_interieure).",
    "montant_lot_ht": "Montant du lot en euros HT.",
    "heures_insertion": "Heures d'insertion dues sur le lot ; vide : calculées par le chiffrage.",
    "penalite_heure": "Pénalité du lot par heure d'insertion non réalisée, en euros HT (ex. 60).",
    "penalite_jour": "Pénalité du lot par jour de retard après mise en demeure, en euros HT "
                     "(ex. 100).",
    "penalite_plafond": "Plafond des pénalités, en part du montant du lot (ex. 20 %).",
    "entreprise": "Raison sociale de l'entreprise titulaire.",
    "siret": "SIRET de l'entreprise (14 chiffres, espaces acceptés).",
    "type_entreprise": "ordinaire, EI, ETTI, AI, ACI, GEIQ ou EA.",
    "email_entreprise": "E-mail du contact de l'entreprise (reconnaît ses envois de courriels).",
    "contact_entreprise": "Nom du contact de l'entreprise.",
    "heures_engagement": "Heures dues par l'entreprise sur le lot ; vide : les heures du lot.",
    "moyen": "embauche_directe, etti, ai, geiq ou sous_traitance_siae.",
    "referent": "Nom d'un·e référent·e du donneur (reçoit les bilans par e-mail).",
    "email_referent": "E-mail du ou de la référent·e (pas celui d'une entreprise).",
    "fonction_referent": "Fonction du ou de la référent·e (ex. Responsable des achats).",
}
"""Every accepted column, in the template's order, with its French description."""

MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_HOURS = Decimal("99999999.99")  # Numeric(10, 2)

MAX_LENGTHS = {"donneur": 200, "marche_ref": 60, "marche_intitule": 300, "procedure": 60,
               "lot_intitule": 300, "corps_etat": 60, "entreprise": 200, "email_entreprise": 254,
               "contact_entreprise": 200, "referent": 200, "email_referent": 254,
               "fonction_referent": 200}
"""Longest text accepted per column: the database column's size, refused on the line."""


def template_header(delimiter: str = ";") -> str:
    """The header line of the import template, in :data:`COLUMNS` order."""
    return delimiter.join(COLUMNS)
