"""`clausebot historique importer FICHIER [--dry-run]`: load an agency's tracking history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clausebot.cli_admin_common import (
    CliError,
    cli_actor,
    echo_table,
    file_loader,
    read_file_at_most,
)
from clauses.errors import DomainError
from clauses.history.loading import import_history
from clauses.history.reading import parse_rows

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_SHOWN_ERRORS = 200
SQLITE_PAUSE = 0.1


@click.group("historique")
def historique_group() -> None:
    """Historique de l'agence : participants, critères, contrats, heures mensuelles, sorties.

    \b
    Exemple :
      clausebot historique importer examples/agence/historique.csv --dry-run
    """


@historique_group.command("importer")
@file_loader
@click.pass_obj
def historique_importer(state: Any, fichier: Path, dry_run: bool) -> None:
    """Importe le suivi d'une agence (CSV UTF-8 ou windows-1252, ou classeur XLSX).

    Une ligne par personne, contrat et mois (colonne « mois »), ou une ligne par personne et
    contrat avec un mois par colonne (« 01/2025 », « janv. 2025 »). Mêmes règles que le chat :
    tout le fichier est vérifié d'abord ; une seule erreur et rien n'est écrit, chaque ligne
    fautive est signalée avec son numéro. Réimporter le même fichier ne change rien ; un
    fichier qui prolonge le premier n'ajoute que le nouveau. Colonnes : examples/README.md.

    \b
    Exemple :
      clausebot historique importer examples/agence/historique.csv --dry-run
      clausebot historique importer examples/agence/historique.csv
    """
    data = read_file_at_most(fichier, MAX_FILE_BYTES, " ; coupez-le par année")
    try:
        ctx = state.ctx
        rows = parse_rows(data, fichier.name)
    except DomainError as exc:
        raise CliError(f"{fichier.name} : {exc.message_fr}") from exc
    click.get_current_context().call_on_close(ctx.db.dispose)
    # SQLite's busy handler retries at most every 100 ms: a pause that long between chunks lets
    # the running service's chat write instead of starving behind commit-then-BEGIN.
    pause = SQLITE_PAUSE if ctx.db.engine.dialect.name == "sqlite" else 0.0
    result = import_history(ctx, cli_actor(), rows, ctx.db.session, read=ctx.db.read_session,
                            dry_run=dry_run, pause=pause)
    if not result.ok:
        for line, message in result.errors[:MAX_SHOWN_ERRORS]:
            click.echo(f"ligne {line} : {message}", err=True)
        more = len(result.errors) - MAX_SHOWN_ERRORS
        if more > 0:
            click.echo(f"... et {more} autre(s) erreur(s).", err=True)
        bad = len({line for line, _ in result.errors})
        if result.written:
            raise CliError(f"{fichier.name} : import interrompu après {result.written} bloc(s) "
                           "écrits par un changement fait en direct ; relancez la même commande "
                           "pour terminer (rien ne sera doublé).")
        raise CliError(f"{fichier.name} : {len(result.errors)} erreur(s) sur {bad} ligne(s). "
                       "Rien n'a été importé ; corrigez le fichier et relancez.")
    title = "Simulation (--dry-run) : rien n'a été écrit." if dry_run else "Import terminé."
    click.echo(f"{title} {result.lines} ligne(s) lue(s) dans {fichier.name}.")
    echo_table(["", "ajoutés"], list(result.counts.items()))


def register(main: click.Group) -> None:
    main.add_command(historique_group)
