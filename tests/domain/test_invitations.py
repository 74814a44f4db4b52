"""Invitation codes: single use, expiry, revocation, and refusals that reveal nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clauses.invitations import (
    InvitationRefused,
    issue_invitation,
    redeem_invitation,
    revoke_invitation,
    unlink_user,
)
from storage.models import ChatLink, Role, User
from tests import factories as f


def test_code_links_account_to_role_and_scope_once(db, clock):
    with db.session() as s:
        c = f.company(s, "BTP Rhône")
        code, _inv = issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="Chef", company_id=c.id)
    with db.session() as s:
        red = redeem_invitation(s, clock, code.lower().replace("-", " "), telegram_user_id=111, chat_id=111)
        assert red.user.role == Role.ENTREPRISE and red.user.company_id == c.id
        assert s.scalar(select(ChatLink.chat_id).where(ChatLink.user_id == red.user.id)) == 111
    with db.session() as s, pytest.raises(InvitationRefused, match="inconnu, déjà utilisé ou expiré"):
        redeem_invitation(s, clock, code, telegram_user_id=222, chat_id=222)


def test_expired_revoked_and_unknown_codes_are_refused(db, clock):
    with db.session() as s:
        c = f.company(s)
        code, _ = issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="X", company_id=c.id, valid_days=1)
        code2, inv2 = issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="Y", company_id=c.id)
        revoke_invitation(s, clock, inv2.id)
    clock.advance(days=2)
    with db.session() as s:
        with pytest.raises(InvitationRefused, match="expiré") as e0:
            redeem_invitation(s, clock, code, telegram_user_id=1, chat_id=1)
        with pytest.raises(InvitationRefused, match="pas valide") as e1:
            redeem_invitation(s, clock, code2, telegram_user_id=1, chat_id=1)
        with pytest.raises(InvitationRefused, match="pas valide") as e2:
            redeem_invitation(s, clock, "AAAA-BBBB-CCCC", telegram_user_id=1, chat_id=1)
        # expired, revoked and unknown: one neutral refusal (a leaked code is not confirmed)
        assert e0.value.message_fr == e1.value.message_fr == e2.value.message_fr
        assert s.scalar(select(User).where(User.telegram_user_id == 1)) is None


def test_unlink_removes_access(db, clock):
    with db.session() as s:
        c = f.company(s)
        code, _ = issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="X", company_id=c.id)
        user = redeem_invitation(s, clock, code, telegram_user_id=5, chat_id=5).user
        unlink_user(s, user.id)
        assert user.active is False and user.telegram_user_id is None
        assert s.scalar(select(ChatLink).where(ChatLink.user_id == user.id)) is None


def test_invited_address_is_stored_lower_cased_so_the_mail_channel_knows_the_person(db, clock):
    """An address typed « Marie.Dupont@BTP-Rhone.FR » on the invitation: her e-mails come from
    any case, and the sender lookup is an indexed equality on the stored lower-case form."""
    from clauses.errors import DomainError
    from clauses.senders import identify_sender

    with db.session() as s:
        c = f.company(s, "BTP Rhône")
        code, inv = issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="Marie",
                                     company_id=c.id, email=" Marie.Dupont@BTP-Rhone.FR ")
        assert inv.email == "marie.dupont@btp-rhone.fr"
        with pytest.raises(DomainError, match="adresse e-mail invalide « marie@ »"):
            issue_invitation(s, clock, role=Role.ENTREPRISE, display_name="X", company_id=c.id,
                             email="marie@")
    with db.session() as s:
        red = redeem_invitation(s, clock, code, telegram_user_id=7, chat_id=7)
        actor = identify_sender(s, "Marie DUPONT <MARIE.DUPONT@btp-rhone.fr>")
        assert actor is not None and actor.user_id == red.user.id and actor.company_id == c.id
