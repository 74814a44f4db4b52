"""Smoke test of the benchmark (issue 10): the generator at a tiny size on both backends, and the
bilan measurement end to end. Correctness only: timings are never asserted (the shared CI machine
makes them meaningless); ``python -m bench`` is what measures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bench.databases import BenchDatabase
from bench.generator import generate
from bench.harness import Run
from bench.measures import bilan
from bench.report import HEADER, markdown, text_table
from bench.sizes import TINY
from bench.sql import raw
from clauses.counting import count_month
from clauses.eligibility import clause_eligibility_end
from storage.models import Contract, HourDeclaration, Market, Participant

TODAY = dt.date(2026, 11, 24)
SEED = 7


@pytest.fixture
def generated(db, backend, rulebook, tmp_path):
    report = generate(db, TINY, rulebook, seed=SEED, today=TODAY, stamp=False)
    bench_db = BenchDatabase(backend, db, TINY, report, TODAY)
    return Run(bench_db, None, rulebook, tmp_path, repeat=1, log=lambda _m: None)  # type: ignore[arg-type]


def test_generator_fills_a_coherent_territory(generated: Run, rulebook) -> None:
    report = generated.bench_db.report
    assert report.rows["hour_declarations"] > 500
    assert report.rows["declaration_revisions"] >= report.rows["hour_declarations"]
    assert report.year == TODAY.year - 1 and report.year_declarations > 0
    assert report.checked_rows > 0  # the generator compared its rule with the domain's
    with generated.db.session() as s:
        # read back through the models: the loader stored what the ORM reads (dates, Decimals)
        assert s.scalar(select(func.count()).select_from(HourDeclaration)) == \
            report.rows["hour_declarations"]
        rows = s.execute(
            select(HourDeclaration, Contract, Participant)
            .join(Contract, Contract.id == HourDeclaration.contract_id)
            .join(Participant, Participant.id == Contract.participant_id)
        ).all()
        for decl, contract, person in rows:
            assert isinstance(decl.month, dt.date) and decl.month.day == 1
            assert contract.start_date.replace(day=1) <= decl.month
            expected = count_month(
                contract.contract_type, contract.start_date, decl.month, decl.work_hours,
                decl.training_hours, clause_eligibility_end(person.first_entry_date, rulebook),
                rulebook)
            assert decl.counted_hours == expected.total, (decl.id, contract.contract_type)
        assert s.scalar(select(func.count()).select_from(Market)) == report.rows["markets"]
    # the last complete month is partly undeclared: what the reminders chase
    last = dt.date(TODAY.year, TODAY.month - 1, 1)
    with raw(generated.db) as sql:
        (declared_last,) = sql.one("SELECT COUNT(*) FROM hour_declarations WHERE month = :m",
                                   {"m": last})
    assert declared_last > 0


def test_generation_is_reproducible(db, rulebook) -> None:
    first = generate(db, TINY, rulebook, seed=SEED, today=TODAY, stamp=False)
    with raw(db) as sql:
        hours, count = sql.one(
            "SELECT SUM(counted_hours), COUNT(*) FROM hour_declarations "
            "WHERE month >= :a AND month <= :b",
            {"a": dt.date(first.year, 1, 1), "b": dt.date(first.year, 12, 1)})
    assert Decimal(str(hours)).quantize(Decimal("0.01")) == first.year_hours
    assert count == first.year_declarations
    # the same seed gives the same rows and figures, without touching a database
    from bench.generator import Generator
    from bench.loader import Loader

    class Counting(Loader):
        def _load(self, name, filler, rows):  # type: ignore[override]
            return sum(1 for _ in rows)

        def finish(self) -> None:
            pass

        def close(self) -> None:
            pass

    again = Generator(TINY, rulebook, seed=SEED, today=TODAY).run(Counting(db, first.today))
    assert again.rows == first.rows
    assert again.year_hours == first.year_hours and again.year_persons == first.year_persons


def test_bilan_measurement_end_to_end(generated: Run) -> None:
    rows = bilan.run(generated)
    assert [r.measurement.split(",")[0] for r in rows] == ["annual bilan"] * 2
    for row in rows:
        assert row.size == "tiny" and row.backend == generated.backend
        assert row.measured > 0 and row.baseline > 0 and row.goal == 1.3 and row.unit == "s"
        assert row.check.startswith("same figures")
    table = markdown(rows)
    lines = table.splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    assert len(lines) == 2 + len(rows)
    assert all(line.count("|") == len(HEADER) + 1 for line in lines)
    assert "annual bilan, whole territory" in text_table(rows)


def test_bilan_and_hand_written_sql_give_the_same_figures(generated: Run) -> None:
    year = generated.bench_db.report.year
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    donneur_id, _name, markets = bilan.biggest_donneur(generated, start, end)
    assert markets > 0
    for who in (donneur_id, None):
        product = bilan.normalise(bilan.product_bilan(generated, who, start, end))
        baseline = bilan.baseline_bilan(generated, who, start, end)
        assert bilan.differences(product, baseline) == []
        assert product["totals"][0] > 0 and product["engagements"]
