"""`clausebot modele-declaration` and `clausebot mail ...` (one intake pass, one sending pass)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click


@click.command("modele-declaration")
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Fichier à écrire (.xlsx ou .csv).")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default=None,
              help="Format (par défaut : d'après l'extension du fichier, sinon xlsx).")
def modele_declaration(out: Path, fmt: str | None) -> None:
    """Écrit le modèle de déclaration mensuelle des heures (à envoyer aux entreprises).

    Les entreprises le remplissent (une ligne par personne et par mois) et le renvoient en
    pièce jointe à l'adresse de l'agence : chaque ligne est vérifiée.

    \b
    Exemple :
      clausebot modele-declaration --out modele-declaration.xlsx
    """
    from mail.declaration_template import build_csv, build_xlsx

    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "xlsx")
    data = build_csv() if fmt == "csv" else build_xlsx()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    click.echo(f"Modèle de déclaration ({fmt.upper()}) écrit dans {out}.")


@click.group("mail")
def mail_group() -> None:
    """Courrier électronique : relève et envoi à la demande.

    \b
    Exemple :
      clausebot mail relever && clausebot mail envoyer
    """


@mail_group.command("relever")
@click.pass_obj
def mail_fetch(state) -> None:
    """Relève une fois la boîte (IMAP ou dossier Maildir) et traite les messages reçus.

    \b
    Exemple :
      clausebot mail relever
    """
    from mail.config import from_settings
    from mail.service import build_intake

    intake = build_intake(state.ctx, from_settings(state.settings))
    result = intake.run_once()
    counts = result if isinstance(result, dict) else result.by_status
    total = sum(counts.values())
    detail = ", ".join(f"{k} : {v}" for k, v in sorted(counts.items())) or "aucun nouveau message"
    click.echo(f"{total} message(s) traité(s) ({detail}).")


@mail_group.command("envoyer")
@click.pass_obj
def mail_send(state) -> None:
    """Envoie une fois les e-mails en attente dans la file d'envoi.

    \b
    Exemple :
      clausebot mail envoyer
    """
    from mail.config import from_settings
    from mail.service import build_sender
    from mail.transport import TransportUnavailable

    sender = build_sender(state.ctx, from_settings(state.settings))
    try:
        report = asyncio.run(sender.send_due())
    except TransportUnavailable as exc:
        raise click.ClickException(f"Serveur d'envoi injoignable : {exc}. Les messages restent en attente.") from exc
    click.echo(f"{report.sent} envoyé(s), {report.retried} à réessayer, {report.dead} en échec définitif.")


def register(main: click.Group) -> None:
    main.add_command(modele_declaration)
    main.add_command(mail_group)
