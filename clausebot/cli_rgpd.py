"""`clausebot rgpd ...`, `clausebot purge` and `clausebot audit`: data-subject rights, retention
and the access log, for the agency's data protection contact.

Whoever runs these commands has shell access to the service, which is an administrator's
access: they act as an admin on the CLI channel, labelled with their system user name in the
audit log. Each command writes its own audit entry in the same transaction as its effect.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path

import click

from clauses.actors import Actor
from clauses.errors import DomainError
from storage.models import Channel, Role


def cli_actor() -> Actor:
    try:
        who = getpass.getuser()
    except Exception:  # no user name in a bare container: still log something
        who = "inconnu"
    return Actor(role=Role.ADMIN, channel=Channel.CLI, label=f"cli:{who}")


def _fail(err: DomainError) -> None:
    click.echo(f"Erreur : {err.message_fr}", err=True)
    raise SystemExit(1)


def _remove_mailbox_copies(state, *, quiet: bool = False) -> None:
    """After the commit: the mailbox copies of the e-mails just erased or purged go too."""
    from mail.config import from_settings
    from mail.mailbox_purge import remove_mailbox_copies

    settings = getattr(state, "settings", None)
    if settings is None:
        return
    removed = remove_mailbox_copies(state.ctx, from_settings(settings))
    if removed and not quiet:
        click.echo(f"{removed} copie(s) d'e-mail retirée(s) des dossiers de la boîte.")


def parse_date_fr(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text.strip(), "%d/%m/%Y").date()
    except ValueError as exc:
        raise click.BadParameter(
            f"« {text} » n'est pas une date JJ/MM/AAAA (exemple : 01/03/2025)."
        ) from exc


@click.group("rgpd")
def rgpd_group() -> None:
    """Droits des personnes (RGPD) : export et effacement des données d'un participant.

    \b
    Exemple :
      clausebot rgpd export 12 --sortie export-12.zip
    """


@rgpd_group.command("export")
@click.argument("participant_id", type=int)
@click.option("--sortie", type=click.Path(path_type=Path),
              help="Fichier .zip ou dossier à créer (défaut : export-personne-<n°>.zip).")
@click.pass_obj
def rgpd_export(state, participant_id: int, sortie: Path | None) -> None:
    """Exporte tout ce qui concerne une personne : JSON et documents (droit d'accès).

    Le fichier contient des données personnelles : remettez-le à la personne par un moyen sûr
    puis supprimez-le.

    \b
    Exemple :
      clausebot rgpd export 12 --sortie /tmp/export-12.zip
    """
    from clauses.rgpd import export_participant, write_export

    ctx = state.ctx
    target = sortie or Path(f"export-personne-{participant_id}.zip")
    try:
        with ctx.db.session() as session:
            export = export_participant(ctx, session, cli_actor(), participant_id)
            path = write_export(export, target)
    except DomainError as err:
        _fail(err)
    missing = sum(1 for d in export.documents if d.content is None)
    click.echo(f"Export écrit : {path} ({len(export.documents) - missing} document(s)).")
    if missing:
        click.echo(f"ATTENTION : {missing} document(s) introuvable(s) sur le disque (listés dans le JSON).")


@rgpd_group.command("erase")
@click.argument("participant_id", type=int)
@click.option("--confirm", "confirm", is_flag=True, help="Effacer réellement (sinon : aperçu).")
@click.option("--force", "force_reason", metavar="MOTIF",
              help="Effacer malgré un contrat en cours ; le motif est inscrit au journal.")
@click.pass_obj
def rgpd_erase(state, participant_id: int, confirm: bool, force_reason: str | None) -> None:
    """Efface les données d'une personne à sa demande (droit à l'effacement, art. 17).

    Sans --confirm, affiche seulement ce qui serait effacé. Refusé si la personne a un contrat
    en cours, sauf avec --force "motif". Les heures déclarées restent (obligation de
    l'entreprise), sans aucune identité.

    \b
    Exemple :
      clausebot rgpd erase 12             (aperçu)
      clausebot rgpd erase 12 --confirm
    """
    from clauses.rgpd import erase_participant, erasure_plan

    ctx = state.ctx
    actor = cli_actor()
    if force_reason is not None and not force_reason.strip():
        click.echo("Erreur : --force demande un motif (exemple : --force \"demande écrite du 02/06\").",
                   err=True)
        raise SystemExit(2)
    try:
        with ctx.db.session() as session:
            plan = erasure_plan(ctx, session, actor, participant_id)
        click.echo("Ce qui sera effacé :")
        for line in plan.lines_fr():
            click.echo(f"  {line}")
        if not confirm:
            click.echo("Rien n'a été effacé. Relancez avec --confirm pour effacer.")
            raise SystemExit(1)
        with ctx.db.session() as session:
            result = erase_participant(ctx, session, actor, participant_id,
                                       force_reason=force_reason)
    except DomainError as err:
        _fail(err)
    _remove_mailbox_copies(state)
    click.echo(
        f"Personne n° {participant_id} effacée"
        + (" (fiche supprimée)." if result.row_deleted else " (heures conservées sans identité).")
    )


@rgpd_group.command("fusion")
@click.argument("garder", type=int)
@click.argument("fusionner", type=int)
@click.option("--confirm", "confirm", is_flag=True, help="Fusionner réellement (sinon : comparaison).")
@click.option("--differentes", is_flag=True, help="Noter que ce sont deux personnes différentes.")
@click.pass_obj
def rgpd_merge(state, garder: int, fusionner: int, confirm: bool, differentes: bool) -> None:
    """Compare deux fiches de personnes et les fusionne (une personne, une fiche).

    La fiche GARDER reçoit les candidatures, documents et contrats de la fiche FUSIONNER, qui
    est supprimée : un effacement ultérieur de la personne couvre alors les deux.

    \b
    Exemple :
      clausebot rgpd fusion 12 31            (comparaison)
      clausebot rgpd fusion 12 31 --confirm
      clausebot rgpd fusion 12 31 --differentes
    """
    from clauses.identity import keep_apart, merge_participants, side_by_side

    ctx = state.ctx
    actor = cli_actor()
    try:
        with ctx.db.session() as session:
            lines = side_by_side(session, actor, garder, fusionner)
        for line in lines:
            click.echo(line)
        if differentes:
            with ctx.db.session() as session:
                keep_apart(session, actor, garder, fusionner)
            click.echo("Noté : deux personnes différentes ; rien n'est fusionné.")
            return
        if not confirm:
            click.echo("Rien n'a été fusionné. Relancez avec --confirm pour fusionner, "
                       "ou --differentes s'il s'agit de deux personnes.")
            raise SystemExit(1)
        with ctx.db.session() as session:
            merge_participants(ctx, session, actor, garder, fusionner)
    except DomainError as err:
        _fail(err)
    click.echo(f"Fiches fusionnées : la fiche n° {fusionner} est rattachée à la fiche n° {garder}.")


@rgpd_group.command("matrice")
def rgpd_matrix() -> None:
    """Affiche la matrice des droits (rôle x action -> périmètre) en tableau Markdown.

    \b
    Exemple :
      clausebot rgpd matrice
    """
    from clauses.rgpd import matrix_markdown

    click.echo(matrix_markdown("fr"))


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Montrer ce qui serait purgé, sans rien modifier.")
@click.option("--json", "as_json", is_flag=True, help="Rapport en JSON.")
@click.pass_obj
def purge_command(state, dry_run: bool, as_json: bool) -> None:
    """Applique les durées de conservation (candidats refusés, personnes inactives,
    justificatifs, e-mails bruts).

    \b
    Exemple :
      clausebot purge --dry-run && clausebot purge
    """
    from clauses.retention import run_purge

    ctx = state.ctx
    with ctx.db.session() as session:
        report = run_purge(ctx, session, dry_run=dry_run, actor=cli_actor())
    if not dry_run:
        _remove_mailbox_copies(state, quiet=as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    for line in report.lines_fr():
        click.echo(line)


@click.command("audit")
@click.option("--participant", "participant_id", type=int, help="N° de la personne concernée.")
@click.option("--acteur", help="Qui : n° d'utilisateur ou partie du nom (ex. cli:, Fanny).")
@click.option("--depuis", help="À partir de cette date (JJ/MM/AAAA).")
@click.option("--limite", default=200, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Une entrée JSON par ligne.")
@click.pass_obj
def audit_command(state, participant_id: int | None, acteur: str | None, depuis: str | None,
                  limite: int, as_json: bool) -> None:
    """Journal d'accès aux données personnelles : qui, quand, par quel canal, quoi.

    \b
    Exemple :
      clausebot audit --participant 12 --depuis 01/01/2025
    """
    from clauses.clock import PARIS
    from clauses.rgpd import query_audit

    since = None
    if depuis:
        since = dt.datetime.combine(parse_date_fr(depuis), dt.time(0), tzinfo=PARIS)
    ctx = state.ctx
    try:
        with ctx.db.session() as session:
            rows = query_audit(session, cli_actor(), participant_id=participant_id,
                               actor_filter=acteur, since=since, limit=limite)
            lines = [_audit_line(e, as_json) for e in rows]
    except DomainError as err:
        _fail(err)
    for line in lines:
        click.echo(line)
    if not as_json:
        click.echo(f"{len(lines)} entrée(s)." if lines else "Aucune entrée.")


def _audit_line(entry, as_json: bool) -> str:
    from clauses.clock import PARIS

    if as_json:
        return json.dumps({
            "id": entry.id, "at": entry.at.isoformat(), "actor_user_id": entry.actor_user_id,
            "actor": entry.actor_label, "channel": entry.channel.value, "action": entry.action,
            "subject_type": entry.subject_type, "subject_id": entry.subject_id,
            "detail": entry.detail,
        }, ensure_ascii=False, default=str)
    subject = f"{entry.subject_type} n° {entry.subject_id}" if entry.subject_id else entry.subject_type
    detail = ", ".join(f"{k}={v}" for k, v in sorted((entry.detail or {}).items()))
    return (f"{entry.at.astimezone(PARIS):%d/%m/%Y %H:%M:%S}  {entry.channel.value:<9} "
            f"{entry.actor_label}  {entry.action}  {subject}" + (f"  ({detail})" if detail else ""))


def register(main: click.Group) -> None:
    main.add_command(rgpd_group)
    main.add_command(purge_command)
    main.add_command(audit_command)
