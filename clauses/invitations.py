"""Invitation codes: how a chat account gets a role and a scope.

Codes are random, short enough to type, single use, expiring and revocable. Only their SHA-256
is stored. Every refusal says how to get a valid invitation and nothing about whether some
other code or organisation exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.clock import Clock
from clauses.errors import DomainError
from clauses.importing.values import ValueProblem, parse_email
from storage.models import ChatLink, Invitation, Role, User

_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: codes are read aloud and typed


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


class InvitationRefused(DomainError):
    """The code cannot be used; the message is deliberately the same shape for every cause."""


_HOW_TO = "Demandez une nouvelle invitation à votre facilitateur·rice clauses sociales."
REFUSED = (f"Ce code d'invitation n'est pas valide (inconnu, déjà utilisé ou expiré). {_HOW_TO}")
"""One refusal for every cause: telling « already used » from « unknown » would confirm to
whoever holds a leaked code that it was real. The facilitator sees the cause in
`clausebot invitation list`."""


@dataclass(frozen=True)
class Redeemed:
    user: User
    created: bool


def issue_invitation(
    session: Session,
    clock: Clock,
    *,
    role: Role,
    display_name: str,
    company_id: int | None = None,
    donneur_id: int | None = None,
    prescriber_id: int | None = None,
    facilitator_user_id: int | None = None,
    email: str | None = None,
    valid_days: int = 14,
    created_by_id: int | None = None,
) -> tuple[str, Invitation]:
    """Return the clear code (shown once) and the stored invitation."""
    if role == Role.ENTREPRISE and company_id is None:
        raise DomainError("Une invitation « entreprise » doit désigner l'entreprise.")
    if role == Role.REFERENT and donneur_id is None:
        raise DomainError("Une invitation « référent » doit désigner le donneur d'ordre.")
    if role == Role.PRESCRIPTEUR and prescriber_id is None:
        raise DomainError("Une invitation « prescripteur » doit désigner le prescripteur.")
    if email:
        # Stored lower-cased like every other address, so that the e-mail channel, which
        # looks addresses up by equality on the index, recognises the person it creates.
        try:
            email = parse_email(email)
        except ValueProblem as exc:
            raise DomainError(f"Invitation : {exc}") from exc
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    now = clock.now()
    inv = Invitation(
        code_hash=_hash(code),
        role=role,
        display_name=display_name,
        email=email,
        company_id=company_id,
        donneur_id=donneur_id,
        prescriber_id=prescriber_id,
        user_id=facilitator_user_id,
        created_by_id=created_by_id,
        created_at=now,
        expires_at=now + dt.timedelta(days=valid_days),
    )
    session.add(inv)
    session.flush()
    return code, inv


def revoke_invitation(session: Session, clock: Clock, invitation_id: int) -> Invitation:
    inv = session.get(Invitation, invitation_id)
    if inv is None:
        raise DomainError(f"Aucune invitation n° {invitation_id}.")
    if inv.revoked_at is None:
        inv.revoked_at = clock.now()
    return inv


def redeem_invitation(
    session: Session, clock: Clock, code: str, *, telegram_user_id: int, chat_id: int
) -> Redeemed:
    """Link a chat account to the invitation's role and scope, consuming the code.

    The invitation row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises
    writers) so that two simultaneous uses of one code cannot both succeed.
    """
    norm = _normalise(code)
    if len(norm) != 12:
        raise InvitationRefused(REFUSED)
    inv = session.scalar(
        select(Invitation).where(Invitation.code_hash == _hash(norm)).with_for_update()
    )
    now = clock.now()
    if inv is None or inv.revoked_at is not None:
        raise InvitationRefused(REFUSED)
    if inv.used_at is not None:
        raise InvitationRefused(REFUSED)
    if inv.expires_at <= now:
        raise InvitationRefused(REFUSED)
    existing = session.scalar(select(User).where(User.telegram_user_id == telegram_user_id))
    if existing is not None and existing.active:
        raise InvitationRefused(
            "Votre compte est déjà relié à clausebot. Pour changer de rôle, demandez à votre "
            "facilitateur·rice de retirer le lien actuel."
        )
    created = False
    user = session.get(User, inv.user_id) if inv.user_id else None
    if user is None:
        user = existing
    if user is None:
        user = User(role=inv.role, display_name=inv.display_name, email=inv.email)
        session.add(user)
        created = True
    user.role = inv.role
    user.active = True
    user.company_id = inv.company_id
    user.donneur_id = inv.donneur_id
    user.prescriber_id = inv.prescriber_id
    user.telegram_user_id = telegram_user_id
    session.flush()
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user.id))
    if link is None:
        session.add(ChatLink(user_id=user.id, chat_id=chat_id, linked_at=now))
    else:
        link.chat_id = chat_id
    inv.used_at = now
    inv.used_by_user_id = user.id
    session.flush()
    return Redeemed(user=user, created=created)


def unlink_user(session: Session, user_id: int) -> None:
    """Remove a chat link: the person no longer reaches any data through the bot."""
    user = session.get(User, user_id)
    if user is None:
        raise DomainError(f"Aucun utilisateur n° {user_id}.")
    user.telegram_user_id = None
    user.active = False
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user_id))
    if link is not None:
        session.delete(link)


def usable_invitations(session: Session, clock: Clock) -> list[Invitation]:
    """Invitations still usable (not used, revoked or expired), newest first."""
    now = clock.now()
    return list(session.scalars(
        select(Invitation)
        .where(Invitation.used_at.is_(None), Invitation.revoked_at.is_(None),
               Invitation.expires_at > now)
        .order_by(Invitation.id.desc())
    ))


def reissue_invitation(session: Session, clock: Clock, invitation_id: int,
                       valid_days: int = 14) -> tuple[str, Invitation]:
    """A fresh code for a usable invitation, the old code revoked (codes are stored hashed:
    a lost code cannot be shown again, only replaced). Same role, scope and person."""
    old = session.get(Invitation, invitation_id)
    now = clock.now()
    if old is None or old.used_at is not None or old.revoked_at is not None or old.expires_at <= now:
        raise DomainError(f"L'invitation n° {invitation_id} n'est plus utilisable : créez-en une "
                          "nouvelle (clausebot invitation create).")
    old.revoked_at = now
    return issue_invitation(
        session, clock, role=old.role, display_name=old.display_name, email=old.email,
        company_id=old.company_id, donneur_id=old.donneur_id, prescriber_id=old.prescriber_id,
        facilitator_user_id=old.user_id, valid_days=valid_days, created_by_id=old.created_by_id)
