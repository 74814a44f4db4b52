"""`clausebot jobs`: the scheduled jobs, their next runs, a one-off run (or dry run), and the
scheduler alone (`clausebot jobs serve`, under the instance lock)."""

from __future__ import annotations

import asyncio
import datetime as dt

import click

from clausebot.cli_admin_common import CliError, admin_session, cli_actor
from clauses.clock import PARIS, FixedClock
from clauses.formatting import fr_date

EXIT_BUSY = 75  # EX_TEMPFAIL: another instance holds the lock; try again later

CHANNEL_FR = {"email": "e-mail", "chat": "chat", "alerte": "alerte"}


def _when(at: dt.datetime | None) -> str:
    if at is None:
        return "—"
    local = at.astimezone(PARIS)
    return f"{fr_date(local.date())} {local:%H:%M}"


@click.group("jobs", invoke_without_command=True)
@click.pass_context
def jobs(click_ctx: click.Context) -> None:
    """Tâches planifiées : liste et prochaines exécutions, exécution ponctuelle, planificateur.

    \b
    Exemples :
      clausebot jobs
      clausebot jobs run declaration_reminders --dry-run
      clausebot jobs run meetings --dry-run --date 2025-06-05
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from scheduler.jobs import JOBS, last_runs, next_runs

    state = click_ctx.obj
    ctx = state.ctx
    click_ctx.call_on_close(ctx.db.dispose)
    nexts = dict(next_runs(ctx))
    try:
        lasts = last_runs(ctx)
    except Exception:  # a database not initialised yet still lists the jobs
        lasts = {}
    click.echo("Tâches planifiées (fuseau Europe/Paris) :")
    for spec in JOBS:
        click.echo(f"  {spec.id:<22} prochaine : {_when(nexts.get(spec.id)):<17} "
                   f"dernière : {_when(lasts.get(spec.id))}")
        click.echo(f"  {'':<22} {spec.title_fr}")


@jobs.command("run")
@click.argument("name")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Montrer ce qui serait envoyé et à qui, sans rien envoyer ni enregistrer.")
@click.option("--date", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Avec --dry-run : simuler l'exécution à cette date (AAAA-MM-JJ, 10 h).")
@click.pass_obj
def run(state, name: str, dry_run: bool, as_of: dt.datetime | None) -> None:
    """Exécute une tâche une fois maintenant (ou la simule avec --dry-run).

    \b
    Exemples :
      clausebot jobs run declaration_reminders --dry-run
      clausebot jobs run annual_bilans
    """
    from scheduler.jobs import BY_ID, run_job, with_clock

    if name not in BY_ID:
        raise CliError(f"Tâche inconnue : « {name} ». Tâches possibles : {', '.join(BY_ID)}.")
    if as_of is not None and not dry_run:
        raise CliError("--date ne s'utilise qu'avec --dry-run (une vraie exécution se fait à "
                       "la date du jour).")
    ctx = state.ctx
    click.get_current_context().call_on_close(ctx.db.dispose)
    if as_of is not None:
        ctx = with_clock(ctx, FixedClock(dt.datetime.combine(as_of.date(), dt.time(10, 0),
                                                             tzinfo=PARIS)))
    if name == "outbox" and not dry_run:
        _flush(state, ctx)
        return
    result = run_job(ctx, name, dry_run=dry_run)
    day = fr_date(result.day)
    if dry_run:
        click.echo(f"Simulation au {day} (rien n'est envoyé ni enregistré) :")
    else:
        click.echo(f"Exécution au {day} :")
    if not result.planned:
        click.echo("  rien à envoyer.")
    for p in result.planned:
        click.echo(f"  {CHANNEL_FR.get(p.channel, p.channel):<7} → {p.to} : {p.subject}")
    click.echo(result.summary_fr())
    for error in result.errors:
        click.echo(f"Erreur : {error}", err=True)
    if result.errors:
        raise SystemExit(1)


def _flush(state, ctx) -> None:
    """Deliver the outbox now with the senders the wiring provides, if it provides them."""
    from clausebot import wiring

    build = getattr(wiring, "outbox_flushers", None)
    if build is None:
        raise CliError("L'envoi de la file est assuré par le service (clausebot run) ; "
                       "utilisez --dry-run pour voir ce qui attend.")
    flushers = build(state.settings, ctx)

    async def flush_all() -> None:
        for flusher in flushers:
            await flusher()

    asyncio.run(flush_all())
    click.echo("File d'envoi traitée.")


@jobs.command("serve")
@click.option("--wait", "wait", is_flag=True,
              help="Si une autre instance tourne, attendre qu'elle s'arrête au lieu de quitter.")
@click.option("--run-now", "run_now", is_flag=True,
              help="Exécuter tout de suite chaque tâche quotidienne (rattrapage).")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="S'arrêter après ce nombre de secondes (tests, scripts).")
@click.pass_obj
def serve(state, wait: bool, run_now: bool, duration: float | None) -> None:
    """Démarre le planificateur seul (sans chat ni relève du courrier), sous le verrou
    d'instance : une seule instance de clausebot par base de données.

    \b
    Exemple :
      clausebot jobs serve --wait
    """
    from sqlalchemy.exc import OperationalError

    from scheduler.service import serve as serve_scheduler
    from storage.instance_lock import InstanceBusy, InstanceLock

    ctx = state.ctx
    lock = InstanceLock(ctx.db.url)
    try:
        lock.acquire(wait=wait, on_wait=lambda msg: click.echo(msg, err=True))
    except InstanceBusy as exc:
        click.echo(f"Erreur : {exc.message_fr}", err=True)
        lock.dispose()
        ctx.db.dispose()
        raise SystemExit(EXIT_BUSY) from None
    except (OperationalError, OSError) as exc:
        lock.dispose()
        ctx.db.dispose()
        raise CliError(f"Base de données injoignable ({type(exc).__name__}) : vérifiez "
                       "CLAUSEBOT_DATABASE_URL et que le serveur tourne.") from exc
    try:
        status = asyncio.run(serve_scheduler(ctx, lock_check=lock.check, run_now=run_now,
                                             duration=duration,
                                             say=lambda msg: click.echo(msg)))
    finally:
        lock.dispose()
        ctx.db.dispose()
    raise SystemExit(status)


@jobs.command("approve-bilan")
@click.argument("donneur_id", type=int)
@click.argument("year", type=int)
@click.pass_obj
def approve_bilan(state, donneur_id: int, year: int) -> None:
    """Approuve l'envoi du bilan annuel d'un donneur d'ordre (comme le bouton de l'alerte) :
    il part au prochain passage de la tâche annual_bilans.

    \b
    Exemple :
      clausebot jobs approve-bilan 3 2025
    """
    from clauses.reminders import approve_annual_bilan

    with admin_session(state) as session:
        created = approve_annual_bilan(state.ctx, session, cli_actor(), donneur_id, year)
    click.echo(f"Bilan annuel {year} approuvé : il part au prochain passage de la tâche "
               "annual_bilans." if created else f"Bilan annuel {year} déjà approuvé.")


def register(main: click.Group) -> None:
    main.add_command(jobs)
