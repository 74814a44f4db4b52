"""`clausebot convention|prescripteur|referent|facturation|registres ...`, `marche clore`,
`engagement modifier|terminer`, `entreprise desactiver`: the agency's registries by hand or
from a file.

Thin adapters: every rule (overlaps, shared domains, shared addresses, milestones) lives in
:mod:`clauses.registries` and :mod:`clauses.fees`; this module parses French text and prints.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from clausebot.cli_admin_common import (
    CliError,
    admin_session,
    cli_actor,
    echo_table,
    file_loader,
    require_company,
    require_market,
)
from clauses import fees, registries
from clauses.catalog import PRESCRIBER_KIND_FR
from clauses.errors import DomainError
from clauses.formatting import fr_date, fr_money, fr_percent
from clauses.importing.values import (
    ValueProblem,
    parse_amount,
    parse_date,
    parse_hours_value,
    parse_means,
    parse_share,
)
from clauses.listings import engagement_on_lot
from storage.models import Engagement

# --- parsing helpers ----------------------------------------------------------------------------


def _parse(option: str, parser: Callable[[str], Any], text: str | None) -> Any:
    """Parse an option's text; a refusal names the option and says what to write."""
    if text is None:
        return None
    try:
        return parser(str(text))
    except ValueProblem as exc:
        raise CliError(f"{option} : {exc}") from None


def _months(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    raw = str(text).strip().lower().removesuffix("mois").strip()
    if not raw.isdigit():
        raise CliError(f"{option} : nombre de mois attendu (ex. 48), pas « {text} ».")
    return int(raw)


def _today(state: Any) -> dt.date:
    return state.ctx.clock.today()


# --- conventions --------------------------------------------------------------------------------


@click.group("convention")
def convention_group() -> None:
    """Conventions de partenariat avec les donneurs d'ordre (durée, préavis, participation).

    \b
    Exemple :
      clausebot convention create --donneur "Ville d'Oullins" --ref CONV-OULLINS-2022 \\
        --debut 25/07/2022 --montant "4 000" --part-demarrage "50 %"
    """


@convention_group.command("create")
@click.option("--donneur", required=True, help="Donneur d'ordre (existant).")
@click.option("--ref", required=True, help="Référence unique de la convention.")
@click.option("--debut", required=True, help="Date de signature / d'effet (JJ/MM/AAAA).")
@click.option("--duree", default="48", show_default=True, help="Durée en mois.")
@click.option("--preavis", default="3", show_default=True,
              help="Préavis de renouvellement en mois (le rappel part à fin − préavis).")
@click.option("--montant", help="Participation financière HT par marché (devis), en euros.")
@click.option("--part-demarrage", "part", default="50 %", show_default=True,
              help="Part facturée au démarrage de la clause ; le reste au bilan final.")
@click.pass_obj
def convention_create(state: Any, donneur: str, ref: str, debut: str, duree: str, preavis: str,
                      montant: str | None, part: str) -> None:
    """Enregistre une convention ; le rappel de renouvellement et la facturation la lisent.

    \b
    Exemple :
      clausebot convention create --donneur "Ville d'Oullins" --ref CONV-OULLINS-2022 \\
        --debut 25/07/2022 --duree 48 --preavis 3 --montant "4 000"
    """
    start = _parse("--debut", parse_date, debut)
    fee = _parse("--montant", parse_amount, montant)
    share = _parse("--part-demarrage", parse_share, part)
    with admin_session(state) as s:
        conv = registries.create_convention(
            s, cli_actor(), donneur=donneur, reference=ref, start=start,
            duration_months=_months("--duree", duree) or 0,
            notice_months=_months("--preavis", preavis) or 0, fee_amount=fee,
            fee_start_share=share)
        click.echo(f"Convention créée pour {conv.donneur.name} : {conv.reference}, du "
                   f"{fr_date(conv.start_date)} au "
                   f"{fr_date(registries.convention_last_day(conv))} (préavis "
                   f"{conv.notice_months} mois).")


@convention_group.command("list")
@click.option("--donneur", help="Seulement les conventions de ce donneur d'ordre.")
@click.pass_obj
def convention_list(state: Any, donneur: str | None) -> None:
    """Liste les conventions, leur fin et leurs conditions financières.

    \b
    Exemple :
      clausebot convention list
    """
    with admin_session(state) as s:
        rows = registries.list_conventions(s, cli_actor(), donneur)
        echo_table(["Référence", "Donneur d'ordre", "Début", "Fin", "Préavis", "Participation",
                    "Au démarrage", "État"],
                   [(r.reference, r.donneur, fr_date(r.start), fr_date(r.last_day),
                     f"{r.notice_months} mois",
                     fr_money(r.fee_amount, ht=True) if r.fee_amount is not None else "à préciser",
                     fr_percent(r.fee_start_share),
                     "terminée" if r.ended else ("échue" if r.last_day < _today(state)
                                                 else "en vigueur"))
                    for r in rows], empty="Aucune convention.")


@convention_group.command("modifier")
@click.argument("reference")
@click.option("--debut", help="Nouvelle date de début (JJ/MM/AAAA).")
@click.option("--duree", help="Nouvelle durée en mois.")
@click.option("--preavis", help="Nouveau préavis en mois.")
@click.option("--montant", help="Nouvelle participation HT par marché.")
@click.option("--part-demarrage", "part", help="Nouvelle part facturée au démarrage.")
@click.pass_obj
def convention_edit(state: Any, reference: str, debut: str | None, duree: str | None,
                    preavis: str | None, montant: str | None, part: str | None) -> None:
    """Modifie une convention (avenant) ; les jalons déjà atteints gardent leur montant.

    \b
    Exemple :
      clausebot convention modifier CONV-OULLINS-2022 --montant "4 500"
    """
    with admin_session(state) as s:
        conv = registries.edit_convention(
            s, cli_actor(), reference, start=_parse("--debut", parse_date, debut),
            duration_months=_months("--duree", duree), notice_months=_months("--preavis", preavis),
            fee_amount=_parse("--montant", parse_amount, montant),
            fee_start_share=_parse("--part-demarrage", parse_share, part))
        click.echo(f"Convention {conv.reference} modifiée : du {fr_date(conv.start_date)} au "
                   f"{fr_date(registries.convention_last_day(conv))}.")


@convention_group.command("terminer")
@click.argument("reference")
@click.option("--date", "on", help="Dernier jour (JJ/MM/AAAA) ; aujourd'hui par défaut.")
@click.pass_obj
def convention_end(state: Any, reference: str, on: str | None) -> None:
    """Termine une convention (non renouvelée, résiliée) : plus de rappel de renouvellement.

    \b
    Exemple :
      clausebot convention terminer CONV-OULLINS-2022 --date 31/12/2025
    """
    day = _parse("--date", parse_date, on) or _today(state)
    with admin_session(state) as s:
        conv = registries.end_convention(s, cli_actor(), reference, day)
        click.echo(f"Convention {conv.reference} terminée le {fr_date(day)}.")


# --- prescripteurs ------------------------------------------------------------------------------

_KINDS = ", ".join(k.value for k in PRESCRIBER_KIND_FR)


@click.group("prescripteur")
def prescripteur_group() -> None:
    """Organismes prescripteurs (France Travail, Mission Locale, PLIE, Cap Emploi, SPIP...).

    \b
    Exemple :
      clausebot prescripteur create --nom "France Travail Oullins" --type france_travail \\
        --domaine francetravail.fr --email conseiller.oullins@francetravail.fr
    """


@prescripteur_group.command("create")
@click.option("--nom", required=True, help="Nom de l'organisme (agence, antenne).")
@click.option("--type", "kind", required=True, help=f"Type : {_KINDS}.")
@click.option("--domaine", "domains", multiple=True,
              help="Domaine e-mail accepté (répétable) : toute adresse de ce domaine est "
                   "reconnue comme ce prescripteur.")
@click.option("--email", "emails", multiple=True,
              help="Adresse d'un·e conseiller·ère (répétable).")
@click.pass_obj
def prescripteur_create(state: Any, nom: str, kind: str, domains: tuple[str, ...],
                        emails: tuple[str, ...]) -> None:
    """Enregistre un prescripteur : ses candidatures par e-mail sont reconnues et
    « clausebot invitation create --role prescripteur --prescripteur NOM » fonctionne.

    \b
    Exemple :
      clausebot prescripteur create --nom "Mission Locale Sud-Ouest" --type mission_locale \\
        --email conseil@ml-sudouest.example
    """
    with admin_session(state) as s:
        p = registries.create_prescriber(s, cli_actor(), name=nom,
                                         kind=registries.parse_prescriber_kind(kind),
                                         domains=list(domains), emails=list(emails))
        click.echo(f"Prescripteur créé : {p.name} ({PRESCRIBER_KIND_FR[p.kind]}), "
                   f"{len(domains)} domaine(s), {len(emails)} adresse(s).")


@prescripteur_group.command("list")
@click.pass_obj
def prescripteur_list(state: Any) -> None:
    """Liste les prescripteurs, leurs domaines et adresses reconnus.

    \b
    Exemple :
      clausebot prescripteur list
    """
    with admin_session(state) as s:
        rows = registries.list_prescribers(s, cli_actor())
        echo_table(["Prescripteur", "Type", "Domaines", "Adresses", "État"],
                   [(r.name, PRESCRIBER_KIND_FR[r.kind], ", ".join(r.domains) or "—",
                     ", ".join(r.emails) or "—", "actif" if r.active else "désactivé")
                    for r in rows], empty="Aucun prescripteur.")


@prescripteur_group.command("modifier")
@click.argument("nom")
@click.option("--nouveau-nom", "new_name", help="Nouveau nom.")
@click.option("--type", "kind", help=f"Nouveau type : {_KINDS}.")
@click.option("--ajouter-domaine", "add_domains", multiple=True, help="Domaine à accepter.")
@click.option("--retirer-domaine", "remove_domains", multiple=True, help="Domaine à retirer.")
@click.option("--ajouter-email", "add_emails", multiple=True, help="Adresse à reconnaître.")
@click.option("--retirer-email", "remove_emails", multiple=True,
              help="Adresse à ne plus reconnaître (conseiller·ère parti·e).")
@click.pass_obj
def prescripteur_edit(state: Any, nom: str, new_name: str | None, kind: str | None,
                      add_domains: tuple[str, ...], remove_domains: tuple[str, ...],
                      add_emails: tuple[str, ...], remove_emails: tuple[str, ...]) -> None:
    """Modifie un prescripteur : nom, type, domaines et adresses.

    \b
    Exemple :
      clausebot prescripteur modifier "France Travail Oullins" --ajouter-email a.b@francetravail.fr
    """
    with admin_session(state) as s:
        p = registries.edit_prescriber(
            s, cli_actor(), nom, new_name=new_name,
            kind=registries.parse_prescriber_kind(kind) if kind else None,
            add_domains=list(add_domains), remove_domains=list(remove_domains),
            add_emails=list(add_emails), remove_emails=list(remove_emails))
        click.echo(f"Prescripteur {p.name} modifié.")


@prescripteur_group.command("desactiver")
@click.argument("nom")
@click.pass_obj
def prescripteur_deactivate(state: Any, nom: str) -> None:
    """Désactive un prescripteur : ses e-mails ne sont plus reconnus ; l'historique reste.

    \b
    Exemple :
      clausebot prescripteur desactiver "PLIE Sud-Ouest"
    """
    with admin_session(state) as s:
        p = registries.deactivate_prescriber(s, cli_actor(), nom)
        click.echo(f"Prescripteur {p.name} désactivé.")


# --- référents ----------------------------------------------------------------------------------


@click.group("referent")
def referent_group() -> None:
    """Référent·e·s des donneurs d'ordre : reçoivent bilans, points d'étape et courriers de
    relance par e-mail, sans compte de messagerie instantanée.

    \b
    Exemple :
      clausebot referent create --donneur "Ville d'Oullins" --nom "Juliette REY" \\
        --email juliette.rey@ville-oullins.example --fonction "Responsable des achats"
    """


@referent_group.command("create")
@click.option("--donneur", required=True, help="Donneur d'ordre (existant).")
@click.option("--nom", required=True, help="Prénom NOM.")
@click.option("--email", required=True, help="Adresse e-mail (reçoit les bilans).")
@click.option("--fonction", help="Fonction (ex. Responsable des achats).")
@click.pass_obj
def referent_create(state: Any, donneur: str, nom: str, email: str, fonction: str | None) -> None:
    """Ajoute un·e référent·e à un donneur d'ordre.

    \b
    Exemple :
      clausebot referent create --donneur "Ville d'Oullins" --nom "Juliette REY" \\
        --email juliette.rey@ville-oullins.example
    """
    with admin_session(state) as s:
        c = registries.add_referent(s, cli_actor(), donneur=donneur, name=nom, email=email,
                                    position=fonction)
        click.echo(f"Référent·e ajouté·e à {registries.donneur_name(s, c.donneur_id)} : "
                   f"{c.name} <{c.email}>.")


@referent_group.command("list")
@click.option("--donneur", help="Seulement les référent·e·s de ce donneur d'ordre.")
@click.pass_obj
def referent_list(state: Any, donneur: str | None) -> None:
    """Liste les référent·e·s actif·ve·s.

    \b
    Exemple :
      clausebot referent list --donneur "Ville d'Oullins"
    """
    with admin_session(state) as s:
        rows = registries.list_referents(s, cli_actor(), donneur)
        echo_table(["Donneur d'ordre", "Nom", "E-mail", "Fonction", "Compte chat"],
                   [(r.donneur, r.name, r.email, r.position or "", "oui" if r.has_account
                     else "non") for r in rows], empty="Aucun·e référent·e.")


@referent_group.command("modifier")
@click.argument("email")
@click.option("--nom", help="Nouveau nom.")
@click.option("--nouvel-email", "new_email", help="Nouvelle adresse.")
@click.option("--fonction", help="Nouvelle fonction.")
@click.pass_obj
def referent_edit(state: Any, email: str, nom: str | None, new_email: str | None,
                  fonction: str | None) -> None:
    """Modifie un·e référent·e (désigné·e par son adresse actuelle).

    \b
    Exemple :
      clausebot referent modifier juliette.rey@ville-oullins.example --fonction "DGA"
    """
    with admin_session(state) as s:
        c = registries.edit_referent(s, cli_actor(), email, name=nom, new_email=new_email,
                                     position=fonction)
        click.echo(f"Référent·e modifié·e : {c.name} <{c.email}>.")


@referent_group.command("terminer")
@click.argument("email")
@click.pass_obj
def referent_end(state: Any, email: str) -> None:
    """Arrête les envois à un·e référent·e (départ) ; l'historique reste.

    \b
    Exemple :
      clausebot referent terminer juliette.rey@ville-oullins.example
    """
    with admin_session(state) as s:
        c = registries.end_referent(s, cli_actor(), email)
        click.echo(f"Référent·e {c.name} : plus aucun envoi.")


# --- marchés, engagements, entreprises ----------------------------------------------------------


@click.command("clore")
@click.argument("reference")
@click.option("--date", "on", help="Date de remise du bilan final (JJ/MM/AAAA) ; aujourd'hui "
                                   "par défaut.")
@click.pass_obj
def marche_close(state: Any, reference: str, on: str | None) -> None:
    """Clôt un marché à la remise de son bilan final synthétique (« clausebot point ») :
    plus de rappels ni de retards ; le jalon de facturation du solde est atteint.

    \b
    Exemple :
      clausebot marche clore 2025-017 --date 15/07/2026
    """
    day = _parse("--date", parse_date, on) or _today(state)
    if day > _today(state):
        raise CliError(f"--date : {fr_date(day)} est dans le futur ; clôturez le jour de la "
                       "remise du bilan final.")
    with admin_session(state) as s:
        market, reached = fees.close_market(s, cli_actor(), reference, day)
        click.echo(f"Marché {market.reference} clos le {fr_date(day)}."
                   + (" Jalon « bilan final » de facturation atteint : voyez « clausebot "
                      "facturation »." if reached else ""))


def _engagement(s: Any, marche: str, lot: int, entreprise: str) -> Engagement:
    market = require_market(s, marche)
    company = require_company(s, entreprise)
    eng = engagement_on_lot(s, market.id, lot, company.id)
    if eng is None:
        raise CliError(f"{company.name} n'a pas d'engagement sur le lot {lot} du marché "
                       f"{market.reference} (voir « clausebot engagement list »).")
    return eng


_ENGAGEMENT_OPTIONS = [
    click.option("--marche", required=True, help="Référence du marché."),
    click.option("--lot", required=True, type=int, help="Numéro du lot."),
    click.option("--entreprise", required=True, help="Nom exact ou SIRET de l'entreprise."),
]


def _with_engagement(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_ENGAGEMENT_OPTIONS):
        f = option(f)
    return f


@click.command("modifier")
@_with_engagement
@click.option("--heures", help="Nouvelles heures dues.")
@click.option("--moyen", help="Nouveau moyen (embauche_directe, etti, ai, geiq, ...).")
@click.pass_obj
def engagement_edit(state: Any, marche: str, lot: int, entreprise: str, heures: str | None,
                    moyen: str | None) -> None:
    """Modifie les heures dues ou le moyen d'un engagement.

    \b
    Exemple :
      clausebot engagement modifier --marche 2025-017 --lot 2 --entreprise "BTP Rhône" --heures 700
    """
    hours = _parse("--heures", parse_hours_value, heures)
    means = _parse("--moyen", parse_means, moyen)
    with admin_session(state) as s:
        eng = registries.edit_engagement(s, cli_actor(), _engagement(s, marche, lot, entreprise),
                                         hours_owed=hours, means=means)
        click.echo(f"Engagement modifié : {eng.hours_owed} h dues, moyen {eng.means.value}.")


@click.command("terminer")
@_with_engagement
@click.option("--date", "on", help="Dernier jour (JJ/MM/AAAA) ; aujourd'hui par défaut.")
@click.pass_obj
def engagement_end(state: Any, marche: str, lot: int, entreprise: str, on: str | None) -> None:
    """Termine un engagement (entreprise remplacée, lot résilié) : plus de rappel ensuite.

    \b
    Exemple :
      clausebot engagement terminer --marche 2025-017 --lot 2 --entreprise "BTP Rhône" \\
        --date 30/09/2025
    """
    day = _parse("--date", parse_date, on) or _today(state)
    with admin_session(state) as s:
        registries.end_engagement(s, cli_actor(), _engagement(s, marche, lot, entreprise), day)
        click.echo(f"Engagement terminé le {fr_date(day)}.")


@click.command("desactiver")
@click.argument("entreprise")
@click.option("--date", "on", help="Date d'effet (JJ/MM/AAAA) ; aujourd'hui par défaut.")
@click.pass_obj
def entreprise_deactivate(state: Any, entreprise: str, on: str | None) -> None:
    """Désactive une entreprise (cessation, départ) : ses engagements se terminent, plus de
    rappels ni de retards, ses e-mails ne sont plus attribués et ses comptes de chat sont
    fermés ; l'historique reste.

    \b
    Exemple :
      clausebot entreprise desactiver "821 953 452 00413" --date 31/10/2025
    """
    day = _parse("--date", parse_date, on) or _today(state)
    with admin_session(state) as s:
        company = require_company(s, entreprise)
        ended = registries.deactivate_company(s, cli_actor(), company, day)
        click.echo(f"Entreprise {company.name} désactivée le {fr_date(day)} ; "
                   f"{ended} engagement(s) terminé(s).")


# --- facturation --------------------------------------------------------------------------------


@click.group("facturation", invoke_without_command=True)
@click.option("--donneur", help="Seulement ce donneur d'ordre.")
@click.option("--a-facturer", "pending", is_flag=True, help="Seulement ce qui reste à facturer.")
@click.pass_context
def facturation_group(click_ctx: click.Context, donneur: str | None, pending: bool) -> None:
    """Jalons de facturation de la participation (convention art. 7) : 50 % au démarrage de
    la clause d'un marché, le solde à la remise de son bilan final. Les jalons sont atteints
    par la tâche quotidienne fee_milestones et par « clausebot marche clore ».

    \b
    Exemples :
      clausebot facturation
      clausebot facturation marquer --marche 2025-017 --jalon demarrage --date 10/03/2025
    """
    if click_ctx.invoked_subcommand is not None:
        return
    state = click_ctx.obj
    with admin_session(state) as s:
        lines = fees.fee_lines(s, cli_actor(), donneur=donneur, pending_only=pending)
    if not lines:
        click.echo("Aucun jalon atteint.")
        return
    due_total = sum((ln.amount for ln in lines if ln.invoiced_on is None and ln.amount), Decimal(0))
    current: tuple[str | None, str] | None = None
    for ln in lines:
        if (ln.convention, ln.donneur) != current:
            current = (ln.convention, ln.donneur)
            click.echo(f"{ln.donneur} — convention {ln.convention or '(aucune)'}")
        amount = fr_money(ln.amount, ht=True) if ln.amount is not None else "montant à préciser"
        state_fr = (f"facturé le {fr_date(ln.invoiced_on)}"
                    + (f" ({ln.invoice})" if ln.invoice else "")) if ln.invoiced_on else "À FACTURER"
        click.echo(f"    {ln.market:<14} {fees.KIND_FR[ln.kind]:<36} atteint le "
                   f"{fr_date(ln.reached_on)}  {amount:>16}  {state_fr}")
    click.echo(f"Reste à facturer : {fr_money(due_total, ht=True)}.")


@facturation_group.command("marquer")
@click.option("--marche", required=True, help="Référence du marché.")
@click.option("--jalon", required=True, type=click.Choice([fees.START, fees.FINAL]),
              help="Jalon facturé.")
@click.option("--date", "on", help="Date de la facture (JJ/MM/AAAA) ; aujourd'hui par défaut.")
@click.option("--facture", help="Numéro de facture.")
@click.pass_obj
def facturation_mark(state: Any, marche: str, jalon: str, on: str | None,
                     facture: str | None) -> None:
    """Enregistre la facture d'un jalon atteint.

    \b
    Exemple :
      clausebot facturation marquer --marche 2025-017 --jalon demarrage --date 10/03/2025 \\
        --facture F2025-031
    """
    day = _parse("--date", parse_date, on) or _today(state)
    with admin_session(state) as s:
        row = fees.mark_invoiced(s, cli_actor(), marche, jalon, day, facture)
        click.echo(f"Jalon « {fees.KIND_FR[row.kind]} » du marché {marche} facturé le "
                   f"{fr_date(day)}.")


# --- a registries file --------------------------------------------------------------------------


@click.group("registres")
def registres_group() -> None:
    """Registres de l'agence depuis un fichier (conventions, prescripteurs, référent·e·s).

    \b
    Exemple :
      clausebot registres charger examples/agence/registres.toml
    """


def _load_entries(state: Any, s: Any, data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Apply each entry through the same use cases as the commands; returns (done, errors)."""
    actor = cli_actor()
    done: list[str] = []
    errors: list[str] = []

    def attempt(label: str, action: Callable[[], str | None]) -> None:
        try:
            with s.begin_nested():
                result = action()
        except (DomainError, CliError, ValueProblem, KeyError, TypeError) as exc:
            text = exc.message_fr if isinstance(exc, DomainError) else (
                exc.format_message() if isinstance(exc, CliError) else
                f"champ « {exc.args[0]} » manquant" if isinstance(exc, KeyError) else str(exc))
            errors.append(f"{label} : {text}")
            return
        if result:
            done.append(result)

    def convention(e: dict[str, Any]) -> str | None:
        if registries.convention_exists(s, str(e["reference"])):
            return None
        registries.create_convention(
            s, actor, donneur=e["donneur"], reference=e["reference"],
            start=_parse("debut", parse_date, str(e["debut"])),
            duration_months=_months("duree_mois", str(e.get(
                "duree_mois", registries.DEFAULT_DURATION_MONTHS))) or 0,
            notice_months=_months("preavis_mois", str(e.get(
                "preavis_mois", registries.DEFAULT_NOTICE_MONTHS))) or 0,
            fee_amount=_parse("montant", parse_amount, e.get("montant")),
            fee_start_share=_parse("part_demarrage", parse_share,
                                   e.get("part_demarrage", "50 %")))
        return f"convention {e['reference']}"

    def prescriber(e: dict[str, Any]) -> str | None:
        try:
            registries.find_prescriber(s, e["nom"])
        except registries.RegistryError:
            registries.create_prescriber(
                s, actor, name=e["nom"], kind=registries.parse_prescriber_kind(e["type"]),
                domains=list(e.get("domaines", [])), emails=list(e.get("emails", [])))
            return f"prescripteur {e['nom']}"
        return None

    def referent(e: dict[str, Any]) -> str | None:
        if registries.referent_exists(s, e["email"]):
            return None
        registries.add_referent(s, actor, donneur=e["donneur"], name=e["nom"], email=e["email"],
                                position=e.get("fonction"))
        return f"référent·e {e['email']}"

    for section, apply in (("convention", convention), ("prescripteur", prescriber),
                           ("referent", referent)):
        entries = data.get(section, [])
        if not isinstance(entries, list):
            errors.append(f"[[{section}]] : une liste d'entrées est attendue.")
            continue
        for i, entry in enumerate(entries, start=1):
            attempt(f"{section} n° {i}", functools.partial(apply, entry))
    return done, errors


@registres_group.command("charger")
@file_loader
@click.pass_obj
def registres_load(state: Any, fichier: Path, dry_run: bool) -> None:
    """Charge un fichier TOML de registres : tout ou rien ; chaque entrée fautive est
    signalée ; recharger le même fichier ne crée pas de doublon (entrées déjà présentes
    ignorées). Format : voir examples/agence/registres.toml.

    \b
    Exemple :
      clausebot registres charger examples/agence/registres.toml --dry-run
    """
    try:
        data = tomllib.loads(fichier.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{fichier.name} illisible (TOML en UTF-8 attendu) : {exc}") from None
    with admin_session(state) as s:
        outer = s.begin_nested()
        done, errors = _load_entries(state, s, data)
        if errors or dry_run:
            outer.rollback()
        else:
            outer.commit()
    if errors:
        for line in errors:
            click.echo(line, err=True)
        raise CliError(f"{fichier.name} : {len(errors)} entrée(s) refusée(s). Rien n'a été "
                       "écrit ; corrigez le fichier et relancez.")
    title = "Simulation (--dry-run) : rien n'a été écrit. " if dry_run else ""
    click.echo(f"{title}{len(done)} entrée(s) ajoutée(s), les autres existaient déjà.")
    for line in done:
        click.echo(f"  + {line}")


def register(main: click.Group) -> None:
    for group in (convention_group, prescripteur_group, referent_group, facturation_group,
                  registres_group):
        main.add_command(group)
    for parent, command in (("marche", marche_close), ("engagement", engagement_edit),
                            ("engagement", engagement_end), ("entreprise", entreprise_deactivate)):
        parent_group = main.commands.get(parent)
        if isinstance(parent_group, click.Group):
            parent_group.add_command(command)
