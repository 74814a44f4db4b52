"""`clausebot donneur|marche|lot|entreprise|engagement|facilitateur ...`: the territory by hand.

The create commands feed one row to the CSV import's validation (:mod:`clauses.importing`), so
a value refused here is refused there with the same French message; they refuse to overwrite
an existing row (the import is the way to update).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click
from sqlalchemy.orm import Session

from clausebot.cli_admin_common import (
    CliError,
    admin_session,
    cli_actor,
    echo_table,
    find_donneur,
    format_errors,
    require_company,
    require_donneur,
    require_facilitator,
    require_market,
)
from clauses import audit, listings
from clauses.formatting import fr_date, fr_hours, fr_money
from clauses.importing import ImportResult, import_rows, parse_email
from clauses.siret import InvalidSiretError, format_siret, normalize_siret
from storage.models import (
    CompanyKind,
    DonneurKind,
    EngagementMeans,
    MarketKind,
    Role,
    User,
)

MARKET_KIND_FR = {
    MarketKind.CLAUSE_EXECUTION: "clause d'exécution",
    MarketKind.CRITERE_ATTRIBUTION: "clause + critère d'attribution",
    MarketKind.MARCHE_RESERVE: "marché réservé",
    MarketKind.MARCHE_INSERTION: "marché d'insertion",
}


def _choices(enum_cls: Any) -> str:
    return ", ".join(m.value for m in enum_cls)


def _apply_row(session: Session, state: Any, row: dict[str, str | None],
               options: dict[str, str]) -> ImportResult:
    """Validate and write one row through the import; refusals name the command's options."""
    clean = {k: v for k, v in row.items() if v is not None}
    result = import_rows(session, [(None, clean)], rulebook=state.ctx.rulebook,
                         today=state.ctx.clock.today())
    if not result.ok:
        raise CliError(format_errors(result.errors, options))
    return result


# --- donneur ---------------------------------------------------------------------------------


@click.group("donneur")
def donneur_group() -> None:
    """Donneurs d'ordre (villes, métropole, bailleurs sociaux...).

    \b
    Exemple :
      clausebot donneur create --nom "Ville d'Oullins" --type ville
    """


@donneur_group.command("create")
@click.option("--nom", required=True, help="Nom du donneur d'ordre.")
@click.option("--type", "kind", default="ville", show_default=True,
              help=f"Type : {_choices(DonneurKind)}.")
@click.option("--siret", help="SIRET du donneur (facultatif, espaces acceptés).")
@click.pass_obj
def donneur_create(state: Any, nom: str, kind: str, siret: str | None) -> None:
    """Crée un donneur d'ordre.

    \b
    Exemple :
      clausebot donneur create --nom "Ville d'Oullins" --type ville --siret "216 901 496 00010"
    """
    with admin_session(state) as s:
        if find_donneur(s, nom) is not None:
            raise CliError(f"Le donneur « {nom} » existe déjà (voir « clausebot donneur list »).")
        normalized = None
        if siret:
            try:
                normalized = normalize_siret(siret)
            except InvalidSiretError as exc:
                raise CliError(f"--siret : {exc.message_fr}") from exc
        _apply_row(s, state, {"donneur": nom, "type_donneur": kind},
                   {"donneur": "--nom", "type_donneur": "--type"})
        donneur = find_donneur(s, nom)
        assert donneur is not None
        donneur.siret = normalized
        click.echo(f"Donneur d'ordre créé : {donneur.name} ({donneur.kind.value}), "
                   f"n° {donneur.id}.")


@donneur_group.command("list")
@click.pass_obj
def donneur_list(state: Any) -> None:
    """Liste les donneurs d'ordre et leur nombre de marchés.

    \b
    Exemple :
      clausebot donneur list
    """
    with admin_session(state) as s:
        rows = listings.donneurs_with_market_counts(s)
        echo_table(["N°", "Donneur d'ordre", "Type", "SIRET", "Marchés"],
                   [(d.id, d.name, d.kind.value, format_siret(d.siret) if d.siret else "",
                     n) for d, n in rows], empty="Aucun donneur d'ordre.")


# --- marché et lot ---------------------------------------------------------------------------


@click.group("marche")
def marche_group() -> None:
    """Marchés (opérations) avec clause sociale ou action d'insertion.

    \b
    Exemple :
      clausebot marche list --donneur "Ville d'Oullins"
    """


MARKET_OPTIONS = {"donneur": "--donneur", "marche_ref": "--ref", "marche_intitule": "--intitule",
                  "type_marche": "--type", "procedure": "--procedure",
                  "montant_marche_ht": "--montant", "date_notification": "--notification",
                  "date_debut": "--debut", "date_fin": "--fin", "facilitateur": "--facilitateur",
                  "part_heures_qpv": "--part-qpv"}


@marche_group.command("create")
@click.option("--donneur", required=True, help="Nom du donneur d'ordre (existant).")
@click.option("--ref", required=True, help="Référence unique du marché.")
@click.option("--intitule", required=True, help="Intitulé du marché.")
@click.option("--type", "kind", required=True, help=f"Type : {_choices(MarketKind)}.")
@click.option("--procedure", help="Procédure (MAPA, appel d'offres ouvert...).")
@click.option("--montant", help="Montant HT en euros (« 1 000 000,50 »).")
@click.option("--notification", help="Date de notification (JJ/MM/AAAA).")
@click.option("--debut", required=True, help="Début d'exécution (JJ/MM/AAAA).")
@click.option("--fin", required=True, help="Fin d'exécution (JJ/MM/AAAA).")
@click.option("--facilitateur", help="E-mail du ou de la facilitateur·rice chargé·e du marché.")
@click.option("--part-qpv", "part_qpv",
              help="Part minimale des heures faite par des résident·es QPV (ex. « 5 % », ANRU).")
@click.pass_obj
def marche_create(state: Any, donneur: str, ref: str, intitule: str, kind: str,
                  procedure: str | None, montant: str | None, notification: str | None,
                  debut: str, fin: str, facilitateur: str | None, part_qpv: str | None) -> None:
    """Crée un marché ; ajoutez ensuite ses lots avec « clausebot lot create ».

    \b
    Exemple :
      clausebot marche create --donneur "Ville d'Oullins" --ref 2025-017 \\
        --intitule "Réhabilitation groupe scolaire" --type clause_execution \\
        --montant "2 400 000" --debut 03/02/2025 --fin 30/06/2026
    """
    with admin_session(state) as s:
        existing_donneur = require_donneur(s, donneur)
        if listings.market_by_reference(s, ref) is not None:
            raise CliError(f"Le marché {ref} existe déjà (voir « clausebot marche list »).")
        _apply_row(s, state, {
            "donneur": existing_donneur.name, "marche_ref": ref, "marche_intitule": intitule,
            "type_marche": kind, "procedure": procedure, "montant_marche_ht": montant,
            "date_notification": notification, "date_debut": debut, "date_fin": fin,
            "facilitateur": facilitateur, "part_heures_qpv": part_qpv}, MARKET_OPTIONS)
        market = require_market(s, ref)
        click.echo(f"Marché créé : {market.reference} « {market.title} » "
                   f"({MARKET_KIND_FR[market.kind]}), du {fr_date(market.start_date)} au "
                   f"{fr_date(market.end_date)}.")


@marche_group.command("list")
@click.option("--donneur", help="Seulement les marchés de ce donneur d'ordre.")
@click.pass_obj
def marche_list(state: Any, donneur: str | None) -> None:
    """Liste les marchés avec leurs lots, les heures dues et les entreprises engagées.

    \b
    Exemple :
      clausebot marche list --donneur "Ville d'Oullins"
    """
    with admin_session(state) as s:
        markets = listings.market_listings(
            s, require_donneur(s, donneur).id if donneur else None)
        if not markets:
            click.echo("Aucun marché.")
            return
        for entry in markets:
            market, donneur_name, fac_name = entry.market, entry.donneur_name, entry.facilitator_name
            holders = entry.holders
            amount = f", {fr_money(market.amount_ht, ht=True)}" if market.amount_ht else ""
            click.echo(f"{market.reference}  {market.title}")
            click.echo(f"    {donneur_name} · {MARKET_KIND_FR[market.kind]}{amount} · "
                       f"du {fr_date(market.start_date)} au {fr_date(market.end_date)} · "
                       f"{market.status.value}"
                       + (f" · facilitateur·rice : {fac_name}" if fac_name else ""))
            market_lots = entry.lots
            trades = state.ctx.rulebook.chiffrage.trades
            total = sum((lt.hours_owed for lt in market_lots), Decimal(0))
            echo_table(
                ["Lot", "Intitulé", "Corps d'état", "Montant HT", "Heures dues", "Entreprises"],
                [(lt.number, lt.label,
                  trades[lt.trade].label_fr if lt.trade in trades else (lt.trade or ""),
                  fr_money(lt.amount_ht) if lt.amount_ht is not None else "",
                  fr_hours(lt.hours_owed), ", ".join(holders.get(lt.id, [])) or "—")
                 for lt in market_lots],
                empty="(aucun lot : « clausebot lot create »)", indent="    ")
            if market_lots:
                click.echo(f"    Total : {fr_hours(total)} d'insertion sur "
                           f"{len(market_lots)} lot(s).")
            click.echo("")


@click.group("lot")
def lot_group() -> None:
    """Lots des marchés.

    \b
    Exemple :
      clausebot lot create --marche 2025-017 --numero 2 --intitule "Maçonnerie" \\
        --corps-etat maconnerie --montant "1 000 000"
    """


@lot_group.command("create")
@click.option("--marche", required=True, help="Référence du marché.")
@click.option("--numero", required=True, help="Numéro du lot (1 pour un lot unique).")
@click.option("--intitule", help="Intitulé du lot (par défaut « Lot N »).")
@click.option("--corps-etat", "trade", help="Corps d'état du règlement (ex. maconnerie).")
@click.option("--montant", help="Montant HT du lot (« 1 000 000,50 »).")
@click.option("--heures", help="Heures d'insertion dues ; sans cette option : chiffrage "
              "à partir du montant et du corps d'état.")
@click.pass_obj
def lot_create(state: Any, marche: str, numero: str, intitule: str | None, trade: str | None,
               montant: str | None, heures: str | None) -> None:
    """Crée un lot ; sans --heures, les heures sont calculées par le chiffrage.

    \b
    Exemple :
      clausebot lot create --marche 2025-017 --numero 2 --intitule "Maçonnerie" \\
        --corps-etat maconnerie --montant "1 000 000"
    """
    with admin_session(state) as s:
        market = require_market(s, marche)
        if numero.strip().isdigit() and listings.lot_by_number(
                s, market.id, int(numero)) is not None:
            raise CliError(f"Le lot {numero} du marché {market.reference} existe déjà.")
        _apply_row(s, state, {
            "donneur": market.donneur.name, "marche_ref": market.reference, "lot_numero": numero,
            "lot_intitule": intitule, "corps_etat": trade, "montant_lot_ht": montant,
            "heures_insertion": heures},
            {"marche_ref": "--marche", "lot_numero": "--numero", "lot_intitule": "--intitule",
             "corps_etat": "--corps-etat", "montant_lot_ht": "--montant",
             "heures_insertion": "--heures"})
        lot = listings.lot_by_number(s, market.id, int(numero))
        assert lot is not None
        click.echo(f"Lot créé : {market.reference} lot {lot.number} « {lot.label} », "
                   f"{fr_hours(lot.hours_owed)} d'insertion dues.")
        if heures is None and lot.amount_ht is not None and lot.trade:
            from clauses.chiffrage import compute_lot_hours

            chiffrage = compute_lot_hours(lot.amount_ht, rulebook=state.ctx.rulebook,
                                          trade=lot.trade)
            click.echo(f"Chiffrage : {chiffrage.explanation_fr} "
                       f"({chiffrage.rounding_note_fr}).")


# --- entreprise --------------------------------------------------------------------------------


@click.group("entreprise")
def entreprise_group() -> None:
    """Entreprises titulaires et structures d'insertion (SIAE, GEIQ, EA).

    \b
    Exemple :
      clausebot entreprise create --nom "BTP Rhône-Confluent" --siret "821 953 452 00413"
    """


@entreprise_group.command("create")
@click.option("--nom", required=True, help="Raison sociale.")
@click.option("--siret", required=True, help="SIRET (14 chiffres, espaces acceptés).")
@click.option("--type", "kind", default="ordinaire", show_default=True,
              help=f"Type : {_choices(CompanyKind)}.")
@click.option("--email", help="E-mail du contact (ses courriels seront reconnus).")
@click.option("--contact", help="Nom du contact.")
@click.option("--facilitateur", help="E-mail du ou de la facilitateur·rice référent·e.")
@click.pass_obj
def entreprise_create(state: Any, nom: str, siret: str, kind: str, email: str | None,
                      contact: str | None, facilitateur: str | None) -> None:
    """Crée une entreprise ; le SIRET est vérifié (clé de contrôle) et stocké sur 14 chiffres.

    \b
    Exemple :
      clausebot entreprise create --nom "BTP Rhône-Confluent" --siret "821 953 452 00413" \\
        --email rh@btp-rhone-confluent.example --contact "Sophie MARTIN"
    """
    with admin_session(state) as s:
        try:
            normalized = normalize_siret(siret)
        except InvalidSiretError as exc:
            raise CliError(f"--siret : {exc.message_fr}") from exc
        existing = listings.company_by_siret(s, normalized)
        if existing is not None:
            raise CliError(f"Une entreprise a déjà le SIRET {format_siret(normalized)} : "
                           f"« {existing.name} ».")
        fac_id = None
        if facilitateur:
            fac_id = require_facilitator(s, facilitateur).id
        _apply_row(s, state, {"siret": normalized, "entreprise": nom, "type_entreprise": kind,
                              "email_entreprise": email, "contact_entreprise": contact},
                   {"siret": "--siret", "entreprise": "--nom", "type_entreprise": "--type",
                    "email_entreprise": "--email", "contact_entreprise": "--contact"})
        company = listings.company_by_siret(s, normalized)
        assert company is not None
        company.facilitator_id = fac_id
        click.echo(f"Entreprise créée : {company.name}, SIRET {format_siret(company.siret)} "
                   f"({company.kind.value}), n° {company.id}.")


@entreprise_group.command("list")
@click.pass_obj
def entreprise_list(state: Any) -> None:
    """Liste les entreprises avec leurs engagements et les heures qu'elles doivent.

    \b
    Exemple :
      clausebot entreprise list
    """
    with admin_session(state) as s:
        rows = listings.companies_with_totals(s)
        echo_table(["N°", "Entreprise", "SIRET", "Type", "Engagements", "Heures dues",
                    "Facilitateur·rice"],
                   [(c.id, c.name, format_siret(c.siret), c.kind.value, n,
                     fr_hours(h), f or "") for c, n, h, f in rows],
                   empty="Aucune entreprise.")


# --- engagement --------------------------------------------------------------------------------


@click.group("engagement")
def engagement_group() -> None:
    """Engagements : les heures qu'une entreprise doit sur un lot.

    \b
    Exemple :
      clausebot engagement create --marche 2025-017 --lot 2 --entreprise "821 953 452 00413"
    """


@engagement_group.command("create")
@click.option("--marche", required=True, help="Référence du marché.")
@click.option("--lot", "lot_number", required=True, help="Numéro du lot.")
@click.option("--entreprise", required=True, help="SIRET ou nom exact de l'entreprise.")
@click.option("--heures", help="Heures dues (par défaut : les heures du lot).")
@click.option("--moyen", help=f"Moyen : {_choices(EngagementMeans)}.")
@click.pass_obj
def engagement_create(state: Any, marche: str, lot_number: str, entreprise: str,
                      heures: str | None, moyen: str | None) -> None:
    """Engage une entreprise sur un lot (par défaut pour toutes les heures du lot).

    \b
    Exemple :
      clausebot engagement create --marche 2025-017 --lot 2 \\
        --entreprise "821 953 452 00413" --heures 633 --moyen embauche_directe
    """
    with admin_session(state) as s:
        market = require_market(s, marche)
        company = require_company(s, entreprise)
        lot = None
        if lot_number.strip().isdigit():
            lot = listings.lot_by_number(s, market.id, int(lot_number))
        if lot is None:
            raise CliError(f"Lot « {lot_number} » inconnu pour le marché {market.reference} "
                           "(voir « clausebot marche list »).")
        if listings.engagement_of(s, lot.id, company.id) is not None:
            raise CliError(f"{company.name} est déjà engagée sur le lot {lot.number} du marché "
                           f"{market.reference}.")
        _apply_row(s, state, {
            "donneur": market.donneur.name, "marche_ref": market.reference,
            "lot_numero": str(lot.number), "siret": company.siret,
            "heures_engagement": heures, "moyen": moyen},
            {"heures_engagement": "--heures", "moyen": "--moyen"})
        eng = listings.engagement_of(s, lot.id, company.id)
        assert eng is not None
        click.echo(f"Engagement créé : {company.name} doit {fr_hours(eng.hours_owed)} sur le "
                   f"lot {lot.number} du marché {market.reference} ({eng.means.value}).")


@engagement_group.command("list")
@click.option("--marche", help="Seulement ce marché (référence).")
@click.option("--entreprise", help="Seulement cette entreprise (SIRET ou nom).")
@click.pass_obj
def engagement_list(state: Any, marche: str | None, entreprise: str | None) -> None:
    """Liste les engagements (entreprise × lot) et les heures dues.

    \b
    Exemple :
      clausebot engagement list --marche 2025-017
    """
    with admin_session(state) as s:
        rows = listings.engagement_rows(
            s, market_id=require_market(s, marche).id if marche else None,
            company_id=require_company(s, entreprise).id if entreprise else None)
        echo_table(["N°", "Marché", "Lot", "Entreprise", "SIRET", "Heures dues", "Moyen"],
                   [(e.id, ref, n, name, format_siret(siret), fr_hours(e.hours_owed),
                     e.means.value) for e, n, ref, name, siret in rows],
                   empty="Aucun engagement.")


# --- facilitateur ------------------------------------------------------------------------------


@click.group("facilitateur")
def facilitateur_group() -> None:
    """Facilitateurs et facilitatrices de l'agence (AMO insertion).

    \b
    Exemple :
      clausebot facilitateur create --nom "Fanny Morel" --email fanny.morel@agence.example
    """


@facilitateur_group.command("create")
@click.option("--nom", required=True, help="Prénom et nom.")
@click.option("--email", required=True, help="E-mail professionnel (identifie la personne).")
@click.pass_obj
def facilitateur_create(state: Any, nom: str, email: str) -> None:
    """Crée un compte facilitateur·rice ; reliez-le au chat avec une invitation.

    \b
    Exemple :
      clausebot facilitateur create --nom "Fanny Morel" --email fanny.morel@agence.example
      clausebot invitation create --role facilitateur --facilitateur fanny.morel@agence.example
    """
    try:
        address = parse_email(email)
    except ValueError as exc:
        raise CliError(f"--email : {exc}") from exc
    if not nom.strip():
        raise CliError("--nom : le nom est vide.")
    with admin_session(state) as s:
        if listings.facilitator_by_email(s, address) is not None:
            raise CliError(f"Un·e facilitateur·rice a déjà l'e-mail {address}.")
        user = User(role=Role.FACILITATEUR, display_name=" ".join(nom.split()), email=address)
        s.add(user)
        s.flush()
        audit.record(s, cli_actor(), "facilitateur_cree", "user", user.id)
        click.echo(f"Facilitateur·rice créé·e : {user.display_name} <{address}>, n° {user.id}.")
        click.echo("Pour le chat : clausebot invitation create --role facilitateur "
                   f"--facilitateur {address}")


@facilitateur_group.command("list")
@click.pass_obj
def facilitateur_list(state: Any) -> None:
    """Liste les facilitateur·rices, leur portefeuille et s'ils sont reliés au chat.

    \b
    Exemple :
      clausebot facilitateur list
    """
    with admin_session(state) as s:
        echo_table(["N°", "Nom", "E-mail", "Actif", "Chat", "Marchés", "Entreprises"],
                   [(p.user.id, p.user.display_name, p.user.email or "",
                     "oui" if p.user.active else "non",
                     "relié" if p.user.telegram_user_id else "—", p.markets, p.companies)
                    for p in listings.facilitator_portfolios(s)],
                   empty="Aucun·e facilitateur·rice.")


def register(main: click.Group) -> None:
    for group in (donneur_group, marche_group, lot_group, entreprise_group, engagement_group,
                  facilitateur_group):
        main.add_command(group)
