"""`clausebot import <fichier.csv> [--dry-run]`: load a territory from the CSV template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clausebot.cli_admin_common import (
    CliError,
    admin_session,
    cli_actor,
    echo_table,
    file_loader,
    read_file_at_most,
)
from clauses import audit
from clauses.importing import ENTITY_LABELS, ImportFileError, import_csv

MAX_FILE_BYTES = 20 * 1024 * 1024


@click.command("import")
@file_loader
@click.pass_obj
def import_command(state: Any, fichier: Path, dry_run: bool) -> None:
    """Importe donneurs, marchés, lots, entreprises et engagements depuis un CSV.

    Le fichier est en UTF-8 (« CSV UTF-8 » d'Excel), séparateur « ; » ou « , ». Toutes les
    lignes sont vérifiées d'abord : s'il y a une seule erreur, rien n'est importé et chaque
    ligne fautive est signalée avec son numéro. Réimporter le même fichier ne crée pas de
    doublon (mise à jour par référence de marché, numéro de lot, SIRET). Colonnes : voir
    examples/README.md et le modèle examples/modele_import.csv.

    \b
    Exemple :
      clausebot import examples/import_exemple.csv --dry-run
      clausebot import examples/import_exemple.csv
    """
    data = read_file_at_most(fichier, MAX_FILE_BYTES)
    with admin_session(state) as s:
        try:
            result = import_csv(s, data, rulebook=state.ctx.rulebook, dry_run=dry_run,
                                today=state.ctx.clock.today())
        except ImportFileError as exc:
            raise CliError(f"{fichier.name} : {exc.message_fr}") from exc
        for warning in result.warnings:
            click.echo(f"Attention : {warning}")
        if not result.ok:
            for error in result.errors:
                click.echo(str(error), err=True)
            bad_lines = len({e.line for e in result.errors})
            raise CliError(f"{fichier.name} : {len(result.errors)} erreur(s) sur {bad_lines} "
                           "ligne(s). Rien n'a été importé ; corrigez le fichier et relancez.")
        if not dry_run:
            audit.record(s, cli_actor(), "import_csv", "import", None, fichier=fichier.name,
                         lignes=result.lines,
                         **{k: v["créés"] + v["modifiés"] for k, v in result.counts.items()})
    title = "Simulation (--dry-run) : rien n'a été écrit." if dry_run else "Import terminé."
    click.echo(f"{title} {result.lines} ligne(s) lue(s) dans {fichier.name}.")
    echo_table(["", "créés", "modifiés", "inchangés"],
               [(ENTITY_LABELS[name], c["créés"], c["modifiés"], c["inchangés"])
                for name, c in result.counts.items()])
