"""`clausebot run`, `clausebot demo` and `clausebot status`."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--si-vide", "only_if_empty", is_flag=True,
              help="Ne rien faire si la base contient déjà des données.")
@click.pass_obj
def demo(state, only_if_empty: bool) -> None:
    """Crée un territoire de démonstration (ville, marchés, entreprises, déclarations, relance).

    \b
    Exemple :
      clausebot db upgrade && clausebot demo
    """
    from clauses.demo import seed_demo
    from storage import migrate

    ctx = state.ctx
    migrate.upgrade(ctx.db)
    with ctx.db.session() as session:
        result = seed_demo(ctx, session, only_if_empty=only_if_empty)
    for line in result.summary:
        click.echo(line)
    if result.invitations:
        click.echo("Codes d'invitation (à taper dans le chat : /start CODE) :")
        labels = {"facilitatrice": "facilitatrice (Fanny Martin)",
                  "entreprise": "entreprise (BTP Rhône)", "referent": "référente (Ville d'Oullins)"}
        for key, code in result.invitations.items():
            click.echo(f"  {labels.get(key, key):<32} /start {code}")


@click.command("status")
@click.pass_obj
def status(state) -> None:
    """État du service : dernière relève du courrier, file d'envoi, prochaines tâches, erreurs.

    \b
    Exemple :
      clausebot status
    """
    from clausebot.status import collect_status, format_status

    click.echo(format_status(collect_status(state.ctx)))


@click.command("run")
@click.pass_obj
def run(state) -> None:
    """Démarre le service : chat, relève du courrier, envois, tâches planifiées.

    Sans jeton Telegram, le chat est la console ; sans IMAP/SMTP, le courrier passe par les
    dossiers Maildir du répertoire de données. Arrêt propre par Ctrl-C ou SIGTERM.

    \b
    Exemple :
      CLAUSEBOT_DATA_DIR=./data clausebot run
    """
    from clausebot.service import main as service_main

    raise SystemExit(service_main(state.settings))


def register(main: click.Group) -> None:
    main.add_command(demo)
    main.add_command(status)
    main.add_command(run)
