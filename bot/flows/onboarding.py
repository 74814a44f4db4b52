"""Onboarding: an invitation code links a chat account to a role and a scope; unlinking.

A stranger learns only how to get an invitation: not whether a company, a code or a person
exists. Refusals of a code come from the domain (`InvitationRefused.message_fr`), worded the
same for every cause that could reveal something.
"""

from __future__ import annotations

import logging
import re

from bot import texts
from bot.turn import Turn
from clauses import audit, directory, invitation_throttle
from clauses.actors import Actor
from clauses.invitations import InvitationRefused, redeem_invitation, unlink_user
from storage.models import Role, User

log = logging.getLogger(__name__)

_CODE_SHAPE = re.compile(r"^[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}[\s-]?[A-Za-z0-9]{4}$")


def looks_like_code(text: str) -> bool:
    return bool(_CODE_SHAPE.match(text.strip()))


def stranger(t: Turn, text: str | None) -> None:
    """Anyone without a linked account: redeem a code, or get the polite refusal."""
    if t.is_callback:
        t.notify("Ce compte n'est pas relié à clausebot.")
        t.say(texts.STRANGER)
        return
    code = None
    if text:
        if text.startswith("/start"):
            parts = text.split(maxsplit=1)
            code = parts[1].strip() if len(parts) > 1 else None
        elif looks_like_code(text):
            code = text
    if not code:
        t.say(texts.STRANGER)
        return
    inc = t.incoming
    if invitation_throttle.is_blocked(t.session, t.ctx.clock, inc.user_id):
        t.say(invitation_throttle.BLOCKED_FR)
        return
    try:
        with t.session.begin_nested():
            redeemed = redeem_invitation(
                t.session, t.ctx.clock, code, telegram_user_id=inc.user_id, chat_id=inc.chat_id
            )
    except InvitationRefused as refused:
        failures = invitation_throttle.record_failure(t.session, t.ctx.clock, inc.user_id)
        if failures >= invitation_throttle.MAX_FAILURES:
            log.warning("invitation codes blocked for a chat account after %d failures", failures)
        t.say(refused.message_fr)
        return
    invitation_throttle.clear(t.session, inc.user_id)
    user = redeemed.user
    audit.record(t.session, Actor.from_user(user, inc.channel), "chat.linked", "user", user.id)
    t.say(welcome(t, user))


def welcome(t: Turn, user: User) -> str:
    org = _organisation(t, user)
    role = texts.ROLE_LABELS.get(user.role, str(user.role))
    where = f" pour {org}" if org else ""
    return (
        f"Bienvenue, {user.display_name} ! Votre compte est relié à clausebot "
        f"({role}{where}).\n\n{texts.HELP.get(user.role, texts.HELP_COMMON)}"
    )


def _organisation(t: Turn, user: User) -> str | None:
    """The organisation the role acts for (a company user's company, a référent's donneur...)."""
    return directory.organisation_name(
        t.session,
        company_id=user.company_id if user.role == Role.ENTREPRISE else None,
        donneur_id=user.donneur_id if user.role == Role.REFERENT else None,
        prescriber_id=user.prescriber_id if user.role == Role.PRESCRIPTEUR else None,
    )


def cmd_start(t: Turn, args: str) -> None:
    """/start from a linked account: a second code is refused (one role per account)."""
    if args.strip():
        t.say(
            "Votre compte est déjà relié à clausebot. Pour changer de rôle, demandez à votre "
            "facilitateur·rice de retirer le lien actuel, ou tapez /deconnexion."
        )
        return
    assert t.user is not None
    t.say(welcome(t, t.user))


def cmd_deconnexion(t: Turn, args: str) -> None:
    t.say(
        "Voulez-vous retirer le lien entre ce compte et clausebot ? Vous n'aurez plus accès à "
        "aucune donnée par ce chat ; une nouvelle invitation sera nécessaire.",
        [[("Oui, retirer le lien", "u:off"), ("Non", "u:keep")]],
    )


def on_callback(t: Turn, parts: list[str]) -> None:
    t.clear_source_keyboard = True
    if parts == ["off"]:
        user = t.user
        assert user is not None
        audit.record(t.session, t.need_actor(), "chat.unlinked", "user", user.id)
        unlink_user(t.session, user.id)
        t.conv.end()
        t.say("Le lien est retiré. Au revoir !")
    elif parts == ["keep"]:
        t.say("D'accord, rien n'est changé.")
    else:
        t.notify(texts.BAD_BUTTON)
