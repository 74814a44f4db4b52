"""`clausebot lot penalites` (a lot's penalty terms) and `clausebot note add|list` (qualitative
notes of the « grille de suivi »). The same domain functions serve the chat."""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import admin_session, cli_actor, echo_table
from clauses.formatting import fr_date, fr_money, fr_percent
from clauses.notes import TOPICS, add_note, list_notes
from clauses.penalty_terms import set_lot_terms


@click.command("penalites")
@click.option("--marche", required=True, help="Référence du marché, ex. 2025-017.")
@click.option("--lot", "lot_number", required=True, type=int, help="Numéro du lot.")
@click.option("--par-heure", help="€ HT par heure d'insertion non réalisée (défaut du règlement : "
                                  "60).")
@click.option("--par-jour", help="€ HT par jour de retard après mise en demeure (défaut : 100).")
@click.option("--plafond", help="Plafond, en part du montant du lot (défaut : 20 %).")
@click.pass_obj
def lot_penalites(state: Any, marche: str, lot_number: int, par_heure: str | None,
                  par_jour: str | None, plafond: str | None) -> None:
    """Enregistre les pénalités du lot prévues au marché (une option omise prend la valeur par
    défaut du règlement, affichée comme telle).

    \b
    Exemple :
      clausebot lot penalites --marche 2025-017 --lot 1 --par-heure 60 --par-jour 100 --plafond 20%
    """
    with admin_session(state) as s:
        terms = set_lot_terms(s, cli_actor(), state.ctx.rulebook, marche, lot_number,
                              per_hour=par_heure, per_day=par_jour, cap=plafond)

        def how(given: str | None) -> str:
            return "" if given else " (valeur par défaut du règlement)"

        click.echo(f"Pénalités du lot {terms.lot_number} du marché {terms.market_reference} :\n"
                   f"  par heure non réalisée : {fr_money(terms.per_hour or 0, ht=True)}"
                   f"{how(par_heure)}\n"
                   f"  par jour de retard après mise en demeure : "
                   f"{fr_money(terms.per_day or 0, ht=True)}{how(par_jour)}\n"
                   f"  plafond : {fr_percent(terms.cap_share or 0)} du montant du lot"
                   f"{how(plafond)}")


@click.group("note")
def note_group() -> None:
    """Notes qualitatives (grille de suivi : formation, tutorat, visites), reprises dans les
    bilans.

    \b
    Exemple :
      clausebot note add --marche 2025-017 --entreprise "BTP Rhône" --theme tutorat "Tuteur désigné"
    """


@note_group.command("add")
@click.argument("texte")
@click.option("--marche", help="Référence du marché (avec --entreprise).")
@click.option("--entreprise", help="Entreprise titulaire sur ce marché.")
@click.option("--donneur", help="Donneur d'ordre (synthèse annuelle), au lieu d'un marché.")
@click.option("--theme", help=f"Thème : {', '.join(TOPICS)} (défaut : autre).")
@click.pass_obj
def note_add(state: Any, texte: str, marche: str | None, entreprise: str | None,
             donneur: str | None, theme: str | None) -> None:
    """Ajoute une note sur un engagement (marché + entreprise) ou sur un donneur d'ordre.

    \b
    Exemples :
      clausebot note add --marche 2025-017 --entreprise "BTP Rhône" --theme formation "CACES R482 pour 2 salariés"
      clausebot note add --donneur "Ville d'Oullins" "Bonne dynamique des entreprises en 2025"
    """
    with admin_session(state) as s:
        note = add_note(state.ctx, s, cli_actor(), texte, topic=theme, market_reference=marche,
                        company=entreprise, donneur=donneur)
        click.echo(f"Note n° {note.id} enregistrée ({note.topic_label}) : {note.about}.")


@note_group.command("list")
@click.option("--marche", help="Les notes d'un marché.")
@click.option("--donneur", help="Les notes d'un donneur d'ordre et de ses marchés.")
@click.pass_obj
def note_list(state: Any, marche: str | None, donneur: str | None) -> None:
    """Liste les notes, les plus récentes d'abord.

    \b
    Exemple :
      clausebot note list --marche 2025-017
    """
    with admin_session(state) as s:
        notes = list_notes(s, cli_actor(), market_reference=marche, donneur=donneur)
        echo_table(["N°", "Date", "Thème", "Sur", "Note"],
                   [(n.id, fr_date(n.written_on), n.topic_label, n.about, n.body[:80])
                    for n in notes], empty="Aucune note.")


def register(main: click.Group) -> None:
    lot = main.commands.get("lot")
    if isinstance(lot, click.Group):
        lot.add_command(lot_penalites)
    main.add_command(note_group)
