"""`clausebot heures controle liste|detail|valider|contester`: the control of declared hours.

The same use cases as the chat's /controle (:mod:`clauses.declaration_control`): a contest
without a reason, or on a declaration corrected since the figures were read, is refused here
with the same French message and nothing written.
"""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import CliError, admin_session, cli_actor, echo_table
from clauses import declaration_control as dc
from clauses.formatting import fr_hours, fr_month, parse_month
from clauses.job_offers import find_company


@click.group("heures")
def heures_group() -> None:
    """Heures déclarées par les entreprises.

    \b
    Exemple :
      clausebot heures controle liste --marche 2025-017
    """


@heures_group.group("controle")
def controle_group() -> None:
    """Contrôle des heures déclarées : valider, ou contester avec un motif envoyé à l'entreprise.

    \b
    Exemple :
      clausebot heures controle liste
      clausebot heures controle detail --entreprise "BTP Rhône" --mois 11/2026
      clausebot heures controle valider --entreprise "BTP Rhône" --mois 11/2026
      clausebot heures controle contester 12 --motif "heures supérieures au bulletin de paie"
    """


def _company_id(session: Any, name: str | None) -> int | None:
    return find_company(session, name).id if name else None


@controle_group.command("liste")
@click.option("--marche", help="Référence du marché.")
@click.option("--entreprise", help="Nom exact de l'entreprise.")
@click.option("--mois", help="Mois déclaré (11/2026, « novembre 2026 »).")
@click.pass_obj
def controle_liste(state: Any, marche: str | None, entreprise: str | None, mois: str | None) -> None:
    """Les mois d'entreprise dont des déclarations attendent le contrôle (les plus anciens d'abord)."""
    with admin_session(state) as s:
        month = parse_month(mois, today=state.ctx.clock.today()) if mois else None
        rows = dc.pending_months(s, cli_actor(), market_reference=marche,
                                 company_id=_company_id(s, entreprise), month=month, limit=500)
        echo_table(["entreprise", "mois", "marché(s)", "à contrôler", "contestées", "heures comptées"],
                   [[r.company_name, fr_month(r.month), r.markets, r.lines, r.contested,
                     fr_hours(r.counted_hours)] for r in rows],
                   empty="Aucune déclaration à contrôler.")


@controle_group.command("detail")
@click.option("--entreprise", required=True, help="Nom exact de l'entreprise.")
@click.option("--mois", required=True, help="Mois déclaré (11/2026, « novembre 2026 »).")
@click.option("--marche", help="Référence du marché.")
@click.pass_obj
def controle_detail(state: Any, entreprise: str, mois: str, marche: str | None) -> None:
    """Les déclarations du mois de l'entreprise à contrôler ou contestées, avec leur n°."""
    with admin_session(state) as s:
        month = parse_month(mois, today=state.ctx.clock.today())
        rows = dc.month_lines(s, cli_actor(), find_company(s, entreprise).id, month,
                              market_reference=marche)
        echo_table(["n°", "révision", "personne", "marché", "lot", "travail", "formation",
                    "comptées", "statut", "motif"],
                   [[r.declaration_id, r.revision, r.participant_name, r.market_reference,
                     r.lot_number, fr_hours(r.work_hours), fr_hours(r.training_hours),
                     fr_hours(r.counted_hours), dc.STATUS_FR[r.status], r.control_reason or ""]
                    for r in rows],
                   empty="Rien à contrôler pour ce mois.")


@controle_group.command("valider")
@click.argument("declarations", nargs=-1, type=int)
@click.option("--entreprise", help="Toutes les lignes à contrôler de cette entreprise (avec --mois).")
@click.option("--mois", help="Mois déclaré (avec --entreprise).")
@click.option("--marche", help="Restreint --entreprise/--mois à ce marché.")
@click.pass_obj
def controle_valider(state: Any, declarations: tuple[int, ...], entreprise: str | None,
                     mois: str | None, marche: str | None) -> None:
    """Valide des déclarations par leur n°, ou tout le mois d'une entreprise."""
    if bool(declarations) == bool(entreprise or mois):
        raise CliError("Indiquez soit des n° de déclaration (ex. « valider 12 13 »), soit "
                       "--entreprise et --mois (tout le mois), pas les deux.")
    if not declarations and not (entreprise and mois):
        raise CliError("Pour valider tout un mois, indiquez --entreprise ET --mois "
                       "(ex. --entreprise \"BTP Rhône\" --mois 11/2026).")
    with admin_session(state) as s:
        actor = cli_actor()
        if declarations:
            done = [dc.validate(state.ctx, s, actor, n) for n in declarations]
        else:
            assert entreprise is not None and mois is not None
            month = parse_month(mois, today=state.ctx.clock.today())
            done = dc.validate_month(state.ctx, s, actor, find_company(s, entreprise).id, month,
                                     market_reference=marche)
        if not done:
            click.echo("Aucune déclaration à valider (déjà contrôlées, ou contestées).")
            return
        for line in done:
            click.echo(f"Validée : {line.label}")


@controle_group.command("contester")
@click.argument("declaration", type=int)
@click.option("--motif", required=True, help="Le motif, envoyé à l'entreprise (3 à 300 caractères).")
@click.option("--revision", type=int, help="La révision examinée : refusé si l'entreprise a corrigé depuis.")
@click.pass_obj
def controle_contester(state: Any, declaration: int, motif: str, revision: int | None) -> None:
    """Conteste une déclaration ; l'entreprise est prévenue (chat, sinon e-mail) du motif."""
    with admin_session(state) as s:
        line, sent = dc.contest(state.ctx, s, cli_actor(), declaration, motif, revision=revision)
        click.echo(f"Contestée : {line.label}\nMotif : « {line.control_reason} » — "
                   + (f"{sent} message(s) à l'entreprise." if sent else
                      "aucun contact de l'entreprise n'est connu : prévenez-la."))


def register(main: click.Group) -> None:
    main.add_command(heures_group)
