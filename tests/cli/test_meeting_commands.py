"""`clausebot reunion`: meetings entered, listed, refused with a reason, cancelled."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Meeting, MeetingKind
from tests import factories as f


def _territory(db) -> None:
    with db.session() as s:
        f.territory(s)


def test_create_list_cancel(cli, db):
    _territory(db)
    made = cli("reunion", "create", "--type", "lancement", "--marche", "2025-017",
               "--date", "03/12/2099 14h30", "--lieu", "Mairie d'Oullins")
    assert made.exit_code == 0, made.output
    assert "enregistrée le 03/12/2099 à 14:30" in made.output
    made = cli("reunion", "create", "--type", "partenariat", "--donneur", "Ville d'Oullins",
               "--date", "05/03/2099 10h")
    assert made.exit_code == 0, made.output
    listed = cli("reunion", "list")
    assert listed.output.index("réunion annuelle de partenariat") < listed.output.index(
        "réunion de lancement")
    assert "Mairie d'Oullins" in listed.output and "2025-017" in listed.output
    with db.session() as s:
        kinds = {m.kind for m in s.scalars(select(Meeting))}
        launch = s.scalar(select(Meeting.id).where(Meeting.kind == MeetingKind.LANCEMENT))
    assert kinds == {MeetingKind.LANCEMENT, MeetingKind.PARTENARIAT_ANNUEL}
    assert cli("reunion", "cancel", str(launch)).exit_code == 0
    assert "réunion de lancement" not in cli("reunion", "list").output


def test_mistakes_are_refused_in_french_and_nothing_is_written(cli, db):
    _territory(db)
    for args, expected in (
        (("--type", "apero", "--marche", "2025-017", "--date", "03/12/2099"), "Type de réunion inconnu"),
        (("--type", "lancement", "--marche", "2025-017", "--date", "01/01/2020 9h"), "est passée"),
        (("--type", "lancement", "--marche", "1999-404", "--date", "03/12/2099"), "Marché inconnu : « 1999-404 »"),
        (("--type", "lancement", "--marche", "2025-017", "--date", "demain"), "illisible"),
    ):
        result = cli("reunion", "create", *args)
        assert result.exit_code == 1 and expected in result.output, result.output
    with db.session() as s:
        assert s.scalar(select(Meeting.id)) is None
    assert "Aucune réunion n° 42" in cli("reunion", "cancel", "42").output
