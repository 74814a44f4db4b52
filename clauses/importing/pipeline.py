"""The import's entry points: validate every row, then write all of them or none.

See :mod:`clauses.importing` for the rules users rely on (all or nothing, idempotent, empty cells
change nothing, donneurs created only on purpose).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from clauses.importing.csvfile import read_csv
from clauses.importing.resolve import resolve
from clauses.importing.results import ImportResult, sorted_errors
from clauses.importing.validate import RowValidator
from clauses.importing.write import Writer


def import_rows(session: Session, rows: Iterable[tuple[int | None, Mapping[str, str]]], *,
                rulebook: Any | None = None, dry_run: bool = False,
                today: dt.date | None = None) -> ImportResult:
    """Validate rows (column -> text) and, if every one is valid, write them.

    Nothing is written when any row is refused, nor when ``dry_run`` is set (the writing is then
    done in a SAVEPOINT and rolled back, so the counts are exactly what a real import would do).
    The caller owns the transaction and commits it. ``today`` (the clock's) makes a new market
    whose start is later « prévu » (see :func:`clauses.fees.status_for_new_market`).
    """
    rows = list(rows)
    validator = RowValidator(session, rulebook)
    for line, row in rows:
        validator.add_row(line, row)
    plan = resolve(validator)
    result = ImportResult(lines=len(rows), warnings=validator.warnings, dry_run=dry_run)
    if validator.errors:
        result.errors = sorted_errors(validator.errors)
        return result
    writer = Writer(session, today=today)
    if dry_run:
        savepoint = session.begin_nested()
        try:
            writer.write(plan)
        finally:
            savepoint.rollback()
    else:
        writer.write(plan)
    result.counts = writer.counts
    return result


def import_csv(session: Session, data: bytes, *, rulebook: Any | None = None,
               dry_run: bool = False, today: dt.date | None = None) -> ImportResult:
    """Import a CSV file's bytes (see :mod:`clauses.importing` for the rules).

    Raises :class:`~clauses.importing.results.ImportFileError` when the file cannot be read at
    all; line problems are in ``ImportResult.errors`` and then nothing is written.
    """
    table = read_csv(data)
    if table.errors:
        # Still validate the readable lines, so the user gets every problem in one pass.
        result = import_rows(session, table.rows, rulebook=rulebook, dry_run=True)
        result.errors = sorted_errors([*result.errors, *table.errors])
        result.counts = {}
        result.dry_run = dry_run
        return result
    return import_rows(session, table.rows, rulebook=rulebook, dry_run=dry_run, today=today)
