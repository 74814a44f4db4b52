"""`clausebot invitation create/list/revoke` and `clausebot alertes`."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from clauses.clock import FixedClock
from clauses.invitations import InvitationRefused, redeem_invitation
from storage.db import Database
from storage.models import Alert, AlertKind, AuditEntry, Invitation, Role, User
from tests import factories as f
from tests.cli.conftest import Run

CODE = re.compile(r"Code \(affiché une seule fois\) : ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")


def _company(db: Database) -> tuple[int, str]:
    with db.session() as s:
        d = f.donneur(s, "Ville d'Oullins")
        c = f.company(s, "BTP Rhône-Confluent")
        f.referent(s, d)
        return c.id, c.siret


def test_invitation_create_list_revoke(cli: Run, db: Database) -> None:
    company_id, siret = _company(db)
    spaced = f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"
    result = cli("invitation", "create", "--role", "entreprise", "--entreprise", spaced,
                 "--jours", "7")
    assert result.exit_code == 0, result.output
    code = CODE.search(result.output)
    assert code is not None
    assert f"/start {code.group(1)}" in result.output  # no bot name configured
    with db.session() as s:
        inv = s.scalar(select(Invitation))
        assert inv is not None
        assert (inv.role, inv.company_id, inv.display_name) == (
            Role.ENTREPRISE, company_id, "BTP Rhône-Confluent")
        assert code.group(1) not in inv.code_hash  # only the hash is stored
        assert abs(inv.expires_at - inv.created_at - dt.timedelta(days=7)) \
            < dt.timedelta(minutes=1)

    linked = cli("invitation", "create", "--role", "referent", "--donneur", "ville d'oullins",
                 "--nom", "Juliette Rey", "--bot", "@clausebot_oullins_bot")
    assert linked.exit_code == 0, linked.output
    code2 = CODE.search(linked.output)
    assert code2 is not None
    assert f"Lien direct : https://t.me/clausebot_oullins_bot?start={code2.group(1)}" \
        in linked.output

    listing = cli("invitation", "list").output
    rows = [ln for ln in listing.splitlines() if ln[:1].isdigit()]
    assert len(rows) == 2
    assert "Juliette Rey" in rows[0] and "Ville d'Oullins" in rows[0] and "active" in rows[0]
    assert "BTP Rhône-Confluent" in rows[1]

    revoked = cli("invitation", "revoke", "1")
    assert revoked.exit_code == 0 and "Invitation n° 1 révoquée." in revoked.output
    listing = cli("invitation", "list").output
    assert "révoquée" in next(ln for ln in listing.splitlines() if ln.startswith("1 "))
    active = cli("invitation", "list", "--actives").output
    assert "Juliette Rey" in active and "BTP Rhône-Confluent" not in active

    with db.session() as s:  # the revoked code no longer works; the other one does
        clock = FixedClock(dt.datetime.now(dt.UTC))
        try:
            redeem_invitation(s, clock, code.group(1), telegram_user_id=1, chat_id=1)
            raise AssertionError("a revoked code was accepted")
        except InvitationRefused:
            pass
        redeemed = redeem_invitation(s, clock, code2.group(1), telegram_user_id=2, chat_id=2)
        assert redeemed.user.role == Role.REFERENT
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["invitation_creee", "invitation_creee", "invitation_revoquee"]

    missing = cli("invitation", "revoke", "99")
    assert missing.exit_code == 1 and "Aucune invitation n° 99." in missing.stderr


def test_invitation_create_refusals(cli: Run, db: Database) -> None:
    _company(db)
    cases = [
        (("invitation", "create", "--role", "entreprise"), "--entreprise est requis"),
        (("invitation", "create", "--role", "entreprise", "--entreprise", "821 953 452 00414"),
         "SIRET invalide"),
        (("invitation", "create", "--role", "entreprise", "--entreprise", "Inconnue"),
         "Entreprise inconnue « Inconnue »"),
        (("invitation", "create", "--role", "referent", "--donneur", "Ville de Lyon"),
         "Donneur d'ordre inconnu"),
        (("invitation", "create", "--role", "admin"), "--nom est requis"),
        (("invitation", "create", "--role", "facilitateur", "--facilitateur", "x@y.example"),
         "Aucun·e facilitateur·rice avec l'e-mail"),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.stderr, (args, result.stderr)
    with db.session() as s:
        assert s.scalar(select(Invitation)) is None


def test_facilitator_invitation_links_the_existing_account(cli: Run, db: Database) -> None:
    assert cli("facilitateur", "create", "--nom", "Fanny Morel",
               "--email", "fanny.morel@agence.example").exit_code == 0
    result = cli("invitation", "create", "--role", "facilitateur",
                 "--facilitateur", "fanny.morel@agence.example")
    assert result.exit_code == 0, result.output
    code = CODE.search(result.output)
    assert code is not None
    with db.session() as s:
        redeemed = redeem_invitation(s, FixedClock(dt.datetime.now(dt.UTC)), code.group(1),
                                     telegram_user_id=42, chat_id=42)
        assert not redeemed.created  # the existing facilitator account got the chat link
        assert redeemed.user.email == "fanny.morel@agence.example"
        assert s.scalar(select(User).where(User.telegram_user_id == 42)).id == redeemed.user.id


def test_alertes_lists_open_alerts_and_all_with_toutes(cli: Run, db: Database) -> None:
    with db.session() as s:
        fac = f.user(s, Role.FACILITATEUR, display_name="Fanny Morel",
                     email="fanny.morel@agence.example")
        other = f.user(s, Role.FACILITATEUR, display_name="Paul Roche", email="paul@agence.example")
        s.add_all([
            Alert(kind=AlertKind.CANDIDATURE_A_VALIDER, facilitator_id=fac.id,
                  message="Candidature de M. DUPONT à valider pour BTP Rhône-Confluent"),
            Alert(kind=AlertKind.ENTREPRISE_EN_RETARD, facilitator_id=other.id,
                  message="Peintures du Pilat : 40 % des heures à mi-parcours"),
            Alert(kind=AlertKind.DECLARATION_MANQUANTE, facilitator_id=fac.id,
                  message="Déclaration de mai manquante",
                  handled_at=dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)),
        ])
    open_only = cli("alertes")
    assert open_only.exit_code == 0, open_only.output
    assert "candidature à valider" in open_only.output
    assert "entreprise en retard" in open_only.output
    assert "Déclaration de mai manquante" not in open_only.output
    everything = cli("alertes", "--toutes").output
    assert "Déclaration de mai manquante" in everything and "traitée 02/06/2025" in everything
    mine = cli("alertes", "--toutes", "--facilitateur", "fanny.morel@agence.example").output
    assert "Peintures du Pilat" not in mine and "DUPONT" in mine


def test_alertes_when_there_is_none(cli: Run) -> None:
    result = cli("alertes")
    assert result.exit_code == 0 and "Aucune alerte à traiter." in result.output


def test_invitation_address_is_checked_and_stored_lower_cased(cli: Run, db: Database) -> None:
    """A mistyped address is refused in French with nothing written; a mixed-case one is kept
    lower-cased, the form the e-mail channel looks senders up by."""
    _, siret = _company(db)
    bad = cli("invitation", "create", "--role", "entreprise", "--entreprise", siret,
              "--email", "chef@")
    assert bad.exit_code == 1 and "adresse e-mail invalide « chef@ »" in bad.output
    with db.session() as s:
        assert s.scalar(select(Invitation)) is None
    ok = cli("invitation", "create", "--role", "entreprise", "--entreprise", siret,
             "--email", " Chef.Chantier@BTP-Rhone.FR ")
    assert ok.exit_code == 0, ok.output
    with db.session() as s:
        assert s.scalar(select(Invitation.email)) == "chef.chantier@btp-rhone.fr"
