"""`clausebot db ...` and `clausebot config check`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click

from clausebot.settings import SECRET_FIELDS


@click.group("db")
def db_group() -> None:
    """Base de données : création et migrations.

    \b
    Exemple :
      clausebot db upgrade
    """


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Révision cible.")
@click.pass_obj
def db_upgrade(state, revision: str) -> None:
    """Crée la base ou la met à jour vers la dernière version du schéma.

    \b
    Exemple :
      clausebot db upgrade
    """
    from storage import migrate
    from storage.db import Database

    db = Database(state.settings.effective_database_url)
    migrate.upgrade(db, revision)
    click.echo(f"Base à jour (révision {migrate.current_revision(db)}).")
    db.dispose()


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(state, revision: str) -> None:
    """Revient à une révision antérieure du schéma (« base » pour tout supprimer).

    \b
    Exemple :
      clausebot db downgrade base
    """
    from storage import migrate
    from storage.db import Database

    db = Database(state.settings.effective_database_url)
    migrate.downgrade(db, revision)
    click.echo(f"Base ramenée à la révision {migrate.current_revision(db) or 'base'}.")
    db.dispose()


@db_group.command("current")
@click.pass_obj
def db_current(state) -> None:
    """Affiche la révision du schéma de la base.

    \b
    Exemple :
      clausebot db current
    """
    from storage import migrate
    from storage.db import Database

    db = Database(state.settings.effective_database_url)
    click.echo(f"Révision : {migrate.current_revision(db) or 'aucune'} (dernière : {migrate.head_revision()})")
    db.dispose()


@click.group("config")
def config_group() -> None:
    """Configuration.

    \b
    Exemple :
      clausebot config check
    """


def _redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@config_group.command("check")
@click.pass_obj
def config_check(state) -> None:
    """Affiche ce qui est configuré et ce qui manque, sans jamais afficher un secret.

    \b
    Exemple :
      CLAUSEBOT_DATA_DIR=/srv/clausebot clausebot config check
    """
    s = state.settings
    ok = True
    click.echo(f"Répertoire de données : {s.data_dir.resolve()}")
    click.echo(f"Base de données       : {_redacted_url(s.effective_database_url)}")
    click.echo(f"Règlement (rulebook)  : {s.rulebook}")
    click.echo(f"Chat                  : {'Telegram' if s.chat_backend == 'telegram' else 'console (pas de jeton Telegram)'}")
    click.echo(f"Courrier entrant      : {'IMAP ' + str(s.imap_host) if s.mail_in_backend == 'imap' else 'Maildir ' + str(s.maildir_in)}")
    click.echo(f"Courrier sortant      : {'SMTP ' + str(s.smtp_host) if s.mail_out_backend == 'smtp' else 'Maildir ' + str(s.maildir_out)}")
    for name in SECRET_FIELDS:
        value = getattr(s, name)
        click.echo(f"Secret {name:<15}: {'défini' if value else 'absent'}")
    if s.imap_host and not s.imap_password:
        ok = False
        click.echo("MANQUANT : CLAUSEBOT_IMAP_PASSWORD (ou CLAUSEBOT_IMAP_PASSWORD_FILE) pour l'IMAP.")
    if s.imap_host and not s.imap_username:
        ok = False
        click.echo("MANQUANT : CLAUSEBOT_IMAP_USERNAME pour l'IMAP.")
    if s.smtp_username and not s.smtp_password:
        ok = False
        click.echo("MANQUANT : CLAUSEBOT_SMTP_PASSWORD (ou CLAUSEBOT_SMTP_PASSWORD_FILE) pour le SMTP.")
    for name in SECRET_FIELDS:
        path = os.environ.get(f"CLAUSEBOT_{name.upper()}_FILE")
        if path and Path(path).exists():
            mode = Path(path).stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                ok = False
                click.echo(f"ATTENTION : le fichier secret {path} est lisible par d'autres "
                           f"utilisateurs (droits {oct(mode & 0o777)}). Faites : chmod 600 {path}")
    try:
        from clauses.rulebook import load_rulebook

        load_rulebook(s.rulebook)
    except Exception as exc:  # a broken rulebook must be reported, not crash the check
        ok = False
        click.echo(f"ERREUR règlement : {exc}")
    click.echo("Configuration complète." if ok else "Configuration incomplète : voir ci-dessus.")
    if not ok:
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(db_group)
    main.add_command(config_group)
