"""A company re-sends a declaration file already recorded (issue 20): from an EMPTY database
(the territory from the CLI import, the people proposed by e-mail, validated in chat, their
contracts entered with the CLI), everything else through the Maildir.

The same hours again are acknowledged (« rien n'a changé ») and filed as processed; a line
whose hours differ still needs the correction path, and only that line is refused."""

from __future__ import annotations

import gc

from sqlalchemy import func, select

from clauses import declaration_batch
from storage.models import AuditEntry, DeclarationRevision, HourDeclaration
from tests.journeys.conftest import Run
from tests.journeys.test_mail_as_people_write import (
    RH,
    RH_ADDR,
    Mailroom,
    _declared,
    _hired_people,
    _xlsx,
)
from tests.mail.conftest import XLSX_MIME, make_mail

HEADER = ["nom", "prenom", "marche", "lot", "mois", "heures_travail", "motif_correction"]
UNCHANGED = "Ce fichier correspond exactement à des heures déjà enregistrées : rien n'a changé."


def _file(*rows: list[object]) -> bytes:
    return _xlsx(("Déclaration", [HEADER, *rows]))


def _counts(ctx) -> tuple[int, int, int]:
    with ctx.db.session() as s:
        return (s.scalar(select(func.count()).select_from(HourDeclaration)) or 0,
                s.scalar(select(func.count()).select_from(DeclarationRevision)) or 0,
                s.scalar(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.subject_type == "declaration")) or 0)


def test_a_file_sent_again_in_a_new_mail_is_acknowledged_not_refused(ctx, cli: Run, territory, tmp_path,
                                                                     monkeypatch):
    room = Mailroom(ctx, tmp_path / "incoming")
    _hired_people(ctx, cli, territory, room)
    collector_on: list[bool] = []  # while each file is recorded
    record_lines = declaration_batch.record_lines
    monkeypatch.setattr(declaration_batch, "record_lines",
                        lambda *a, **k: collector_on.append(gc.isenabled()) or record_lines(*a, **k))

    def send(subject: str, data: bytes) -> str:
        return room.send(make_mail(RH, subject, "Bonjour,\n\nCi-joint nos heures.\n\nSophie MARTIN",
                                   attachments=[("heures-mars.xlsx", data, XLSX_MIME)]))

    march = _file(["KOFFI", "Awa", "2025-017", 2, "03/2025", 120, None],
                  ["DIALLO", "Moussa", "2025-017", 2, "03/2025", 151.67, None],
                  ["NGUYEN", "Linh", "2025-017", 2, "03/2025", 0, None])
    first = send("Heures de mars", march)
    assert room.run() == {"traite": 1}
    assert room.folder_of(first) == "Traités"
    stored = _counts(ctx)
    assert stored == (3, 3, 3)
    # The cyclic collector was paused while the file was recorded (clauses.collector), not after.
    assert collector_on == [False] and gc.isenabled()

    # The very same file, in a new e-mail (a new Message-ID: not a replay of the first).
    again = send("Heures de mars (renvoi)", march)
    assert room.run() == {"traite": 1}
    assert room.folder_of(again) == "Traités"
    ack = room.replies(RH_ADDR)[-1]
    assert UNCHANGED in ack.body_text and UNCHANGED in (ack.body_html or "")
    assert "Des heures sont déjà déclarées" not in ack.body_text
    assert "Lignes refusées" not in ack.body_text
    assert _counts(ctx) == stored  # no declaration, revision or audit row written
    assert ("DIALLO", "2025-03", 151.67) in _declared(ctx)

    # One line differs, without a reason: that line still needs a correction, the others
    # are unchanged; the message is not "nothing changed".
    changed = send("Heures de mars (modifiées)", _file(
        ["KOFFI", "Awa", "2025-017", 2, "03/2025", 120, None],
        ["DIALLO", "Moussa", "2025-017", 2, "03/2025", 140, None],
        ["NGUYEN", "Linh", "2025-017", 2, "03/2025", 0, None]))
    room.run()
    answer = room.replies(RH_ADDR)[-1].body_text
    assert UNCHANGED not in answer
    assert "ligne 3 : Des heures sont déjà déclarées pour ce contrat en mars 2025" in answer
    assert "ligne 2 : " not in answer.split("Lignes refusées")[1]
    assert "inchangée (déjà déclarée avec ces chiffres)" in answer
    assert room.folder_of(changed) == "Traités"
    assert _counts(ctx) == stored and ("DIALLO", "2025-03", 151.67) in _declared(ctx)

    # With a reason, the same line corrects the month: one revision and one audit row more.
    corrected = send("Heures de mars (correction)", _file(
        ["DIALLO", "Moussa", "2025-017", 2, "03/2025", 140, "heures d'absence retirées"]))
    room.run()
    assert room.folder_of(corrected) == "Traités"
    assert "corrigée" in room.replies(RH_ADDR)[-1].body_text
    assert _counts(ctx) == (3, 4, 4)
    assert ("DIALLO", "2025-03", 140.0) in _declared(ctx)
