"""Measurement 1: the annual bilan (one donneur, the whole territory) vs hand-written SQL.

The product: :func:`clauses.bilan.annual_figures` and :func:`clauses.bilan.territory_figures`
(SQLAlchemy Core statements built once per scope shape, rows turned into frozen dataclasses,
rulebook labels and progress computed in Python).

The baseline: the least SQL a developer would hand-write to get the *same figures* from the same
rows, sent as text through the bare driver. Like the product, it scans the declarations twice:
once grouped by engagement (hours of the period, to date and at the
progress cutoff, work, training and contested) and once grouped by month and contract type (the monthly
table and the contract typology); per-market, per-donneur and headline hours are rolled up from
the engagement rows, distinct persons come from one UNION ALL of COUNT(DISTINCT) groupings.

Both are compared figure by figure (:func:`normalise`/:func:`baseline_figures`): a benchmark
whose two sides disagree measures nothing, so a mismatch fails the run.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from bench.harness import Row, Run, alternated, interleaved
from bench.sql import RawSQL, as_date, raw
from clauses.clock import PARIS
from storage.db import LARGE_READ_SETTINGS

CENT = Decimal("0.01")
TYPOLOGY = ("age_band", "gender", "commune", "qpv", "status")


def h(value: Any) -> Decimal:
    """Hours as exact two-decimal Decimals (SQLite sums come back as floats)."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT)


# --- the product side ---------------------------------------------------------------------------


def normalise(fig: Any) -> dict[str, Any]:
    """The comparable figures of a :class:`clauses.bilan.BilanFigures`."""
    typology = {
        "age_band": fig.typology.age_bands, "gender": fig.typology.genders,
        "commune": fig.typology.communes, "qpv": fig.typology.qpv,
        "status": fig.typology.status_at_entry,
    }
    return {
        "markets_by_kind": {k: n for k, n in fig.markets.by_kind.items() if n},
        "totals": (h(fig.hours_counted), h(fig.hours_work), h(fig.hours_training),
                   h(fig.hours_owed), h(fig.hours_to_date), fig.contracts, fig.persons),
        "months": [(m.month, h(m.counted_hours), h(m.work_hours), h(m.training_hours))
                   for m in fig.hours_by_month],
        "typology": {dim: {r.key: r.count for r in rows if r.count}
                     for dim, rows in typology.items()},
        "contract_types": {r.key: (r.contracts, r.persons, h(r.counted_hours))
                           for r in fig.contract_types},
        "exits": {s.key: s.count for c in fig.exits for s in c.situations},
        "engagements": {e.engagement_id: (h(e.hours_owed), h(e.hours_period),
                                          h(e.hours_to_date), h(e.hours_at_cutoff),
                                          e.contracts, e.persons) for e in fig.engagements},
        "company_persons": {c.company_id: c.persons for c in fig.companies},
        "markets": {m.market_id: (h(m.hours_owed), h(m.hours_period), h(m.hours_to_date),
                                  m.contracts, m.persons) for m in fig.market_lines},
        "donneurs": {d.donneur_id: (d.markets, h(d.hours_owed), h(d.hours_period), d.contracts,
                                    d.persons) for d in fig.donneurs},
        "notes": len(fig.notes) + len(fig.synthesis),
        "persons_by_kind": {a.kind: a.persons for a in fig.apart if a.persons},
        "entered": fig.persons_entered,
        "relation_events": len(fig.relation_events),
        "paths": fig.persons_in_paths,
        "followups": {r.key: r.count for r in fig.followups or [] if r.count},
        "contested": (h(fig.hours_contested),
                      {k: h(v) for k, v in fig.contested_by_company.items()}),
    }


# --- the baseline ---------------------------------------------------------------------------------


def _params(start: dt.date, end: dt.date, donneur_id: int | None) -> dict[str, Any]:
    nxt = end + dt.timedelta(days=1)
    cutoff = end if nxt.day == 1 else end.replace(day=1) - dt.timedelta(days=1)
    params: dict[str, Any] = {
        "start": start, "mstart": start.replace(day=1), "end": end, "at": end, "cutoff": cutoff,
        "day_after": dt.datetime.combine(nxt, dt.time(0), tzinfo=PARIS),
        "month_start_at": dt.datetime.combine(start.replace(day=1), dt.time(0), tzinfo=PARIS),
    }
    if donneur_id is not None:
        params["donneur"] = donneur_id
    return params


def baseline_figures(sql: RawSQL, start: dt.date, end: dt.date, donneur_id: int | None,
                     *, territory: bool) -> dict[str, Any]:
    """The same figures as the product, from hand-written SQL (see the module docstring)."""
    p = _params(start, end, donneur_id)
    scope = "m.start_date <= :end AND m.end_date >= :mstart" + (
        " AND m.donneur_id = :donneur" if donneur_id is not None else "")
    eng = (f"eng AS (SELECT e.id AS eid, e.company_id, l.market_id, m.donneur_id, "
           f"m.kind AS market_kind "
           f"FROM engagements e JOIN lots l ON l.id = e.lot_id JOIN markets m ON m.id = l.market_id "
           f"WHERE {scope})")
    running = "c.start_date <= :end AND (c.end_date IS NULL OR c.end_date >= :mstart)"
    ctr = ("ctr AS (SELECT c.id AS cid, c.participant_id AS pid, c.contract_type, c.start_date, "
           "eng.eid, eng.company_id, eng.market_id, eng.donneur_id, eng.market_kind "
           "FROM contracts c "
           f"JOIN eng ON eng.eid = c.engagement_id WHERE {running})")
    in_period = "d.month >= :mstart AND d.month <= :end"

    markets = sql.all(
        f"SELECT m.id, m.kind, m.donneur_id FROM markets m WHERE {scope}", p)
    engagements = sql.all(
        f"""WITH {eng},
        hrs AS (SELECT c.engagement_id AS eid,
                  SUM(CASE WHEN {in_period} THEN d.counted_hours ELSE 0 END) AS period,
                  SUM(CASE WHEN d.month <= :at THEN d.counted_hours ELSE 0 END) AS to_date,
                  SUM(CASE WHEN d.month <= :cutoff THEN d.counted_hours ELSE 0 END) AS cutoff,
                  SUM(CASE WHEN {in_period} THEN d.work_hours ELSE 0 END) AS work,
                  SUM(CASE WHEN {in_period} THEN d.training_hours ELSE 0 END) AS training,
                  SUM(CASE WHEN {in_period} AND d.status = 'contestee'
                      THEN d.counted_hours ELSE 0 END) AS contested
                FROM hour_declarations d JOIN contracts c ON c.id = d.contract_id
                WHERE c.engagement_id IN (SELECT eid FROM eng) GROUP BY c.engagement_id),
        {ctr},
        ctrs AS (SELECT eid, COUNT(*) AS n, COUNT(DISTINCT pid) AS persons FROM ctr GROUP BY eid)
        SELECT e.id, e.hours_owed, eng.market_id, eng.donneur_id, eng.company_id,
               hrs.period, hrs.to_date, hrs.cutoff, hrs.work, hrs.training,
               COALESCE(ctrs.n, 0), COALESCE(ctrs.persons, 0), hrs.contested
        FROM eng JOIN engagements e ON e.id = eng.eid
        LEFT JOIN hrs ON hrs.eid = eng.eid LEFT JOIN ctrs ON ctrs.eid = eng.eid""", p)
    month_types = sql.all(
        f"""WITH {eng}
        SELECT d.month, CASE WHEN {running} THEN c.contract_type END, SUM(d.counted_hours),
               SUM(d.work_hours), SUM(d.training_hours)
        FROM hour_declarations d JOIN contracts c ON c.id = d.contract_id
        WHERE c.engagement_id IN (SELECT eid FROM eng) AND {in_period} GROUP BY 1, 2""", p)
    # the product's own shape (k21pgbilan): one pass over the scope's persons for both
    # « paths » and « entered »
    pp = ("pp AS (SELECT c.participant_id AS pid, COUNT(*) AS n, MIN(c.start_date) AS first_start "
          "FROM contracts c WHERE c.engagement_id IN (SELECT eid FROM eng) "
          "AND c.start_date <= :end GROUP BY c.participant_id)")
    distinct = sql.all(
        f"""WITH {eng}, {ctr}, {pp}
        SELECT 'all', 0, COUNT(*), COUNT(DISTINCT pid) FROM ctr
        UNION ALL SELECT 'market', market_id, COUNT(*), COUNT(DISTINCT pid) FROM ctr GROUP BY market_id
        UNION ALL SELECT 'company', company_id, COUNT(*), COUNT(DISTINCT pid) FROM ctr
                  GROUP BY company_id
        UNION ALL SELECT 'donneur', donneur_id, COUNT(*), COUNT(DISTINCT pid) FROM ctr
                  GROUP BY donneur_id
        UNION ALL SELECT contract_type, 0, COUNT(*), COUNT(DISTINCT pid) FROM ctr
                  GROUP BY contract_type
        UNION ALL SELECT 'kind:' || market_kind, 0, COUNT(*), COUNT(DISTINCT pid) FROM ctr
                  GROUP BY market_kind
        UNION ALL SELECT 'paths', 0, COUNT(DISTINCT pid), COUNT(DISTINCT pid) FROM ctr
                  WHERE pid IN (SELECT pid FROM pp WHERE n >= 2)
        UNION ALL SELECT 'entered', 0, COUNT(DISTINCT pid), COUNT(DISTINCT pid) FROM ctr
                  WHERE ctr.start_date >= :start
                    AND pid IN (SELECT pid FROM pp WHERE first_start >= :start)""", p)
    meeting_scope = f"mt.market_id IN (SELECT m.id FROM markets m WHERE {scope})" + (
        " OR mt.donneur_id = :donneur" if donneur_id is not None else "")
    events = sql.one(
        f"""SELECT COUNT(*) FROM (
          SELECT s.at FROM escalation_steps s JOIN escalation_cases k ON k.id = s.case_id
          JOIN engagements e ON e.id = k.engagement_id JOIN lots l ON l.id = e.lot_id
          JOIN markets m ON m.id = l.market_id JOIN companies co ON co.id = e.company_id
          WHERE {scope} AND s.at >= :month_start_at AND s.at < :day_after
          UNION ALL
          SELECT mt.scheduled_at FROM meetings mt LEFT JOIN markets mk ON mk.id = mt.market_id
          WHERE ({meeting_scope}) AND mt.scheduled_at >= :month_start_at
            AND mt.scheduled_at < :day_after) ev""", p)[0]
    first, birth = sql.ymd("pers.first_start"), sql.ymd("pa.birth_date")
    typology = sql.all(
        f"""WITH {eng},
        pers AS (SELECT c.participant_id AS pid, MIN(c.start_date) AS first_start
                 FROM contracts c WHERE c.engagement_id IN (SELECT eid FROM eng) AND {running}
                 GROUP BY c.participant_id)
        SELECT CASE WHEN pa.birth_date IS NULL THEN 'non_renseigne'
                    WHEN {first} - {birth} < 260000 THEN 'moins_26'
                    WHEN {first} - {birth} < 500000 THEN '26_49' ELSE '50_plus' END,
               COALESCE(pa.gender, 'non_renseigne'), COALESCE(pa.commune, 'non_renseigne'),
               CASE WHEN pa.qpv THEN 'qpv' ELSE 'hors_qpv' END,
               COALESCE(pa.status_at_entry, 'non_renseigne'), COUNT(*)
        FROM pers JOIN participants pa ON pa.id = pers.pid GROUP BY 1, 2, 3, 4, 5""", p)
    exits = sql.all(
        f"""WITH {eng}, {ctr}
        SELECT exit_situation, COUNT(*) FROM participants
        WHERE id IN (SELECT pid FROM ctr) AND exit_situation IS NOT NULL
          AND (exit_date IS NULL OR (exit_date >= :start AND exit_date <= :end))
        GROUP BY exit_situation""", p)
    if territory:
        notes = sql.one("SELECT COUNT(*) FROM qualitative_notes WHERE written_on >= :start "
                        "AND written_on <= :at", p)[0]
    else:
        notes = sql.one(
            f"""WITH {eng}
            SELECT COUNT(*) FROM qualitative_notes n
            WHERE n.written_on >= :start AND n.written_on <= :at AND (
              n.market_id IN (SELECT m.id FROM markets m WHERE {scope})
              OR (n.market_id IS NULL AND n.donneur_id IS NULL
                  AND n.company_id IN (SELECT company_id FROM eng))"""
            + (" OR n.donneur_id = :donneur" if donneur_id is not None else "") + ")", p)[0]
    followups = sql.all(
        f"""WITH {eng}, {ctr}
        SELECT f.situation, COUNT(DISTINCT f.participant_id) FROM exit_followups f
        JOIN participants pa ON pa.id = f.participant_id
        WHERE f.participant_id IN (SELECT pid FROM ctr) AND f.kind = 'suivi_6_mois'
          AND f.situation IS NOT NULL AND pa.exit_situation IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM exit_followups l WHERE l.participant_id = f.participant_id
                          AND l.kind = f.kind AND l.situation IS NOT NULL AND l.id > f.id)
        GROUP BY f.situation""", p)
    figures = _assemble(markets, engagements, month_types, distinct, typology, exits, notes,
                        territory=territory)
    figures["relation_events"] = int(events)
    figures["followups"] = {str(k): int(n) for k, n in followups if n}
    return figures


def _assemble(markets: list[tuple], engagements: list[tuple], month_types: list[tuple],
              distinct: list[tuple], typology: list[tuple], exits: list[tuple], notes: int, *,
              territory: bool) -> dict[str, Any]:
    """Roll the few aggregate rows up into the product's figures (sums of a few rows)."""
    by_kind: dict[str, int] = defaultdict(int)
    market_donneur: dict[int, int] = {}
    for market_id, kind, donneur in markets:
        by_kind[str(kind)] += 1
        market_donneur[market_id] = donneur
    counts = {(str(kind), int(key)): (int(n), int(persons)) for kind, key, n, persons in distinct}
    eng_out: dict[int, tuple] = {}
    per_market: dict[int, list[Decimal]] = defaultdict(lambda: [h(0), h(0), h(0)])
    per_donneur: dict[int, list[Decimal]] = defaultdict(lambda: [h(0), h(0)])
    total = [h(0)] * 5
    contested: dict[int, Decimal] = defaultdict(lambda: h(0))
    for eid, owed, market_id, donneur, company, period, to_date, cutoff, work, training, n, \
            persons, under_contest in engagements:
        values = (h(owed), h(period), h(to_date), h(cutoff))
        if under_contest:
            contested[company] += h(under_contest)
        eng_out[eid] = (*values, int(n), int(persons))
        m = per_market[market_id]
        m[0] += values[0]
        m[1] += values[1]
        m[2] += values[2]
        d = per_donneur[donneur]
        d[0] += values[0]
        d[1] += values[1]
        total = [total[0] + values[1], total[1] + h(work), total[2] + h(training),
                 total[3] + values[0], total[4] + values[2]]
    months: dict[dt.date, list[Decimal]] = defaultdict(lambda: [h(0), h(0), h(0)])
    types_hours: dict[str, Decimal] = defaultdict(lambda: h(0))
    for month, ctype, counted, work, training in month_types:
        row = months[as_date(month)]
        row[0] += h(counted)
        row[1] += h(work)
        row[2] += h(training)
        if ctype is not None:  # a contract outside the period's contracts: months only
            types_hours[str(ctype)] += h(counted)
    typo: dict[str, dict[str, int]] = {dim: defaultdict(int) for dim in TYPOLOGY}
    for *keys, n in typology:
        for dim, key in zip(TYPOLOGY, keys, strict=True):
            typo[dim][str(key)] += int(n)
    all_n, all_persons = counts.get(("all", 0), (0, 0))
    market_kinds = {"market", "company", "donneur", "all", "entered", "paths"}
    donneur_markets: dict[int, int] = defaultdict(int)
    for donneur in market_donneur.values():
        donneur_markets[donneur] += 1
    return {
        "markets_by_kind": dict(by_kind),
        "totals": (*total[:5], all_n, all_persons),
        "months": sorted((m, *v) for m, v in months.items()),
        "typology": {dim: dict(v) for dim, v in typo.items()},
        "contract_types": {kind: (n, persons, types_hours.get(kind, h(0)))
                           for (kind, _), (n, persons) in counts.items()
                           if kind not in market_kinds and not kind.startswith("kind:")},
        "persons_by_kind": {kind.removeprefix("kind:"): persons
                            for (kind, _), (_, persons) in counts.items()
                            if kind in ("kind:marche_reserve", "kind:marche_insertion")
                            and persons},
        "entered": counts.get(("entered", 0), (0, 0))[1],
        "paths": counts.get(("paths", 0), (0, 0))[1],
        "exits": {str(k): int(n) for k, n in exits},
        "engagements": eng_out,
        "company_persons": {row[4]: 0 for row in engagements}
        | {key: persons for (kind, key), (_, persons) in counts.items() if kind == "company"},
        "markets": {mid: (v[0], v[1], v[2], *counts.get(("market", mid), (0, 0)))
                    for mid, v in per_market.items()}
        | {mid: (h(0), h(0), h(0), 0, 0) for mid in market_donneur if mid not in per_market},
        "donneurs": {did: (donneur_markets[did], per_donneur[did][0], per_donneur[did][1],
                           *counts.get(("donneur", did), (0, 0)))
                     for did in donneur_markets} if territory else {},
        "notes": int(notes),
        "contested": (sum(contested.values(), h(0)), dict(contested)),
    }


def differences(product: dict[str, Any], baseline: dict[str, Any], limit: int = 5) -> list[str]:
    """Where the two sides disagree (empty when they give the same figures)."""
    out: list[str] = []
    for key in product:
        a, b = product[key], baseline.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(set(a) | set(b), key=str)
            diffs = [f"{key}[{k}]: product {a.get(k)} != baseline {b.get(k)}"
                     for k in keys if a.get(k) != b.get(k)]
            out.extend(diffs[:limit])
        else:
            out.append(f"{key}: product {a} != baseline {b}")
    return out


# --- the measurement ------------------------------------------------------------------------------


def biggest_donneur(run: Run, start: dt.date, end: dt.date) -> tuple[int, str, int]:
    with raw(run.db) as sql:
        row = sql.one(
            "SELECT d.id, d.name, COUNT(m.id) FROM donneurs d JOIN markets m ON m.donneur_id = d.id "
            "WHERE m.start_date <= :end AND m.end_date >= :start GROUP BY d.id, d.name "
            "ORDER BY COUNT(m.id) DESC, d.id LIMIT 1", {"start": start, "end": end})
    return int(row[0]), str(row[1]), int(row[2])


def product_bilan(run: Run, donneur_id: int | None, start: dt.date, end: dt.date) -> Any:
    from clauses.bilan import annual_figures, territory_figures

    with run.db.session() as session:
        if donneur_id is None:
            return territory_figures(session, start, end, run.rulebook)
        return annual_figures(session, donneur_id, start, end, run.rulebook)


def baseline_bilan(run: Run, donneur_id: int | None, start: dt.date, end: dt.date
                   ) -> dict[str, Any]:
    with raw(run.db) as sql:
        if sql.dialect == "postgresql":
            # the settings the product's bilans run with (storage.db.tune_for_large_reads):
            # the baseline gets them too, so that the ratio compares SQL and code, not settings
            sql.execute(LARGE_READ_SETTINGS)
        return baseline_figures(sql, start, end, donneur_id, territory=donneur_id is None)


def check_same(run: Run, donneur_id: int | None, start: dt.date, end: dt.date) -> str:
    product = normalise(product_bilan(run, donneur_id, start, end))
    baseline = baseline_bilan(run, donneur_id, start, end)
    problems = differences(product, baseline)
    if problems:
        raise AssertionError("bilan and baseline disagree:\n" + "\n".join(problems))
    return (f"same figures ({product['totals'][0]:,} h, {product['totals'][6]:,} persons, "
            f"{len(product['engagements']):,} engagements)")


def run(run: Run) -> list[Row]:
    year = run.bench_db.report.year
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    donneur_id, name, markets = biggest_donneur(run, start, end)
    rows = []
    for label, who in ((f"annual bilan, one donneur ({markets} markets)", donneur_id),
                       ("annual bilan, whole territory", None)):
        check = check_same(run, who, start, end)
        measured, baseline = interleaved(
            lambda who=who: product_bilan(run, who, start, end),
            lambda who=who: baseline_bilan(run, who, start, end),
            repeat=run.repeat)
        rows.append(run.row(label, measured, baseline, goal=1.3, check=check,
                            note=f"{year}; {name}" if who else str(year)))
        run.log(f"  {label}: {measured.median:.3f}s vs {baseline.median:.3f}s")
    return rows


def scaling_rows(run: Run) -> list[Row]:
    """The whole-territory bilan at this size against the same bilan on one territory, the two
    databases alternated in one process (sizes measured in separate runs meet different loads
    of the shared machine, which would distort a ratio of 20). Goal: the cost grows with the
    scope — all of France (20 territories) at most 25 times one territory."""
    from bench.sizes import TERRITORY

    year = run.bench_db.report.year
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    small = run.backends.database(run.backend, TERRITORY)
    try:
        small_run = Run(small, run.backends, run.rulebook, run.workdir, repeat=run.repeat,
                        log=run.log)
        timings = alternated({
            "big": lambda: product_bilan(run, None, start, end),
            "small": lambda: product_bilan(small_run, None, start, end),
            "big_baseline": lambda: baseline_bilan(run, None, start, end),
            "small_baseline": lambda: baseline_bilan(small_run, None, start, end),
        }, repeat=run.repeat)
    finally:
        run.backends.release(small)
    big, little = timings["big"], timings["small"]
    base_ratio = timings["big_baseline"].median / timings["small_baseline"].median
    scale = run.bench_db.size.scale / TERRITORY.scale
    run.log(f"  scaling: {big.median:.3f}s vs {little.median:.3f}s "
            f"({big.median / little.median:.1f}x; baseline {base_ratio:.1f}x)")
    return [run.row(f"annual bilan, whole territory: {run.size} vs one territory "
                    f"({scale:g}x the scope)", big, little, goal=25.0,
                    check="product on both databases, alternated with the baseline on both",
                    note=f"{year}; the hand-written baseline grows {base_ratio:.1f}x")]
