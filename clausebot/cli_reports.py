"""`clausebot bilan` and `clausebot point`: bilans from the command line.

The figures come from :mod:`clauses.bilan` and the files from :mod:`reports`, exactly as the bot
and the scheduler produce them, so a facilitator can check a bilan before it is sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from clausebot.cli_admin_common import CliError, admin_session

FORMATS = ("html", "txt", "xlsx", "pdf", "eml")
DEFAULT_FORMATS = "html,xlsx,pdf"


def parse_date_fr(text: str, option: str) -> dt.date:
    """JJ/MM/AAAA (also J/M/AAAA and AAAA-MM-JJ)."""
    value = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise CliError(f"Date invalide pour {option} : « {text} ». Écrivez-la JJ/MM/AAAA "
                         "(par exemple 24/11/2026).")


def parse_formats(text: str) -> list[str]:
    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise CliError(f"Format inconnu : {', '.join(unknown) or '(vide)'}. "
                             f"Formats possibles : {', '.join(FORMATS)}.")
    return list(dict.fromkeys(wanted))


def _write_atomic(path: Path, data: bytes) -> None:
    """Write next to the target then rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _recipients(session: Session, donneur_id: int | None, fallback: str) -> list[str]:
    from clauses.reminders import donneur_recipients

    if donneur_id is None:
        return [fallback]
    return [r.email for r in donneur_recipients(session, donneur_id) if r.email] or [fallback]


def write_outputs(figures: Any, formats: list[str], out: Path, audience: str, ctx: Any,
                  session: Session) -> list[Path]:
    """Render ``figures`` in each format into ``out``; returns the files written."""
    import reports

    out.mkdir(parents=True, exist_ok=True)
    options = {"small_cell_threshold": ctx.policy.small_cell_threshold,
               "agency_name": ctx.policy.agency_name, "generated_on": ctx.clock.today(),
               "agency": ctx.policy.agency}
    email = reports.render_html(figures, audience, **options)
    stem = email.filename_stem + ("-interne" if audience == "interne" else "")
    written: list[Path] = []
    cache: dict[str, bytes] = {}

    def document(fmt: str) -> bytes:
        if fmt not in cache:
            render = reports.render_xlsx if fmt == "xlsx" else reports.render_pdf
            cache[fmt] = render(figures, audience, **options)
        return cache[fmt]

    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        if fmt == "html":
            data = email.html_with_data_uris().encode("utf-8")
        elif fmt == "txt":
            data = email.text.encode("utf-8")
        elif fmt in ("xlsx", "pdf"):
            data = document(fmt)
        else:  # eml: the ready-to-send message, with the spreadsheet and the PDF attached
            message = reports.build_message(
                email, sender=ctx.policy.agency_email,
                recipients=_recipients(session, figures.donneur_id, ctx.policy.agency_email),
                attachments=[(f"{stem}.xlsx", document("xlsx")), (f"{stem}.pdf", document("pdf"))],
            )
            data = bytes(message)
        _write_atomic(path, data)
        written.append(path)
    return written


_AUDIENCE_HELP = ("« externe » (défaut : document envoyé hors de l'agence, petits effectifs "
                  "masqués) ou « interne » (tous les chiffres).")


def _output_options(command: Callable[..., None]) -> Callable[..., None]:
    """--out and --audience, the same for every bilan command (in this order in the help)."""
    command = click.option("--audience", type=click.Choice(["externe", "interne"]),
                           default="externe", show_default=True, help=_AUDIENCE_HELP)(command)
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                        help="Dossier où écrire les fichiers. Sans --out, affiche le résumé.")(command)


@click.command("bilan")
@click.option("--donneur", help="Nom du donneur d'ordre (une partie du nom suffit si elle est "
              "unique).")
@click.option("--territoire", is_flag=True, help="Bilan de tout le territoire, tous donneurs "
              "d'ordre confondus.")
@click.option("--annee", type=int, help="Année civile du bilan (par défaut : l'année passée).")
@click.option("--du", "start", help="Début de la période JJ/MM/AAAA (au lieu de --annee).")
@click.option("--au", "end", help="Fin de la période JJ/MM/AAAA (avec --du).")
@click.option("--format", "formats", default=DEFAULT_FORMATS, show_default=True,
              help=f"Formats séparés par des virgules parmi : {', '.join(FORMATS)}.")
@_output_options
@click.pass_obj
def bilan_command(state: Any, donneur: str | None, territoire: bool, annee: int | None,
                  start: str | None, end: str | None, formats: str, out: Path | None,
                  audience: str) -> None:
    """Bilan annuel d'un donneur d'ordre (ou du territoire) : heures, contrats, personnes,
    typologie, sorties, entreprises.

    \b
    Exemples :
      clausebot bilan --donneur "Ville d'Oullins" --annee 2025 --format html,xlsx,pdf --out bilans/
      clausebot bilan --territoire --du 01/01/2025 --au 30/06/2025
    """
    from clauses.bilan import annual_figures, find_donneur, territory_figures

    if bool(donneur) == territoire:
        raise CliError("Indiquez soit --donneur NOM, soit --territoire.")
    if annee is not None and (start or end):
        raise CliError("Indiquez soit --annee, soit --du et --au, pas les deux.")
    if bool(start) != bool(end):
        raise CliError("Indiquez --du et --au ensemble (JJ/MM/AAAA).")
    wanted = parse_formats(formats) if out else []
    with admin_session(state) as session:
        ctx = state.ctx
        if start and end:
            first, last = parse_date_fr(start, "--du"), parse_date_fr(end, "--au")
        else:
            year = annee if annee is not None else ctx.clock.today().year - 1
            if not 1900 <= year <= 2200:
                raise CliError(f"Année invalide : {year}.")
            first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        if territoire:
            figures = territory_figures(session, first, last, ctx.rulebook,
                                        today=ctx.clock.today())
        else:
            found = find_donneur(session, donneur or "")
            figures = annual_figures(session, found.id, first, last, ctx.rulebook,
                                     today=ctx.clock.today())
        _emit(figures, wanted, out, audience, ctx, session)


@click.command("point")
@click.option("--marche", required=True, help="Référence du marché (ex. 2025-017).")
@click.option("--date", "at", help="Date du point JJ/MM/AAAA (par défaut : aujourd'hui). À la "
              "fin du marché, c'est le bilan final synthétique.")
@click.option("--format", "formats", default=DEFAULT_FORMATS, show_default=True,
              help=f"Formats (avec --out) parmi : {', '.join(FORMATS)}.")
@_output_options
@click.pass_obj
def point_command(state: Any, marche: str, at: str | None, formats: str, out: Path | None,
                  audience: str) -> None:
    """Point d'étape d'un marché à une date (ou bilan final synthétique à sa clôture).

    \b
    Exemples :
      clausebot point --marche 2025-017
      clausebot point --marche 2025-017 --date 30/06/2025 --out bilans/
    """
    from clauses.bilan import find_market, market_figures

    wanted = parse_formats(formats) if out else []
    with admin_session(state) as session:
        ctx = state.ctx
        day = parse_date_fr(at, "--date") if at else ctx.clock.today()
        market = find_market(session, marche)
        figures = market_figures(session, market.id, day, ctx.rulebook)
        _emit(figures, wanted, out, audience, ctx, session)


def _emit(figures: Any, formats: list[str], out: Path | None, audience: str, ctx: Any,
          session: Session) -> None:
    from reports import render_chat

    if out is None:
        click.echo(render_chat(figures, audience,
                               small_cell_threshold=ctx.policy.small_cell_threshold))
        return
    for path in write_outputs(figures, formats, out, audience, ctx, session):
        click.echo(f"Écrit : {path}")


def register(main: click.Group) -> None:
    main.add_command(bilan_command)
    main.add_command(point_command)
