"""`clausebot invitation ...` (chat access codes) and `clausebot alertes` (what to look at)."""

from __future__ import annotations

from typing import Any

import click

from clausebot.cli_admin_common import (
    CliError,
    admin_session,
    cli_actor,
    echo_table,
    require_company,
    require_donneur,
    require_facilitator,
)
from clauses import audit
from clauses.alert_digest import KIND_FR
from clauses.formatting import fr_date
from clauses.invitations import issue_invitation, revoke_invitation
from clauses.listings import alert_rows, invitation_rows
from storage.models import (
    Invitation,
    Role,
)

ROLE_FR = {
    Role.ADMIN: "administrateur·rice",
    Role.FACILITATEUR: "facilitateur·rice",
    Role.ENTREPRISE: "entreprise",
    Role.REFERENT: "référent·e donneur d'ordre",
    Role.PRESCRIPTEUR: "prescripteur",
}

def _bot_username(state: Any, option: str | None) -> str | None:
    """The bot's @username for deep links: --bot, else the configuration if it has one."""
    name = option or getattr(state.settings, "telegram_bot_username", None)
    return name.strip().lstrip("@") if name else None


@click.group("invitation")
def invitation_group() -> None:
    """Codes d'invitation : relient un compte Telegram à un rôle et un périmètre.

    \b
    Exemple :
      clausebot invitation create --role entreprise --entreprise "821 953 452 00413"
    """


@invitation_group.command("create")
@click.option("--role", required=True,
              type=click.Choice([r.value for r in Role], case_sensitive=False),
              help="Rôle donné par le code.")
@click.option("--entreprise", help="Pour --role entreprise : SIRET ou nom exact.")
@click.option("--donneur", help="Pour --role referent : nom du donneur d'ordre.")
@click.option("--prescripteur", help="Pour --role prescripteur : nom du prescripteur.")
@click.option("--facilitateur", help="Pour --role facilitateur : e-mail du compte existant.")
@click.option("--nom", help="Nom affiché de la personne invitée (par défaut : l'organisation).")
@click.option("--email", help="E-mail de la personne invitée (facultatif).")
@click.option("--jours", default=14, show_default=True, type=click.IntRange(1, 90),
              help="Durée de validité du code, en jours.")
@click.option("--bot", help="Nom du bot Telegram (@...) pour afficher le lien direct.")
@click.pass_obj
def invitation_create(state: Any, role: str, entreprise: str | None, donneur: str | None,
                      prescripteur: str | None, facilitateur: str | None, nom: str | None,
                      email: str | None, jours: int, bot: str | None) -> None:
    """Crée un code d'invitation à usage unique ; il n'est affiché qu'une fois.

    \b
    Exemple :
      clausebot invitation create --role entreprise --entreprise "821 953 452 00413" --jours 14
      clausebot invitation create --role referent --donneur "Ville d'Oullins" --nom "J. Rey"
    """
    role_enum = Role(role.lower())
    with admin_session(state) as s:
        scope: dict[str, int | None] = {}
        label = nom
        if role_enum == Role.ENTREPRISE:
            if not entreprise:
                raise CliError("--entreprise est requis pour une invitation « entreprise » "
                               "(SIRET ou nom exact).")
            company = require_company(s, entreprise)
            scope["company_id"] = company.id
            label = label or company.name
        elif role_enum == Role.REFERENT:
            if not donneur:
                raise CliError("--donneur est requis pour une invitation « referent ».")
            found = require_donneur(s, donneur)
            scope["donneur_id"] = found.id
            label = label or f"Référent·e {found.name}"
        elif role_enum == Role.PRESCRIPTEUR:
            if not prescripteur:
                raise CliError("--prescripteur est requis pour une invitation « prescripteur ».")
            from clauses.registries import find_prescriber

            found_p = find_prescriber(s, prescripteur)  # close names suggested when unknown
            if not found_p.active:
                raise CliError(f"Le prescripteur « {found_p.name} » est désactivé.")
            scope["prescriber_id"] = found_p.id
            label = label or found_p.name
        elif role_enum == Role.FACILITATEUR and facilitateur:
            user = require_facilitator(s, facilitateur)
            scope["facilitator_user_id"] = user.id
            label = label or user.display_name
            email = email or user.email
        if not label:
            raise CliError("--nom est requis pour ce rôle (nom de la personne invitée).")
        code, invitation = issue_invitation(
            s, state.ctx.clock, role=role_enum, display_name=label[:200], email=email,
            valid_days=jours, **scope)
        audit.record(s, cli_actor(), "invitation_creee", "invitation", invitation.id,
                     role=role_enum.value)
        expires = invitation.expires_at.astimezone(state.ctx.clock.tz)
    click.echo(f"Invitation n° {invitation.id} ({ROLE_FR[role_enum]}, {label}), valable "
               f"jusqu'au {fr_date(expires.date())} à {expires:%H:%M}.")
    click.echo(f"Code (affiché une seule fois) : {code}")
    username = _bot_username(state, bot)
    if username:
        click.echo(f"Lien direct : https://t.me/{username}?start={code}")
    else:
        click.echo(f"Dans Telegram, envoyer au bot : /start {code}")


def _status(inv: Invitation, now: Any) -> str:
    if inv.revoked_at is not None:
        return "révoquée"
    if inv.used_at is not None:
        return f"utilisée le {fr_date(inv.used_at.date())}"
    if inv.expires_at <= now:
        return "expirée"
    return "active"


@invitation_group.command("list")
@click.option("--actives", is_flag=True, help="Seulement les invitations encore utilisables.")
@click.pass_obj
def invitation_list(state: Any, actives: bool) -> None:
    """Liste les invitations (les codes eux-mêmes ne sont jamais conservés).

    \b
    Exemple :
      clausebot invitation list --actives
    """
    with admin_session(state) as s:
        now = state.ctx.clock.now()
        rows = invitation_rows(s)
        if actives:
            rows = [r for r in rows if _status(r[0], now) == "active"]
        tz = state.ctx.clock.tz
        echo_table(["N°", "Rôle", "Nom", "Périmètre", "Créée le", "Expire le", "État"],
                   [(inv.id, inv.role.value, inv.display_name, c or d or p or "",
                     fr_date(inv.created_at.astimezone(tz).date()),
                     fr_date(inv.expires_at.astimezone(tz).date()), _status(inv, now))
                    for inv, c, d, p in rows],
                   empty="Aucune invitation.")


@invitation_group.command("revoke")
@click.argument("invitation_id", type=int)
@click.pass_obj
def invitation_revoke(state: Any, invitation_id: int) -> None:
    """Révoque une invitation : son code ne pourra plus être utilisé.

    \b
    Exemple :
      clausebot invitation revoke 12
    """
    with admin_session(state) as s:
        invitation = revoke_invitation(s, state.ctx.clock, invitation_id)
        audit.record(s, cli_actor(), "invitation_revoquee", "invitation", invitation.id)
        used = invitation.used_at is not None
    click.echo(f"Invitation n° {invitation_id} révoquée.")
    if used:
        click.echo("Elle avait déjà été utilisée : pour couper l'accès de la personne, "
                   "retirez aussi son lien au chat.")


@click.command("alertes")
@click.option("--toutes", is_flag=True, help="Aussi les alertes déjà traitées.")
@click.option("--facilitateur", help="Seulement les alertes de ce ou cette facilitateur·rice "
              "(e-mail).")
@click.option("--limite", default=100, show_default=True, type=click.IntRange(1, 10000),
              help="Nombre maximum d'alertes affichées (les plus récentes).")
@click.pass_obj
def alertes(state: Any, toutes: bool, facilitateur: str | None, limite: int) -> None:
    """Liste les alertes à traiter (ou toutes avec --toutes), les plus récentes d'abord.

    \b
    Exemple :
      clausebot alertes
      clausebot alertes --toutes --facilitateur fanny.morel@agence.example
    """
    with admin_session(state) as s:
        rows = alert_rows(
            s, limit=limite, include_handled=toutes,
            facilitator_id=require_facilitator(s, facilitateur).id if facilitateur else None)
        tz = state.ctx.clock.tz
        echo_table(
            ["N°", "Date", "Type", "Facilitateur·rice", "État", "Message"],
            [(a.id, a.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
              KIND_FR.get(a.kind, a.kind.value), name or "(tous)",
              "à traiter" if a.handled_at is None
              else f"traitée {a.handled_at.astimezone(tz):%d/%m/%Y}",
              " ".join(a.message.split())[:120]) for a, name in rows],
            empty="Aucune alerte à traiter." if not toutes else "Aucune alerte.")


def register(main: click.Group) -> None:
    main.add_command(invitation_group)
    main.add_command(alertes)
