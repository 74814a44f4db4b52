"""Checking the validated entities against the database, and completing them.

What one line cannot tell: whether a donneur, market or company already exists, which columns a
new market still lacks, the facilitator named by e-mail, the hours of a new lot (computed by
:mod:`clauses.chiffrage` when the file does not give them) and lots whose engagements exceed
their hours. The result is the :class:`~clauses.importing.entities.Plan` the writer applies.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from clauses.errors import DomainError
from clauses.formatting import fold
from clauses.importing.entities import Entity, Plan, display
from clauses.importing.validate import RowValidator
from storage.models import (
    Company,
    Contact,
    ContactKind,
    Donneur,
    Lot,
    Market,
    MarketKind,
    Role,
    User,
)

HOUR_OWING_KINDS = frozenset({MarketKind.CLAUSE_EXECUTION, MarketKind.CRITERE_ATTRIBUTION})
"""Markets whose holders owe a number of insertion hours (the others may have 0)."""


def resolve(validator: RowValidator) -> Plan:
    """The plan for the validator's entities; problems go to its errors and warnings.

    Existing rows are loaded in one query per entity type (not one per line), so a large file
    costs the same few round trips.
    """
    s = validator.session
    db_donneurs = {fold(d.name): d for d in s.scalars(select(Donneur))}
    db_markets = {m.reference: m for m in s.scalars(
        select(Market).where(Market.reference.in_(list(validator.markets))))} \
        if validator.markets else {}
    market_ids = [m.id for m in db_markets.values()]
    db_lots = {(lt.market.reference, lt.number): lt for lt in s.scalars(
        select(Lot).join(Market).where(Lot.market_id.in_(market_ids)))} if market_ids else {}
    db_companies = {c.siret: c for c in s.scalars(
        select(Company).where(Company.siret.in_(list(validator.companies))))} \
        if validator.companies else {}
    facilitators = {(u.email or "").lower(): u for u in s.scalars(
        select(User).where(User.role == Role.FACILITATEUR))}

    plan = Plan()
    for key, ent in validator.donneurs.items():
        existing = db_donneurs.get(key)
        if existing is None and ent.get("kind") is None and not ent.has("kind"):
            continue  # unknown: reported just below, on every line naming it
        plan.donneurs[key] = (ent, existing)
    for key, ent in validator.donneurs.items():
        if key in plan.donneurs:
            continue
        for line in ent.seen_on:  # every line naming it is wrong, so every one is listed
            validator.error(line, "donneur",
                            f"donneur d'ordre inconnu « {ent.get('name')} » : il n'existe pas en "
                            "base et aucune ligne du fichier ne le crée (remplissez type_donneur "
                            "pour le créer, ou corrigez le nom).")

    for ref, ent in validator.markets.items():
        existing_market = db_markets.get(ref)
        _check_market(validator, ref, ent, existing_market, db_donneurs, facilitators)
        plan.markets[ref] = (ent, existing_market)

    for (ref, number), ent in validator.lots.items():
        lot_row = db_lots.get((ref, number))
        market_ent, market_row = plan.markets[ref]
        kind = market_ent.get("kind") or (market_row.kind if market_row else None)
        _check_lot(validator, ref, number, ent, lot_row, kind)
        plan.lots[(ref, number)] = (ent, lot_row)

    for siret, ent in validator.companies.items():
        company_row = db_companies.get(siret)
        if company_row is None and not ent.has("name"):
            validator.error(ent.first_line, "entreprise",
                            f"entreprise {siret} inconnue : sa raison sociale est requise pour "
                            "la créer.")
        fac = ent.values.pop("market_facilitator", None)
        if fac is not None and fac in facilitators and (
                company_row is None or company_row.facilitator_id is None):
            ent.values["facilitator_id"] = facilitators[fac].id
        plan.companies[siret] = (ent, company_row)

    for eng_key, ent in validator.engagements.items():
        plan.engagements[eng_key] = (ent, None)
    _check_lot_totals(validator, plan)
    _check_referents(validator, plan)
    return plan


def _check_referents(validator: RowValidator, plan: Plan) -> None:
    """A référent's address is theirs alone (the rule of :func:`clauses.registries.add_referent`):
    not a company's, in the base or in this file; an existing référent of the same donneur is
    updated."""
    from clauses.registries import address_owner

    s = validator.session
    file_companies = {ent.get("email"): ent.get("name") or siret
                      for siret, (ent, _) in plan.companies.items() if ent.get("email")}
    for email, ent in validator.referents.items():
        donneur_key = ent.get("donneur")
        if donneur_key not in plan.donneurs:
            continue  # the unknown donneur is already reported on its lines
        _, donneur_row = plan.donneurs[donneur_key]
        existing = s.scalar(select(Contact).where(
            Contact.kind == ContactKind.REFERENT, func.lower(Contact.email) == email,
            Contact.active.is_(True)))
        line = ent.lines.get("email", ent.first_line)
        if email in file_companies:
            validator.error(line, "email_referent",
                            f"{email} est aussi l'adresse de l'entreprise "
                            f"{file_companies[email]} dans ce fichier : un·e référent·e a sa "
                            "propre adresse.")
            continue
        if existing is not None and (donneur_row is None or existing.donneur_id != donneur_row.id):
            validator.error(line, "email_referent", f"{email} est déjà l'adresse d'un·e "
                            "référent·e d'un autre donneur d'ordre.")
            continue
        if existing is None:
            owner = address_owner(s, email)
            if owner is not None:
                validator.error(line, "email_referent", f"{email} est déjà l'adresse {owner} : "
                                "un·e référent·e a sa propre adresse.")
                continue
            if not ent.has("name"):
                validator.error(line, "referent", f"nom du ou de la référent·e {email} manquant.")
                continue
        plan.referents[email] = (ent, existing)


def _check_market(validator: RowValidator, ref: str, ent: Entity, existing: Market | None,
                  db_donneurs: dict[str, Donneur], facilitators: dict[str, User]) -> None:
    donneur_key = ent.get("donneur")
    if (existing is not None and donneur_key is not None
            and fold(existing.donneur.name) != donneur_key):
        validator.error(ent.lines.get("donneur", ent.first_line), "donneur",
                        f"le marché {ref} existe déjà pour « {existing.donneur.name} » : "
                        "un import ne change pas le donneur d'un marché.")
    if existing is None:
        missing = [col for col, name in (("marche_intitule", "title"),
                                          ("type_marche", "kind"),
                                          ("date_debut", "start_date"),
                                          ("date_fin", "end_date"))
                   if not ent.has(name)]
        if missing:
            validator.error(ent.first_line, missing[0],
                            f"nouveau marché {ref} : colonne(s) requise(s) vide(s) : "
                            + ", ".join(missing) + ".")
    start = ent.get("start_date") or (existing.start_date if existing else None)
    end = ent.get("end_date") or (existing.end_date if existing else None)
    if start is not None and end is not None and end < start:
        line = ent.lines.get("end_date", ent.lines.get("start_date", ent.first_line))
        validator.error(line, "date_fin",
                        f"la fin ({display(end)}) est avant le début ({display(start)}) "
                        f"du marché {ref}.")
    fac = ent.get("facilitator")
    if fac is not None:
        if fac not in facilitators:
            validator.error(ent.lines.get("facilitator"), "facilitateur",
                            f"aucun·e facilitateur·rice avec l'e-mail « {fac} » (créez-le ou "
                            "la avec « clausebot facilitateur create »).")
        else:
            ent.values["facilitator_id"] = facilitators[fac].id


def _check_lot(validator: RowValidator, ref: str, number: int, ent: Entity,
               existing: Lot | None, kind: MarketKind | None) -> None:
    trade = ent.get("trade")
    if (existing is None and not ent.has("label") and trade is not None
            and validator.rulebook is not None and trade in validator.rulebook.chiffrage.trades):
        label = validator.rulebook.chiffrage.trades[trade].label_fr
        ent.values["label"] = label[:1].upper() + label[1:]
    if ent.get("hours_owed") is not None or ent.has("hours_owed"):
        ent.values["hours_source"] = "fichier"
        return
    amount, trade = ent.get("amount_ht"), ent.get("trade")
    if ent.has("amount_ht") and ent.has("trade") and (amount is None or trade is None):
        return  # a refused amount or trade was already reported
    if amount is not None and trade is not None and validator.rulebook is not None:
        from clauses.chiffrage import compute_lot_hours

        try:
            result = compute_lot_hours(amount, rulebook=validator.rulebook, trade=trade)
        except DomainError as exc:
            validator.error(ent.lines.get("amount_ht"), "heures_insertion", exc.message_fr)
            return
        ent.values["hours_owed"] = Decimal(result.hours)
        ent.values["hours_source"] = "chiffrage"
        ent.values["explanation"] = result.explanation_fr
        return
    if existing is not None:
        return
    if kind in HOUR_OWING_KINDS:
        validator.error(ent.first_line, "heures_insertion",
                        f"lot {number} du marché {ref} : indiquez les heures d'insertion dues, "
                        "ou le montant HT et le corps d'état du lot pour les calculer.")
    else:
        ent.values["hours_owed"] = Decimal(0)


def _check_lot_totals(validator: RowValidator, plan: Plan) -> None:
    """Warn (not refuse) when a lot's engagements exceed its hours: a typo, or an avenant."""
    totals: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for (ref, number, _siret), (ent, _) in plan.engagements.items():
        lot_ent, lot_row = plan.lots.get((ref, number), (None, None))
        lot_hours = _lot_hours(lot_ent, lot_row)
        hours = ent.get("hours_owed")
        totals[(ref, number)] += hours if hours is not None else (lot_hours or Decimal(0))
    for (ref, number), total in sorted(totals.items()):
        lot_ent, lot_row = plan.lots.get((ref, number), (None, None))
        lot_hours = _lot_hours(lot_ent, lot_row)
        if lot_hours is not None and total > lot_hours:
            validator.warnings.append(
                f"Lot {number} du marché {ref} : les engagements du fichier totalisent "
                f"{display(total)} h pour {display(lot_hours)} h dues sur le lot.")


def _lot_hours(ent: Entity | None, row: Lot | None) -> Decimal | None:
    if ent is not None and ent.get("hours_owed") is not None:
        return ent.get("hours_owed")
    return row.hours_owed if row is not None else None
