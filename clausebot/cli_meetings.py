"""`clausebot reunion create|list|cancel`: the meetings the scheduler reminds.

The same domain functions serve the facilitators' `/reunion` chat command, so a date or a type
refused here is refused there with the same French message.
"""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import admin_session, cli_actor, echo_table
from clauses.clock import PARIS
from clauses.meetings import (
    KIND_WORDS,
    cancel_meeting,
    kind_from_word,
    parse_when,
    schedule_meeting,
    upcoming_meetings,
)


@click.group("reunion")
def reunion_group() -> None:
    """Réunions (lancement, SIAE, partenariat) : le planificateur envoie les rappels.

    \b
    Exemple :
      clausebot reunion create --type lancement --marche 2025-017 --date "03/12/2026 14h30"
    """


@reunion_group.command("create")
@click.option("--type", "kind", required=True, help=f"Type : {', '.join(KIND_WORDS)}.")
@click.option("--date", "when", required=True, help="Date et heure (heure de Paris), ex. \"03/12/2026 14h30\".")
@click.option("--marche", help="Référence du marché (lancement, SIAE, suivi).")
@click.option("--donneur", help="Donneur d'ordre (réunion annuelle de partenariat).")
@click.option("--lieu", help="Lieu de la réunion.")
@click.option("--note", help="Note reprise dans le rappel (ordre du jour...).")
@click.pass_obj
def reunion_create(state: Any, kind: str, when: str, marche: str | None, donneur: str | None,
                   lieu: str | None, note: str | None) -> None:
    """Enregistre une réunion ; les invités en sont rappelés 7 jours et 1 jour avant.

    \b
    Exemples :
      clausebot reunion create --type siae-debut --marche 2026-031 --date "12/01/2027 9h30" --lieu "Mairie"
      clausebot reunion create --type partenariat --donneur "Ville d'Oullins" --date "05/03/2027 10h"
    """
    with admin_session(state) as s:
        meeting = schedule_meeting(s, state.ctx.clock, cli_actor(), kind=kind_from_word(kind),
                                   at=parse_when(when), market_reference=marche,
                                   donneur=donneur, location=lieu, note=note)
        local = meeting.scheduled_at.astimezone(PARIS)
        click.echo(f"Réunion n° {meeting.id} enregistrée le {local:%d/%m/%Y à %H:%M}.")


@reunion_group.command("list")
@click.pass_obj
def reunion_list(state: Any) -> None:
    """Liste les réunions à venir.

    \b
    Exemple :
      clausebot reunion list
    """
    with admin_session(state) as s:
        views = upcoming_meetings(s, cli_actor(), state.ctx.clock.now(), limit=200)
        echo_table(["N°", "Date", "Réunion", "Marché", "Donneur", "Lieu"],
                   [(v.id, f"{v.at.astimezone(PARIS):%d/%m/%Y %H:%M}", v.label_fr,
                     v.market_reference or "", v.donneur_name or "", v.location or "")
                    for v in views], empty="Aucune réunion à venir.")


@reunion_group.command("cancel")
@click.argument("numero", type=int)
@click.pass_obj
def reunion_cancel(state: Any, numero: int) -> None:
    """Supprime une réunion annulée (aucun rappel ne partira).

    \b
    Exemple :
      clausebot reunion cancel 12
    """
    with admin_session(state) as s:
        cancelled = cancel_meeting(s, cli_actor(), numero)
        queued = f" ({cancelled} rappel(s) déjà prévu(s) annulé(s))" if cancelled else ""
        click.echo(f"Réunion n° {numero} supprimée{queued}.")


def register(main: click.Group) -> None:
    main.add_command(reunion_group)
