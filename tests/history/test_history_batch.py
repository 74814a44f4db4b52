"""The set-based history import: extending stored persons, overlaps, live changes, chunks.

The journeys go through `clausebot historique importer` on a territory loaded by the CLI. The
chunk and statement-count tests call :func:`import_history` with a small chunk size, since the
CLI's chunks are 1,000 lines (the territory still comes from the CLI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.context import Context
from clauses.declarations import record_declaration
from clauses.history.loading import import_history
from clauses.history.reading import parse_rows
from storage.db import Database
from storage.models import (
    AuditEntry,
    Channel,
    Contract,
    DeclarationStatus,
    ExitFollowup,
    HourDeclaration,
    Participant,
    Role,
)
from tests.cli.conftest import Run
from tests.history.test_history_bad_input import line, write
from tests.history.test_history_journey import counts, load_territory

ADMIN = Actor(role=Role.ADMIN, channel=Channel.CLI, label="cli:test")


def test_a_second_file_extends_a_stored_person_with_a_contract_and_an_exit(
        cli: Run, db: Database, tmp_path: Path) -> None:
    """Julie is stored by a first file; the second adds a month to her first contract, a
    contract on another market and her exit at its end (the live exit use case, since she is
    stored): nothing of the first file is written twice."""
    load_territory(cli)
    first = write(tmp_path, "a.csv", line(month="03/2025"), line(month="04/2025", work="151"))
    assert cli("historique", "importer", first).exit_code == 0
    second = write(
        tmp_path, "b.csv", line(month="04/2025", work="151"), line(month="05/2025", work="147"),
        line(market="2025-031", company="Paysages de la Saulaie", start="01/07/2025",
             end="31/08/2025", month="07/2025", work="120"),
        line(market="2025-031", company="Paysages de la Saulaie", start="01/07/2025",
             end="31/08/2025", month="08/2025", work="100", exit_="recherche_emploi",
             exit_date="31/08/2025"))
    result = cli("historique", "importer", second)
    assert result.exit_code == 0, result.output
    assert "mois       3" in result.output and "sorties    1" in result.output
    with db.session() as s:
        julie = s.scalars(select(Participant)).one()
        assert julie.first_entry_date == dt.date(2025, 3, 3)  # the earlier contract's start
        assert (julie.exit_situation, julie.exit_date) == ("recherche_emploi", dt.date(2025, 8, 31))
        contracts = s.scalars(select(Contract).order_by(Contract.start_date)).all()
        assert [(c.start_date, c.end_date) for c in contracts] == [
            (dt.date(2025, 3, 3), dt.date(2025, 6, 15)), (dt.date(2025, 7, 1), dt.date(2025, 8, 31))]
        followup = s.scalars(select(ExitFollowup)).one()
        assert (followup.contract_id, followup.situation) == (contracts[1].id, "recherche_emploi")
        months = s.execute(select(HourDeclaration.month, HourDeclaration.work_hours)
                           .order_by(HourDeclaration.month)).all()
        assert [(m.month, int(h)) for m, h in months] == [(3, 140), (4, 151), (5, 147), (7, 120), (8, 100)]
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "participant.exit")) == 1
    after = counts(db)
    assert cli("historique", "importer", second).exit_code == 0
    assert counts(db) == after


def test_overlapping_contracts_on_one_lot_are_refused_in_the_file_and_against_the_database(
        cli: Run, db: Database, tmp_path: Path) -> None:
    load_territory(cli)
    before = counts(db)
    both = write(tmp_path, "h.csv", line(month="03/2025"),
                 line(start="15/06/2025", end="30/09/2025", month="07/2025"))  # starts on the end day
    result = cli("historique", "importer", both)
    assert result.exit_code != 0
    assert ("ligne 3 : Cette personne a déjà un contrat sur ce lot du 03/03/2025 au 15/06/2025 "
            "(plus haut dans le fichier)") in result.output
    assert counts(db) == before
    assert cli("historique", "importer", write(tmp_path, "a.csv", line())).exit_code == 0
    with db.session() as s:
        stored = s.scalars(select(Contract.id)).one()
    later = write(tmp_path, "b.csv", line(start="01/06/2025", end="30/09/2025", month="07/2025"))
    result = cli("historique", "importer", later)
    assert result.exit_code != 0
    assert f"(contrat n° {stored})" in result.output
    # a contract starting the day after the stored one ends does not overlap
    ok = write(tmp_path, "c.csv", line(start="16/06/2025", end="30/09/2025", month="07/2025"))
    assert cli("historique", "importer", ok).exit_code == 0


def test_reimport_after_a_live_correction_keeps_the_correction(
        cli: Run, db: Database, ctx: Context, tmp_path: Path) -> None:
    """The facilitator corrected March in the chat after the import (140 -> 150 h): importing
    the same file again is a no-op, not a refusal nor an overwrite."""
    load_territory(cli)
    path = write(tmp_path, "a.csv", line(month="03/2025"), line(month="04/2025", work="151"))
    assert cli("historique", "importer", path).exit_code == 0
    with db.session() as s:
        # The agency's own grid: its months arrive controlled, not awaiting /controle.
        assert s.execute(select(HourDeclaration.month, HourDeclaration.status)
                         .order_by(HourDeclaration.month)).all() == [
            (dt.date(2025, 3, 1), DeclarationStatus.VALIDEE),
            (dt.date(2025, 4, 1), DeclarationStatus.VALIDEE)]
        contract_id = s.scalars(select(Contract.id)).one()
        record_declaration(ctx, s, ADMIN, contract_id=contract_id, month=dt.date(2025, 3, 1),
                           work_hours=Decimal(150), source=Channel.TELEGRAM,
                           correction_reason="heures sup oubliées")
    before = counts(db)
    result = cli("historique", "importer", path)
    assert result.exit_code == 0, result.output
    assert counts(db) == before
    with db.session() as s:
        assert s.execute(select(HourDeclaration.work_hours, HourDeclaration.status)
                         .where(HourDeclaration.month == dt.date(2025, 3, 1))).one() == (
            150, DeclarationStatus.ENREGISTREE)  # the correction reopened control


def _rows(tmp_path: Path, *lines: str) -> list:
    return parse_rows(Path(write(tmp_path, "h.csv", *lines)).read_bytes(), "h.csv")


def _persons(n: int) -> list[str]:
    return [line(f"NOM{i:03d}", "Léa", f"{1 + i % 28:02d}/01/1990", month=f"0{3 + i % 3}/2025")
            for i in range(n)]


def test_a_refusal_in_the_last_chunk_writes_nothing_of_the_earlier_chunks(
        cli: Run, db: Database, ctx: Context, tmp_path: Path) -> None:
    load_territory(cli)
    before = counts(db)
    bad = line("NOM999", "Léa", "01/01/1990", month="07/2025")  # after the contract's end
    result = import_history(ctx, ADMIN, _rows(tmp_path, *_persons(5), bad), db.session,
                            read=db.read_session, dry_run=False, chunk_rows=2)
    assert [n for n, _ in result.errors] == [7]
    assert counts(db) == before
    result = import_history(ctx, ADMIN, _rows(tmp_path, *_persons(5)), db.session,
                            read=db.read_session, dry_run=False, chunk_rows=2)
    assert result.ok and result.chunks == 3 + 3  # checked, then written, in three chunks
    assert result.counts == {"personnes": 5, "critères": 5, "contrats": 5, "mois": 5, "sorties": 0}
    assert counts(db)["participants"] == 5


def test_the_number_of_statements_does_not_grow_with_the_persons_of_a_chunk(
        cli: Run, db: Database, ctx: Context, tmp_path: Path) -> None:
    """Set-based: a chunk of 40 persons is checked and written with the same statements as a
    chunk of 4 (the old per-person path ran about forty a person)."""
    load_territory(cli)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        measured = []
        for n, offset in ((4, 0), (40, 100)):
            rows = [line(f"NOM{offset + i:03d}", "Léa", "01/01/1990", month="04/2025")
                    for i in range(n)]
            statements.clear()
            result = import_history(ctx, ADMIN, _rows(tmp_path, *rows), db.session,
                                    read=db.read_session, dry_run=False)
            assert result.ok and result.counts["mois"] == n
            measured.append(len([s for s in statements if s.split()[0] in ("SELECT", "INSERT", "UPDATE")]))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert measured[0] == measured[1]
    assert measured[0] < 40


def test_a_person_created_live_between_the_check_and_the_write_is_matched_not_doubled(
        cli: Run, db: Database, ctx: Context, tmp_path: Path) -> None:
    """Pass 2 reads the chunk again inside its write transaction: the chat created Julie after
    pass 1 checked the file, so the import attaches the contract to her instead of creating a
    second Julie."""
    load_territory(cli)
    calls = 0

    @contextmanager
    def unit() -> Iterator[Session]:
        nonlocal calls
        calls += 1
        if calls == 1:
            with db.session() as live:
                live.add(Participant(last_name="MARTIN", first_name="Julie",
                                     birth_date=dt.date(1998, 3, 12)))
        with db.session() as session:
            yield session

    result = import_history(ctx, ADMIN, _rows(tmp_path, line()), unit, read=db.read_session,
                            dry_run=False)
    assert result.ok, result.errors
    assert result.counts["personnes"] == 0 and result.counts["contrats"] == 1
    with db.session() as s:
        julie = s.scalars(select(Participant)).one()
        assert s.scalars(select(Contract.participant_id)).one() == julie.id


def test_a_unique_key_hit_by_a_live_write_during_the_write_pass_is_reported_not_a_crash(
        cli: Run, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between pass 2's read and its insert a chat write took the same row (PostgreSQL does
    not serialise them): the chunk is rolled back and the operator told to run it again, which
    then finishes the import."""
    import clauses.history.loading as loading

    load_territory(cli)
    before = counts(db)
    real_write = loading._write
    hits: list[int] = []

    def racing_write(*args: object, **kwargs: object) -> None:
        if not hits:
            hits.append(1)
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loading, "_write", racing_write)
    path = write(tmp_path, "a.csv", line(month="03/2025"))
    result = cli("historique", "importer", path)
    assert result.exit_code != 0
    assert "ligne 2 : Une saisie faite en direct pendant l'import" in result.output
    assert counts(db) == before
    result = cli("historique", "importer", path)
    assert result.exit_code == 0, result.output
    assert counts(db)["hour_declarations"] == 1
