"""A « point d'étape » asked by e-mail follows the same reading rule as the chat: a référent
gets the markets of their own donneur d'ordre only (clauses.directory scoped by clauses.authz).

From an EMPTY database: the example territory (Ville d'Oullins) comes from the CLI import, a
second buyer and both référents from the CLI; the requests arrive in the Maildir.
"""

from __future__ import annotations

from sqlalchemy import select

from reports.queued import PENDING_TEXT
from storage.models import Alert, AlertKind, InboundMail
from tests.journeys.conftest import Run
from tests.journeys.test_mail_as_people_write import Mailroom
from tests.mail.conftest import make_mail

OULLINS = "juliette.rey@oullins.example"
METROPOLE = "marc.roux@metropole.example"


def _setup(cli: Run) -> None:
    for args in (
        ("donneur", "create", "--nom", "Métropole de Lyon", "--type", "metropole"),
        ("referent", "create", "--donneur", "Ville d'Oullins", "--nom", "Juliette REY",
         "--email", OULLINS),
        ("referent", "create", "--donneur", "Métropole de Lyon", "--nom", "Marc ROUX",
         "--email", METROPOLE),
    ):
        made = cli(*args)
        assert made.exit_code == 0, made.output


def test_a_referent_gets_the_point_of_their_own_market_only(ctx, cli: Run, territory, tmp_path):
    _setup(cli)
    room = Mailroom(ctx, tmp_path / "incoming")

    room.send(make_mail(f"Marc ROUX <{METROPOLE}>", "Point d'étape",
                                "Bonjour,\n\nPouvez-vous faire un point d'étape du marché 2025-017 ?"))
    room.send(make_mail(f"Juliette REY <{OULLINS}>", "Point d'étape",
                              "Bonjour,\n\nPouvez-vous faire un point d'étape du marché 2025-017 ?"))
    room.run()

    # The Métropole's référent: one reply, the refusal saying what to check; no report.
    (refusal,) = room.replies(METROPOLE)
    assert "introuvable ou n'est pas suivi pour votre organisation" in refusal.body_text
    assert "Vérifiez sa référence" in refusal.body_text
    # Oullins' référent: the point d'étape is queued for the outbox sender to render.
    (queued,) = room.replies(OULLINS)
    assert queued.body_text == PENDING_TEXT
    with ctx.db.session() as s:
        handled = dict(s.execute(select(InboundMail.from_address, InboundMail.kind)).all())
        refused_alerts = list(s.scalars(select(Alert.message).where(
            Alert.kind == AlertKind.EMAIL_A_TRAITER)))
    assert handled == {METROPOLE: "point_marche_non_autorise", OULLINS: "point_marche"}
    assert any("Demande refusée (point_marche)" in a and "Marc ROUX" in a for a in refused_alerts)
