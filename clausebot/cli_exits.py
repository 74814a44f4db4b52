"""`clausebot sortie record|list|situations`: the facilitator records or corrects an exit.

The same domain use case as the employer's answer (:func:`clauses.exits.record_exit`), so a
person still under contract or a date before the contract's start is refused here with the
same French message.
"""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import admin_session, cli_actor, echo_table
from clauses.exits import (
    exits_overview,
    numbered_situations,
    parse_exit_date,
    record_exit,
    situation_label,
)
from clauses.formatting import fr_date


@click.group("sortie")
def sortie_group() -> None:
    """Sorties des participants (situation à la sortie, suivi à 6 mois) pour les bilans.

    \b
    Exemple :
      clausebot sortie record --personne 12 --situation cdi --date 30/06/2025
    """


@sortie_group.command("record")
@click.option("--personne", "participant_id", type=int, required=True,
              help="Numéro du participant (voir « clausebot sortie list »).")
@click.option("--situation", required=True,
              help="Clé de la situation (voir « clausebot sortie situations »), ex. cdi.")
@click.option("--date", "when", required=True, help="Date de sortie JJ/MM/AAAA (fin du contrat).")
@click.pass_obj
def sortie_record(state: Any, participant_id: int, situation: str, when: str) -> None:
    """Enregistre ou corrige la sortie d'un participant (journalisé ; le prescripteur est informé).

    \b
    Exemple :
      clausebot sortie record --personne 12 --situation formation_qualifiante --date 28/02/2026
    """
    with admin_session(state) as s:
        day = parse_exit_date(when)
        p = record_exit(state.ctx, s, cli_actor(), participant_id, situation=situation.strip(),
                        exit_date=day)
        label = situation_label(state.ctx, situation.strip())
        click.echo(f"Sortie enregistrée pour {p.display_name} (n° {p.id}) au {fr_date(day)} : {label}.")


@sortie_group.command("list")
@click.option("--manquantes", is_flag=True, help="Seulement les sorties encore à enregistrer.")
@click.pass_obj
def sortie_list(state: Any, manquantes: bool) -> None:
    """Personnes dont le dernier contrat est terminé : sortie et suivi à 6 mois.

    \b
    Exemple :
      clausebot sortie list --manquantes
    """
    with admin_session(state) as s:
        views = exits_overview(state.ctx, s, cli_actor(), missing_only=manquantes)
        labels = dict(numbered_situations(state.ctx))
        echo_table(["N°", "Personne", "Fin de contrat", "Sortie", "Date", "Suivi 6 mois"],
                   [(v.participant_id, v.name,
                     fr_date(v.last_end) if v.last_end else "",
                     labels.get(v.situation or "", v.situation or "à enregistrer"),
                     fr_date(v.exit_date) if v.exit_date else "",
                     labels.get(v.followup or "", v.followup or ""))
                    for v in views], empty="Aucune sortie à afficher.")


@sortie_group.command("situations")
@click.pass_obj
def sortie_situations(state: Any) -> None:
    """Les situations de sortie du règlement (catégorie — situation) et leur clé.

    \b
    Exemple :
      clausebot sortie situations
    """
    echo_table(["Clé", "Situation"], numbered_situations(state.ctx))


def register(main: click.Group) -> None:
    main.add_command(sortie_group)
