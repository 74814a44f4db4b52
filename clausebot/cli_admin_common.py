"""Shared plumbing of the admin commands: sessions, French errors, lookups and tables.

Kept apart from the command modules so that each area (territory, import, access) stays small
and they do not import each other.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.errors import DomainError
from clauses.importing import LineError
from clauses.listings import (
    companies_named,
    company_by_siret,
    donneur_named,
    facilitator_by_email,
    market_by_reference,
)
from clauses.siret import InvalidSiretError, looks_like_siret, normalize_siret
from storage.models import Channel, Company, Donneur, Market, Role, User


class CliError(click.ClickException):
    """A refusal printed in French ("Erreur : ...") on stderr, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", err=True, file=file)


def cli_actor() -> Actor:
    """Who runs the command, for the audit log: the operating-system account on the CLI."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "?"
    return Actor(role=Role.ADMIN, channel=Channel.CLI, label=f"cli:{user}")


@contextlib.contextmanager
def admin_session(state: Any) -> Iterator[Session]:
    """One transaction for one command; domain refusals become French CLI errors.

    The engine is disposed when the command ends, so repeated invocations (tests, scripts) do
    not pile up PostgreSQL connections.
    """
    try:
        ctx = state.ctx
    except DomainError as exc:
        raise CliError(exc.message_fr) from exc
    click.get_current_context().call_on_close(ctx.db.dispose)
    try:
        with ctx.db.session() as session:
            yield session
    except DomainError as exc:
        raise CliError(exc.message_fr) from exc
    except IntegrityError as exc:
        # Only a concurrent writer can get here: every create command checks its keys first.
        raise CliError("Conflit avec une autre opération en cours (doublon) : rien n'a été "
                       "écrit. Relancez la commande.") from exc
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        if "no such table" in text or "does not exist" in text:
            raise CliError("La base de données n'est pas initialisée : lancez "
                           "« clausebot db upgrade ».") from exc
        raise


def format_errors(errors: Sequence[LineError], options: Mapping[str, str] | None = None) -> str:
    """Import errors as lines; with ``options``, column names become the command's options."""
    out = []
    for err in errors:
        if options is not None and err.line is None:
            where = options.get(err.column or "", err.column or "")
            out.append(f"{where} : {err.message}" if where else err.message)
        else:
            out.append(str(err))
    return "\n".join(out)


# --- lookups --------------------------------------------------------------------------------


def find_donneur(session: Session, name: str) -> Donneur | None:
    return donneur_named(session, name)


def require_donneur(session: Session, name: str) -> Donneur:
    donneur = find_donneur(session, name)
    if donneur is None:
        raise CliError(f"Donneur d'ordre inconnu « {name} ». Voyez « clausebot donneur list » "
                       "ou créez-le avec « clausebot donneur create ».")
    return donneur


def require_market(session: Session, reference: str) -> Market:
    market = market_by_reference(session, reference)
    if market is None:
        raise CliError(f"Marché inconnu « {reference} ». Voyez « clausebot marche list ».")
    return market


def require_company(session: Session, text: str) -> Company:
    """A company from its SIRET (spaces allowed) or its exact name (case and accents ignored)."""
    if looks_like_siret(text):
        try:
            siret = normalize_siret(text)
        except InvalidSiretError as exc:
            raise CliError(exc.message_fr) from exc
        company = company_by_siret(session, siret)
        if company is None:
            raise CliError(f"Aucune entreprise avec le SIRET {siret}. Créez-la avec "
                           "« clausebot entreprise create ».")
        return company
    matches = companies_named(session, text)
    if not matches:
        raise CliError(f"Entreprise inconnue « {text} ». Donnez son SIRET ou son nom exact "
                       "(voir « clausebot entreprise list »).")
    if len(matches) > 1:
        sirets = ", ".join(c.siret for c in matches)
        raise CliError(f"Plusieurs entreprises s'appellent « {text} » : précisez le SIRET "
                       f"({sirets}).")
    return matches[0]


def require_facilitator(session: Session, email: str) -> User:
    user = facilitator_by_email(session, email)
    if user is None:
        raise CliError(f"Aucun·e facilitateur·rice avec l'e-mail « {email} ». Voyez "
                       "« clausebot facilitateur list ».")
    return user


# --- output ------------------------------------------------------------------------------------


def file_loader(command: Callable[..., None]) -> Callable[..., None]:
    """FICHIER and --dry-run, the same contract for every file loader (import, historique,
    registres): the whole file is checked first and --dry-run writes nothing."""
    command = click.option("--dry-run", is_flag=True,
                           help="Vérifie tout le fichier et affiche ce qui serait fait, sans "
                           "rien écrire.")(command)
    return click.argument("fichier", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path))(command)


def read_file_at_most(path: Path, max_bytes: int, hint: str = "") -> bytes:
    """The file's bytes; refused in French, before reading, when larger than ``max_bytes``."""
    size = path.stat().st_size
    if size > max_bytes:
        shown = f"{size // (1024 * 1024)} Mio" if size >= 1024 * 1024 else f"{size // 1024} Kio"
        raise CliError(f"Fichier trop gros ({shown}) : {max_bytes // (1024 * 1024)} Mio au "
                       f"plus{hint}.")
    return path.read_bytes()


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
               empty: str = "Aucun résultat.", indent: str = "") -> None:
    """Plain aligned columns: readable in a terminal and in a pasted e-mail alike."""
    if not rows:
        click.echo(indent + empty)
        return
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(headers[i]), *(len(r[i]) for r in cells)) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(indent + line.rstrip())
    click.echo(indent + "  ".join("-" * w for w in widths))
    for row in cells:
        click.echo(indent + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
