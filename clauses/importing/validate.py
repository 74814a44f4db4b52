"""Validating the lines: each cell parsed, each line complete, the lines of one entity agreeing.

Every problem is collected with its line and column instead of stopping at the first, so the
user fixes the whole file in one pass. What needs the database (unknown donneurs, new markets'
required columns, hours of new lots) is checked afterwards by :mod:`clauses.importing.resolve`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from clauses.formatting import fold
from clauses.importing.columns import MAX_LENGTHS
from clauses.importing.entities import INVALID, Entity, display
from clauses.importing.results import LineError
from clauses.importing.values import (
    ValueProblem,
    parse_amount,
    parse_cap_share,
    parse_company_kind,
    parse_date,
    parse_donneur_kind,
    parse_email,
    parse_hours_value,
    parse_lot_number,
    parse_market_kind,
    parse_means,
    parse_share,
    parse_trade,
)
from clauses.siret import InvalidSiretError, normalize_siret

# Entity attribute -> (CSV column, parser): the merge reports conflicts by column name.
_MARKET_COLUMNS: dict[str, tuple[str, Any]] = {
    "title": ("marche_intitule", None),
    "kind": ("type_marche", parse_market_kind),
    "procedure": ("procedure", None),
    "amount_ht": ("montant_marche_ht", parse_amount),
    "notified_on": ("date_notification", parse_date),
    "start_date": ("date_debut", parse_date),
    "end_date": ("date_fin", parse_date),
    "facilitator": ("facilitateur", parse_email),
    "qpv_hours_share_min": ("part_heures_qpv", parse_share),
}
_LOT_COLUMNS: dict[str, tuple[str, Any]] = {
    "label": ("lot_intitule", None),
    "trade": ("corps_etat", None),  # parsed against the rulebook by the validator
    "amount_ht": ("montant_lot_ht", parse_amount),
    "hours_owed": ("heures_insertion", parse_hours_value),
    "penalty_per_hour": ("penalite_heure", parse_amount),
    "penalty_per_day_late": ("penalite_jour", parse_amount),
    "penalty_cap_share": ("penalite_plafond", parse_cap_share),
}
_COMPANY_COLUMNS: dict[str, tuple[str, Any]] = {
    "name": ("entreprise", None),
    "kind": ("type_entreprise", parse_company_kind),
    "email": ("email_entreprise", parse_email),
    "contact_name": ("contact_entreprise", None),
}
_ENGAGEMENT_COLUMNS: dict[str, tuple[str, Any]] = {
    "hours_owed": ("heures_engagement", parse_hours_value),
    "means": ("moyen", parse_means),
}
_REFERENT_COLUMNS: dict[str, tuple[str, Any]] = {
    "name": ("referent", None),
    "email": ("email_referent", parse_email),
    "position": ("fonction_referent", None),
}


class RowValidator:
    """Turns rows into merged entities, collecting every problem with its line."""

    def __init__(self, session: Session, rulebook: Any | None) -> None:
        self.session = session
        self.rulebook = rulebook
        self.errors: list[LineError] = []
        self.warnings: list[str] = []
        self.donneurs: dict[str, Entity] = {}
        self.markets: dict[str, Entity] = {}
        self.lots: dict[tuple[str, int], Entity] = {}
        self.companies: dict[str, Entity] = {}
        self.engagements: dict[tuple[str, int, str], Entity] = {}
        self.referents: dict[str, Entity] = {}

    def error(self, line: int | None, column: str | None, message: str) -> None:
        self.errors.append(LineError(line, column, message))

    # -- per line ------------------------------------------------------------------------------

    def _cell(self, row: Mapping[str, str], line: int | None, column: str,
              parser: Any = None) -> Any:
        """Parsed value of a cell; None when empty; INVALID (and an error) when refused."""
        raw = (row.get(column) or "").strip()
        if not raw:
            return None
        limit = MAX_LENGTHS.get(column)
        if limit is not None and len(raw) > limit:
            self.error(line, column, f"texte trop long ({len(raw)} caractères, {limit} au plus).")
            return INVALID
        if parser is None:
            return re.sub(r"\s+", " ", raw)
        try:
            return parser(raw)
        except ValueProblem as exc:
            self.error(line, column, str(exc))
        except InvalidSiretError as exc:
            self.error(line, column, exc.message_fr)
        return INVALID

    def _merge(self, entity: Entity, line: int | None, values: dict[str, Any],
               what: str, columns: Mapping[str, tuple[str, Any]]) -> None:
        for name, value in values.items():
            if value is None:
                continue
            if value is INVALID:
                entity.values.setdefault(name, INVALID)
                continue
            previous = entity.values.get(name)
            if previous is None or previous is INVALID:
                entity.values[name] = value
                entity.lines[name] = line
            elif previous != value:
                earlier = entity.lines.get(name)
                self.error(line, columns[name][0],
                           f"« {display(value)} » contredit « {display(previous)} » donné "
                           f"ligne {earlier} pour {what}.")

    def _values(self, row: Mapping[str, str], line: int | None,
                columns: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
        return {attr: self._cell(row, line, column, parser)
                for attr, (column, parser) in columns.items()}

    def add_row(self, line: int | None, row: Mapping[str, str]) -> None:
        trade_parser = lambda text: parse_trade(text, self.rulebook)  # noqa: E731
        donneur = self._cell(row, line, "donneur")
        donneur_kind = self._cell(row, line, "type_donneur", parse_donneur_kind)
        ref = self._cell(row, line, "marche_ref")
        market_values = self._values(row, line, _MARKET_COLUMNS)
        lot_number = self._cell(row, line, "lot_numero", parse_lot_number)
        lot_values = self._values(row, line, {**_LOT_COLUMNS,
                                              "trade": ("corps_etat", trade_parser)})
        siret = self._cell(row, line, "siret", normalize_siret)
        company_values = self._values(row, line, _COMPANY_COLUMNS)
        engagement_values = self._values(row, line, _ENGAGEMENT_COLUMNS)

        has_market_data = any(v is not None for v in market_values.values())
        has_lot_data = lot_number is not None or any(v is not None for v in lot_values.values())
        has_company_data = any(v is not None for v in company_values.values())
        has_engagement_data = any(v is not None for v in engagement_values.values())

        if ref is None and (has_market_data or has_lot_data):
            self.error(line, "marche_ref", "référence du marché manquante : les colonnes du "
                       "marché et du lot s'appliquent à un marché désigné par marche_ref.")
        if siret is None and (has_company_data or has_engagement_data):
            self.error(line, "siret", "SIRET manquant : une entreprise est désignée par son "
                       "SIRET (14 chiffres).")
        if ref is not None and lot_number is None and has_lot_data:
            self.error(line, "lot_numero", "numéro de lot manquant pour les colonnes du lot.")
        if siret is not None and ref is not None and lot_number is None:
            self.error(line, "lot_numero", "numéro de lot manquant : un engagement lie une "
                       "entreprise à un lot (1 pour un lot unique).")
        referent_values = self._values(row, line, _REFERENT_COLUMNS)
        if any(v is not None for v in referent_values.values()):
            if referent_values["email"] is None:
                self.error(line, "email_referent", "adresse du ou de la référent·e manquante : "
                           "c'est par elle qu'il ou elle reçoit les bilans.")
            if donneur is None:
                self.error(line, "donneur", "donneur d'ordre manquant pour le ou la référent·e.")
            elif isinstance(donneur, str) and isinstance(referent_values["email"], str):
                email = referent_values["email"]
                ent = self.referents.setdefault(email, Entity(email, line))
                self._merge(ent, line, {"donneur": fold(donneur), **referent_values},
                            f"le ou la référent·e {email}",
                            {"donneur": ("donneur", None), **_REFERENT_COLUMNS})
        if donneur is None and (ref is not None or donneur_kind is not None):
            self.error(line, "donneur", "donneur d'ordre manquant.")
        if (donneur is None and ref is None and siret is None
                and any((v or "").strip() for v in row.values())):
            self.error(line, None, "ligne sans donneur, marché ni SIRET : rien à importer.")

        if isinstance(donneur, str):
            entity = self.donneurs.setdefault(fold(donneur), Entity(fold(donneur), line))
            entity.values.setdefault("name", donneur)  # spelled as on its first line
            entity.seen_on.append(line)
            self._merge(entity, line, {"kind": donneur_kind}, f"le donneur « {donneur} »",
                        {"kind": ("type_donneur", None)})
        if isinstance(ref, str):
            entity = self.markets.setdefault(ref, Entity(ref, line))
            donneur_key = fold(donneur) if isinstance(donneur, str) else donneur
            self._merge(entity, line, {"donneur": donneur_key, **market_values},
                        f"le marché {ref}", {"donneur": ("donneur", None), **_MARKET_COLUMNS})
            if isinstance(lot_number, int):
                lot = self.lots.setdefault((ref, lot_number), Entity((ref, lot_number), line))
                self._merge(lot, line, lot_values, f"le lot {lot_number} du marché {ref}",
                            _LOT_COLUMNS)
        if isinstance(siret, str):
            company = self.companies.setdefault(siret, Entity(siret, line))
            self._merge(company, line, company_values, f"l'entreprise {siret}",
                        _COMPANY_COLUMNS)
            if isinstance(ref, str) and isinstance(lot_number, int):
                key = (ref, lot_number, siret)
                eng = self.engagements.setdefault(key, Entity(key, line))
                self._merge(eng, line, engagement_values,
                            f"l'engagement de {siret} sur le lot {lot_number} du marché {ref}",
                            _ENGAGEMENT_COLUMNS)
            if isinstance(ref, str) and isinstance(market_values["facilitator"], str):
                company.values.setdefault("market_facilitator", market_values["facilitator"])
