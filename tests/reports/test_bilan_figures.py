"""Bilan figures against an independent computation, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event

from clauses.bilan import (
    BilanKind,
    InvalidPeriodError,
    RelationStatus,
    UnknownDonneurError,
    UnknownMarketError,
    annual_figures,
    find_donneur,
    find_market,
    market_figures,
    territory_figures,
)
from clauses.bilan.figures import BilanFigures
from clauses.rulebook import RULEBOOK_DIR, parse_rulebook
from storage.models import Channel, Contract, HourDeclaration, Participant
from tests.reports import territory as T

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


@pytest.fixture
def built(db):
    with db.session() as s:
        return T.build(s)


def _rows(rows) -> dict[str, int]:
    return {r.key: r.count for r in rows}


def _company(figures: BilanFigures, name: str):
    return next(c for c in figures.companies if c.name == name)


def _check_common(f: BilanFigures, exp: T.Expected) -> None:
    """Every figure the independent calculator knows, compared exactly."""
    assert f.markets.total == len(exp.markets)
    assert {k: n for k, n in f.markets.by_kind.items() if n} == exp.market_kinds
    assert f.hours_counted == exp.hours_counted
    assert f.hours_work == exp.hours_work
    assert f.hours_training == exp.hours_training
    assert f.hours_to_date == exp.hours_to_date
    assert f.hours_owed == exp.hours_owed
    assert f.contracts == len(exp.contracts)
    assert f.persons == len(exp.persons)
    assert {m.month: m.counted_hours for m in f.hours_by_month} == exp.by_month()
    assert _rows(f.typology.age_bands) == exp.age_bands()
    assert _rows(f.typology.genders) == exp.count_by("gender")
    assert _rows(f.typology.communes) == exp.count_by("commune")
    assert _rows(f.typology.qpv) == exp.count_by("qpv")
    assert _rows(f.typology.status_at_entry) == exp.count_by("status")
    assert {r.key: (r.contracts, r.persons, r.counted_hours)
            for r in f.contract_types} == exp.contract_types()
    exits = {e.key: {s.key: s.count for s in e.situations} for e in f.exits if e.persons}
    assert exits == exp.exits()
    assert [e.key for e in f.exits] == ["emploi_durable", "emploi_transition",
                                        "sortie_positive", "autre"]
    assert f.persons_exited == sum(sum(v.values()) for v in exp.exits().values())
    assert {m.key: (m.engagements, m.hours_owed, m.hours_period) for m in f.means} == exp.means()
    for key, (name, _) in T.COMPANIES.items():
        if not any(c == key for _, c, _ in exp.engagements.values()):
            assert all(c.name != name for c in f.companies)
            continue
        want = exp.company(key)
        got = _company(f, name)
        assert (got.hours_owed, got.hours_period, got.contracts, got.persons) == (
            want["owed"], want["period"], want["contracts"], want["persons"]), name


def test_annual_bilan_of_a_donneur(db, built, rulebook):
    with db.session() as s:
        f = annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)
    exp = T.Expected(Y0, Y1, donneur="givors")
    _check_common(f, exp)
    # anchors worked out by hand from the fixture (see tests/reports/territory.py)
    assert f.kind is BilanKind.ANNUEL and f.donneur_name == "Ville de Givors"
    assert f.hours_counted == Decimal("1827.84")  # March counts 125 h, not the superseded 150 h
    assert (f.contracts, f.persons, f.persons_exited) == (5, 4, 2)
    assert (f.markets.total, f.markets.with_clause, f.markets.reserved,
            f.markets.insertion) == (4, 2, 1, 1)
    assert f.hours_owed == Decimal("2000.00")
    assert _rows(f.typology.age_bands) == {"moins_26": 1, "26_49": 1, "50_plus": 1,
                                           "non_renseigne": 1}
    # per market: the insertion market has no engagement, the 2024 market is out of the period
    markets = {m.reference: m for m in f.market_lines}
    assert set(markets) == {"GIV-2025-01", "GIV-2025-02", "GIV-2025-03", "GIV-2025-04"}
    for ref, m in markets.items():
        want = exp.market(ref)
        assert (m.hours_owed, m.hours_period, m.contracts, m.persons) == (
            want["owed"], want["period"], want["contracts"], want["persons"]), ref
    assert markets["GIV-2025-01"].hours_period == Decimal("1188.17")
    means = {m.key: (m.engagements, m.hours_owed, m.hours_period) for m in f.means}
    assert means == {"embauche_directe": (3, Decimal("1200.00"), Decimal("1487.09")),
                     "sous_traitance_siae": (1, Decimal("800.00"), Decimal("340.75"))}
    # relationship: open escalation -> sous procédure; late lot -> en retard; escalation opened
    # after the period is ignored; a case closed as resolved changes nothing
    assert _company(f, "Bâti Sud").relation is RelationStatus.SOUS_PROCEDURE
    assert _company(f, "BTP Alpha").relation is RelationStatus.EN_RETARD
    assert _company(f, "Régie Quartiers EI").relation is RelationStatus.A_JOUR
    e3 = next(e for e in f.engagements if e.market_reference == "GIV-2025-02")
    # lot dates 01/04/2025 -> 31/01/2026 (not the market's): 600 h x 274 / 305 days
    assert e3.hours_expected == Decimal("539.02")
    assert e3.progress == "en_retard"
    assert [c.name for c in f.companies] == ["Bâti Sud", "BTP Alpha", "Régie Quartiers EI"]
    # notes: the donneur's, its market's and a company-only note about a company working here
    assert [n.body for n in f.notes] == [
        "Bâti Sud a recruté deux personnes via le PLIE.",
        "Chantier retardé par les intempéries.\nReprise en octobre.",
    ]
    # the donneur's own note of the year is the annual synthesis of the partnership
    assert [n.body for n in f.synthesis] == ["Partenariat constructif avec la Ville."]
    assert f.completion == (f.hours_to_date / f.hours_owed).quantize(Decimal("0.0001"))


def test_territory_counts_each_person_once(db, built, rulebook):
    with db.session() as s:
        f = territory_figures(s, Y0, Y1, rulebook)
    exp = T.Expected(Y0, Y1)
    _check_common(f, exp)
    assert f.kind is BilanKind.TERRITOIRE
    assert f.hours_counted == Decimal("2168.34")
    assert (f.persons, f.contracts) == (6, 8)
    donneurs = {d.name: d for d in f.donneurs}
    assert set(donneurs) == {"Ville de Givors", "Métropole de Lyon"}
    assert (donneurs["Ville de Givors"].persons, donneurs["Métropole de Lyon"].persons) == (4, 3)
    assert sum(d.persons for d in f.donneurs) == f.persons + 1  # p1 worked for both
    assert donneurs["Métropole de Lyon"].hours_period == Decimal("340.50")
    assert donneurs["Métropole de Lyon"].markets == 1
    # Bâti Sud: three persons over two donneurs; penalised closed case -> défaillante
    assert _company(f, "Bâti Sud").persons == 3
    assert _company(f, "Pro Façades").relation is RelationStatus.DEFAILLANTE
    autre = next(e for e in f.exits if e.key == "autre")
    assert [(s.key, s.count) for s in autre.situations] == [("demenagement_etranger", 1)]
    statuses = {r.key: r for r in f.typology.status_at_entry}
    assert statuses["rqth"].sensitive and statuses["spip"].sensitive
    assert not statuses["deld"].sensitive
    assert len(f.notes) == 5  # every note of the period


def test_point_d_etape_and_final_bilan(db, built, rulebook):
    market = built.markets["GIV-2025-01"]
    at = dt.date(2025, 6, 16)
    with db.session() as s:
        point = market_figures(s, market, at, rulebook)
        final = market_figures(s, market, None, rulebook)
    exp = T.Expected(dt.date(2025, 1, 1), at, market="GIV-2025-01")
    _check_common(point, exp)
    assert point.kind is BilanKind.POINT_ETAPE
    assert point.market_reference == "GIV-2025-01" and point.donneur_name == "Ville de Givors"
    assert point.progress_cutoff == dt.date(2025, 5, 31)
    assert (point.contracts, point.persons, point.persons_exited) == (2, 2, 0)
    # June is not over on 16/06: the point counts January to May only (the issue: it counted June)
    assert point.hours_counted == Decimal("736.92")
    assert point.hours_to_date == point.hours_counted
    lots = {e.lot_number: e for e in point.engagements}
    assert lots[1].hours_at_cutoff == exp.engagement_done("e1", dt.date(2025, 5, 31))
    assert lots[2].hours_at_cutoff == Decimal("120.00")
    # 800 h x 150 / 364 days, done 120 h: late; the escalation opened in October is not yet open
    assert lots[2].hours_expected == Decimal("329.67")
    assert lots[2].relation is RelationStatus.EN_RETARD
    assert lots[1].progress == "solde"

    exp_final = T.Expected(dt.date(2025, 1, 1), dt.date(2025, 12, 31), market="GIV-2025-01")
    _check_common(final, exp_final)
    assert final.kind is BilanKind.FINAL
    assert final.hours_owed == Decimal("1200.00")
    assert final.completion == Decimal("0.9901")  # 1 188,17 / 1 200
    assert {e.lot_number: e.relation for e in final.engagements} == {
        1: RelationStatus.A_JOUR, 2: RelationStatus.SOUS_PROCEDURE}


def test_a_closed_market_gives_the_final_bilan_before_its_end_date(db, built, rulebook):
    with db.session() as s:
        f = market_figures(s, built.markets["GIV-2025-03"], dt.date(2025, 5, 10), rulebook)
    assert f.kind is BilanKind.FINAL


def test_period_shorter_than_a_year_counts_whole_months(db, built, rulebook):
    start, end = dt.date(2025, 3, 15), dt.date(2025, 4, 30)
    with db.session() as s:
        f = annual_figures(s, built.donneurs["givors"], start, end, rulebook)
    exp = T.Expected(start, end, donneur="givors")
    _check_common(f, exp)
    assert set(exp.by_month()) == {dt.date(2025, 3, 1), dt.date(2025, 4, 1)}


def test_labels_come_from_the_rulebook(db, built):
    text = (RULEBOOK_DIR / "default.toml").read_text(encoding="utf-8")
    custom = parse_rulebook(
        text.replace('label_fr = "CDI"\nlabel_en = "Permanent contract"',
                     'label_fr = "Contrat à durée indéterminée"\nlabel_en = "Permanent"', 1),
        source="custom")
    with db.session() as s:
        f = annual_figures(s, built.donneurs["givors"], Y0, Y1, custom)
    cdi = next(r for r in f.contract_types if r.key == "cdi")
    assert cdi.label == "Contrat à durée indéterminée" and cdi.durable


def test_unknown_ids_and_bad_period(db, built, rulebook):
    with db.session() as s:
        with pytest.raises(UnknownDonneurError):
            annual_figures(s, 999_999, Y0, Y1, rulebook)
        with pytest.raises(UnknownMarketError):
            market_figures(s, 999_999, Y1, rulebook)
        with pytest.raises(InvalidPeriodError) as err:
            annual_figures(s, built.donneurs["givors"], Y1, Y0, rulebook)
        assert "31/12/2025" in err.value.message_fr


def test_lookup_with_close_matches(db, built):
    with db.session() as s:
        assert find_donneur(s, "ville de GIVORS").id == built.donneurs["givors"]
        assert find_donneur(s, "givors").id == built.donneurs["givors"]
        assert find_donneur(s, "metropole de lyon").id == built.donneurs["metro"]
        with pytest.raises(UnknownDonneurError) as err:
            find_donneur(s, "Ville de Givros")
        assert "Ville de Givors" in err.value.suggestions
        with pytest.raises(UnknownDonneurError) as err:
            find_donneur(s, "lyon")  # two donneurs contain "lyon"
        assert "Plusieurs" in err.value.message_fr
        assert find_market(s, "giv-2025-01").id == built.markets["GIV-2025-01"]
        with pytest.raises(UnknownMarketError) as err:
            find_market(s, "GIV-2025-1")
        assert "GIV-2025-01" in err.value.suggestions


# --- cost: the number of SQL statements does not grow with the data ---------------------------

def _count_statements(db, call) -> int:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        with db.session() as s:
            call(s)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return sum(1 for st in statements if st.lstrip().upper().startswith(("SELECT", "WITH")))


def _grow(db, built, n: int) -> None:
    """n more persons, each with two contracts on two engagements and three months declared."""
    with db.session() as s:
        for i in range(n):
            p = Participant(last_name=f"Ajout{i}", first_name="X", birth_date=dt.date(1990, 1, 1),
                            gender="F", commune=f"Commune {i}", qpv=bool(i % 2),
                            status_at_entry="deld", exit_situation="cdi" if i % 3 == 0 else None,
                            exit_date=dt.date(2025, 12, 1) if i % 3 == 0 else None)
            s.add(p)
            s.flush()
            for engagement in ("e1", "e3"):
                k = Contract(participant_id=p.id, engagement_id=built.engagements[engagement],
                             employer_id=built.companies["alpha"], contract_type="cdd",
                             start_date=dt.date(2025, 4, 1), end_date=dt.date(2025, 12, 31))
                s.add(k)
                s.flush()
                for month in (4, 5, 6):
                    s.add(HourDeclaration(contract_id=k.id, month=dt.date(2025, month, 1),
                                          work_hours=Decimal(10), training_hours=Decimal(0),
                                          counted_hours=Decimal(10), source=Channel.CLI))


@pytest.mark.parametrize("which", ["annual", "market", "territory"])
def test_query_count_does_not_grow_with_rows(db, built, rulebook, which, record_property):
    def call(s):
        if which == "annual":
            return annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)
        if which == "market":
            return market_figures(s, built.markets["GIV-2025-01"], dt.date(2025, 9, 30), rulebook)
        return territory_figures(s, Y0, Y1, rulebook)

    before = _count_statements(db, call)
    _grow(db, built, 30)
    with db.session() as s:
        grown = call(s)
    assert grown.persons >= 30  # the new rows are really in scope
    after = _count_statements(db, call)
    record_property(f"queries_{which}", after)
    print(f"\nSQL statements per {which} bilan: {after}")
    assert before == after
    # markets, engagements (the one scan up to the reference date), months x contract types (the
    # period's scan), contract counts, typology, exits, notes; + the donneur or market lookup;
    # + for a market, its hours done by QPV residents (ANRU target); + the relationship events
    # (procedure steps and meetings); + the six-month follow-ups (exit_followups). The
    # contested hours are summed in the engagements' scan.
    assert after == {"annual": 10, "market": 11, "territory": 9}[which]
