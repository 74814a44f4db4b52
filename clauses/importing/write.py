"""Writing a validated plan: upserts by natural key, counting created / updated / unchanged rows.

Runs only once every line is valid, inside the caller's transaction (or a SAVEPOINT for a dry
run), so a file is written whole or not at all. Parents are flushed before children because the
children need their ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.fees import status_for_new_market
from clauses.importing.entities import Plan
from clauses.importing.results import ENTITY_LABELS
from storage.models import (
    Company,
    Contact,
    ContactKind,
    Donneur,
    DonneurKind,
    Engagement,
    EngagementMeans,
    Lot,
    Market,
)


def _filled(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values whose cell was filled: a new row takes its model defaults for the others."""
    return {k: v for k, v in values.items() if v is not None}


class Writer:
    """Upserts the validated plan, counting created / updated / unchanged rows."""

    def __init__(self, session: Session, today: dt.date | None = None) -> None:
        self.session = session
        self.today = today
        self.counts: dict[str, dict[str, int]] = {
            name: {"créés": 0, "modifiés": 0, "inchangés": 0} for name in ENTITY_LABELS
        }

    def _tally(self, entity: str, outcome: str) -> None:
        self.counts[entity][outcome] += 1

    def _add(self, entity: str, row: Any) -> Any:
        """A new row, added to the session and counted as created."""
        self.session.add(row)
        self._tally(entity, "créés")
        return row

    def _update(self, entity: str, row: Any, values: Mapping[str, Any]) -> None:
        changed = False
        for attr, value in values.items():
            if value is None:
                continue  # an empty cell never changes existing data
            if getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        self._tally(entity, "modifiés" if changed else "inchangés")

    def write(self, plan: Plan) -> None:
        s = self.session
        donneurs: dict[str, Donneur] = {}
        for key, (ent, row) in plan.donneurs.items():
            if row is None:
                row = self._add("donneurs", Donneur(
                    name=ent.get("name"), kind=ent.get("kind") or DonneurKind.VILLE))
            else:
                self._update("donneurs", row, {"kind": ent.get("kind")})
            donneurs[key] = row
        s.flush()

        markets: dict[str, Market] = {}
        for ref, (ent, market) in plan.markets.items():
            values = {name: ent.get(name) for name in (
                "title", "kind", "procedure", "amount_ht", "notified_on", "start_date",
                "end_date", "facilitator_id", "qpv_hours_share_min")}
            if market is None:
                donneur = donneurs[ent.get("donneur")]
                market = self._add("marches", Market(reference=ref, donneur_id=donneur.id,
                                                  **_filled(values)))
                if self.today is not None:
                    market.status = status_for_new_market(market.start_date, self.today)
            else:
                self._update("marches", market, values)
            markets[ref] = market
        s.flush()

        lots: dict[tuple[str, int], Lot] = {}
        for (ref, number), (ent, lot) in plan.lots.items():
            values = {name: ent.get(name) for name in ("label", "trade", "amount_ht",
                                                       "hours_owed", "penalty_per_hour",
                                                       "penalty_per_day_late",
                                                       "penalty_cap_share")}
            if lot is None:
                lot = self._add("lots", Lot(market_id=markets[ref].id, number=number,
                                            label=values.pop("label") or f"Lot {number}",
                                            **_filled(values)))
            else:
                self._update("lots", lot, values)
            lots[(ref, number)] = lot
        s.flush()

        companies: dict[str, Company] = {}
        for siret, (ent, company) in plan.companies.items():
            values = {"name": ent.get("name"), "kind": ent.get("kind"),
                      "facilitator_id": ent.get("facilitator_id")}
            if company is None:
                company = self._add("entreprises", Company(siret=siret, **_filled(values)))
            else:
                self._update("entreprises", company, values)
            companies[siret] = company
        s.flush()
        self._write_contacts(plan, companies)
        self._write_engagements(plan, lots, companies)
        s.flush()
        for email, (ent, contact) in plan.referents.items():
            values = {"name": ent.get("name"), "position": ent.get("position")}
            if contact is None:
                self._add("contacts", Contact(
                    kind=ContactKind.REFERENT, donneur_id=donneurs[ent.get("donneur")].id,
                    email=email, **_filled(values)))
            else:
                self._update("contacts", contact, values)
        s.flush()

    def _write_contacts(self, plan: Plan, companies: dict[str, Company]) -> None:
        wanted = {(companies[siret].id, ent.get("email")): (ent, companies[siret])
                  for siret, (ent, _) in plan.companies.items() if ent.get("email")}
        if not wanted:
            return
        existing = {(c.company_id, (c.email or "").lower()): c for c in self.session.scalars(
            select(Contact).where(Contact.company_id.in_({k[0] for k in wanted})))}
        for key, (ent, company) in wanted.items():
            contact = existing.get(key)
            if contact is None:
                self._add("contacts", Contact(
                    kind=ContactKind.ENTREPRISE, company_id=company.id,
                    name=ent.get("contact_name") or company.name, email=key[1]))
            else:
                self._update("contacts", contact, {"name": ent.get("contact_name")})

    def _write_engagements(self, plan: Plan, lots: dict[tuple[str, int], Lot],
                           companies: dict[str, Company]) -> None:
        if not plan.engagements:
            return
        lot_ids = {lt.id for lt in lots.values()}
        existing = {(e.lot_id, e.company_id): e for e in self.session.scalars(
            select(Engagement).where(Engagement.lot_id.in_(lot_ids)))}
        for (ref, number, siret), (ent, _) in plan.engagements.items():
            lot, company = lots[(ref, number)], companies[siret]
            row = existing.get((lot.id, company.id))
            if row is None:
                hours = ent.get("hours_owed")
                self._add("engagements", Engagement(
                    lot_id=lot.id, company_id=company.id,
                    hours_owed=hours if hours is not None else lot.hours_owed,
                    means=ent.get("means") or EngagementMeans.EMBAUCHE_DIRECTE))
            else:
                self._update("engagements", row, {"hours_owed": ent.get("hours_owed"),
                                                  "means": ent.get("means")})
