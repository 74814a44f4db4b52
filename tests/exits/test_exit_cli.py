"""`clausebot sortie`: the facilitator records or corrects an exit; every refusal is French and
writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from storage.models import AuditEntry, OutboxMessage, Participant
from tests import factories as f
from tests.cli.conftest import cli  # noqa: F401


@pytest.fixture(autouse=True)
def _cli_today(clock, monkeypatch):
    """The commands read the same fixed day as the rest of the test (16/06/2025)."""
    monkeypatch.setattr("clausebot.wiring.Clock", lambda: clock)


def test_record_list_and_correct_an_exit(cli, ctx, world, ended):  # noqa: F811
    pid = ended["participant"]
    listed = cli("sortie", "list", "--manquantes")
    assert listed.exit_code == 0 and "KOFFI Awa" in listed.output and "à enregistrer" in listed.output
    assert "DUPONT Marie" not in listed.output  # her contract runs until 30/11/2025
    assert "formation_qualifiante" in cli("sortie", "situations").output

    def record(situation: str, date: str):
        return cli("sortie", "record", "--personne", str(pid), "--situation", situation, "--date", date)

    def exit_of() -> tuple:
        with ctx.db.session() as s:
            p = s.get(Participant, pid)
            return p.exit_situation, p.exit_date

    # Bad input: each refused in French, nothing written.
    assert "la situation de sortie" in record("chomage", "13/06/2025").output.lower()
    assert "encore sous contrat le 12/06/2025" in record("cdi", "12/06/2025").output
    assert "précède le début du contrat" in record("cdi", "02/02/2025").output
    assert "dans le futur" in record("cdi", "17/06/2025").output
    assert "date illisible" in record("cdi", "13 juin").output
    assert exit_of() == (None, None)

    done = record("cdi", "13/06/2025")  # the contract's last day: allowed
    assert done.exit_code == 0, done.output
    assert "Sortie enregistrée pour KOFFI Awa" in done.output and "Emploi durable — CDI" in done.output
    assert record("recherche_emploi", "16/06/2025").exit_code == 0  # corrected
    assert exit_of() == ("recherche_emploi", dt.date(2025, 6, 16))
    assert "Autres sorties — En recherche d'emploi" in cli("sortie", "list").output
    assert "KOFFI" not in cli("sortie", "list", "--manquantes").output
    with ctx.db.session() as s:
        audits = s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "participant.exit")
                           .order_by(AuditEntry.id)).all()
        assert [a.get("previous_situation") for a in audits] == [None, "cdi"]
        # The prescriber is told once, not again at the correction.
        assert s.scalar(select(func.count()).where(
            OutboxMessage.subject == "Retour de fin de mission : KOFFI A.")) == 1


def test_a_cdi_without_end_is_still_running_and_a_person_without_contract_has_no_exit(
        cli, ctx, world):  # noqa: F811
    with ctx.db.session() as s:
        nobody = f.participant(s, "Sans", "Contrat")
        paul, nid = world["participant_paul"], nobody.id
    out = cli("sortie", "record", "--personne", str(paul), "--situation", "cdi", "--date", "13/06/2025").output
    assert "MARTIN Paul est encore sous contrat le 13/06/2025" in out and "sans date de fin" in out
    out = cli("sortie", "record", "--personne", str(nid), "--situation", "cdi", "--date", "13/06/2025").output
    assert "Aucun contrat n'est enregistré pour SANS Contrat" in out
    assert "Accès refusé" in cli("sortie", "record", "--personne", "999", "--situation", "cdi",
                                 "--date", "13/06/2025").output
