"""Assembling the figures of each bilan from the SQL aggregates of :mod:`clauses.bilan.queries`.

Display order is decided here, in Python, with accent- and case-insensitive keys: SQL ORDER BY
follows the database collation, which differs between SQLite and PostgreSQL.

The same scope rules serve the annual bilan of a donneur, the point d'étape and the final bilan of
a market, and the territory bilan, so the four reports always agree with each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.bilan import queries as q
from clauses.bilan import rollup, rules
from clauses.bilan.errors import InvalidPeriodError, UnknownDonneurError, UnknownMarketError
from clauses.bilan.figures import (
    AGE_BANDS,
    ZERO,
    BilanFigures,
    BilanKind,
    CompanyLine,
    ContractTypeRow,
    CountRow,
    EngagementLine,
    ExitCategoryRow,
    MarketCounts,
    MeansRow,
    Note,
    Period,
    QpvHours,
    RelationEventLine,
    RelationStatus,
    Typology,
)
from clauses.bilan.lookup import fold
from clauses.clock import PARIS
from clauses.collector import cycle_collector_paused
from storage.db import tune_for_large_reads
from storage.models import Donneur, Market, MarketKind, MarketStatus

AGE_LABELS = {
    "moins_26": "Moins de 26 ans",
    "26_49": "26 à 49 ans",
    "50_plus": "50 ans et plus",
    "non_renseigne": "Non renseigné",
}
GENDER_LABELS = {"F": "Femmes", "M": "Hommes", "X": "Autre / non binaire",
                 "non_renseigne": "Non renseigné"}
QPV_LABELS = {"qpv": "Résident·es QPV", "hors_qpv": "Hors QPV"}


def reference_date(start: dt.date, end: dt.date, today: dt.date | None) -> dt.date:
    """The « as of » of a bilan over ``[start, end]`` made on ``today``: the period's end once
    it is past (a bilan of 2025 made in 2026 is as of 31/12/2025), else today (a bilan of the
    current year counts the months complete today, never the months to come)."""
    if today is None or today >= end:
        return end
    if today < start:
        raise InvalidPeriodError(start, end, reason="future")
    return today


def annual_figures(
    session: Session, donneur_id: int, start: dt.date, end: dt.date, rulebook: Any,
    today: dt.date | None = None,
) -> BilanFigures:
    """Annual bilan of one donneur d'ordre over ``[start, end]`` (usually a calendar year),
    as of :func:`reference_date` (pass ``today`` from the caller's clock)."""
    if start > end:
        raise InvalidPeriodError(start, end)
    name = session.scalar(select(Donneur.name).where(Donneur.id == donneur_id))
    if name is None:
        raise UnknownDonneurError(str(donneur_id), [])
    scope = q.Scope(period=Period(start, end), at=reference_date(start, end, today),
                    donneur_id=donneur_id)
    return _figures(session, scope, rulebook, kind=BilanKind.ANNUEL, donneur=(donneur_id, name))


def market_figures(
    session: Session, market_id: int, at: dt.date | None, rulebook: Any
) -> BilanFigures:
    """Point d'étape of one market at ``at``; the bilan final synthétique when ``at`` is on or
    after the market's end or the market is closed (``at=None``: its end date)."""
    row = session.execute(
        select(
            Market.id, Market.reference, Market.title, Market.start_date, Market.end_date,
            Market.status, Donneur.id, Donneur.name, Market.qpv_hours_share_min,
        )
        .join(Donneur, Donneur.id == Market.donneur_id)
        .where(Market.id == market_id)
    ).one_or_none()
    if row is None:
        raise UnknownMarketError(str(market_id), [])
    _, reference, title, m_start, m_end, status, donneur_id, donneur_name, qpv_target = row
    at = at or m_end
    final = at >= m_end or status == MarketStatus.CLOS
    shown_status = rollup.market_status(str(getattr(status, "value", status)), m_end, at)
    period = Period(min(m_start, at), at)
    scope = q.Scope(period=period, at=at, market_id=market_id)
    figures = _figures(
        session, scope, rulebook,
        kind=BilanKind.FINAL if final else BilanKind.POINT_ETAPE,
        donneur=(donneur_id, donneur_name),
        market=(market_id, reference, title),
    )
    qpv_hours, qpv_persons = q.qpv_hours_to_date(session, market_id, scope.cutoff)
    qpv = QpvHours(hours=qpv_hours, of_hours=figures.hours_to_date, required_share=qpv_target,
                   persons=qpv_persons)
    return dataclasses.replace(figures, qpv=qpv, market_status=shown_status)


def territory_figures(session: Session, start: dt.date, end: dt.date, rulebook: Any,
                      today: dt.date | None = None) -> BilanFigures:
    """Every donneur of the territory over ``[start, end]``; persons are counted once overall."""
    if start > end:
        raise InvalidPeriodError(start, end)
    scope = q.Scope(period=Period(start, end), at=reference_date(start, end, today))
    return _figures(session, scope, rulebook, kind=BilanKind.TERRITOIRE)


# --- assembly --------------------------------------------------------------------------------------


def _figures(
    session: Session,
    scope: q.Scope,
    rulebook: Any,
    *,
    kind: BilanKind,
    donneur: tuple[int, str] | None = None,
    market: tuple[int, str, str] | None = None,
) -> BilanFigures:
    tune_for_large_reads(session)
    with cycle_collector_paused():
        return _assemble(session, scope, rulebook, kind=kind, donneur=donneur, market=market)


def _assemble(
    session: Session,
    scope: q.Scope,
    rulebook: Any,
    *,
    kind: BilanKind,
    donneur: tuple[int, str] | None,
    market: tuple[int, str, str] | None,
) -> BilanFigures:
    # Two statements read the declarations (engagement_rows, month_type_hours); the hour figures
    # of the other tables are rolled up from their rows in Python (see clauses.bilan.rollup).
    market_rows = q.market_rows(session, scope)
    eng_rows = q.engagement_rows(session, scope)
    month_rows = q.month_type_hours(session, scope)
    contract_counts = q.contract_counts(session, scope)
    typo = q.typology(session, scope)
    exit_counts = q.exits(session, scope)
    note_rows = q.notes(session, scope, everything=kind is BilanKind.TERRITOIRE)
    events = q.relation_events(session, scope)
    followup_counts = q.followups(session, scope)

    counts = rollup.market_kinds(market_rows)
    totals = rollup.totals(eng_rows, contract_counts)
    ctypes = rollup.contract_types(month_rows, contract_counts)
    company_persons = {k: persons for k, (_, persons) in contract_counts.by_company.items()}
    donneur_lines = (rollup.donneur_lines(market_rows, eng_rows, contract_counts)
                     if kind is BilanKind.TERRITOIRE else [])

    engagements, method = _engagement_lines(eng_rows, scope, rulebook)
    folded = _memo_fold()
    exits, exited = _exit_rows(exit_counts, rulebook)
    notes = [_note(r) for r in note_rows]
    synthesis_rows = [r for r in note_rows if r[1] and not r[2] and not r[3]]
    if kind is BilanKind.ANNUEL:
        notes = [_note(r) for r in note_rows if r not in synthesis_rows]
    else:
        synthesis_rows = []
    # Contested hours stay in the totals (a contest asks the company for a proof or a
    # correction, it does not decide that the hours were not worked) and are shown beside them,
    # so that a reader never takes them for checked figures (docs/domain.md, « Control of
    # declared hours »); summed with the period's hours in the engagement scan.
    contested = {r.engagement_id: r.hours_contested for r in eng_rows if r.hours_contested}
    return BilanFigures(
        kind=kind,
        period=scope.period,
        at=scope.at,
        progress_cutoff=scope.cutoff,
        donneur_id=donneur[0] if donneur else None,
        donneur_name=donneur[1] if donneur else None,
        market_id=market[0] if market else None,
        market_reference=market[1] if market else None,
        market_title=market[2] if market else None,
        markets=MarketCounts(
            total=sum(counts.values()),
            by_kind={k.value: counts.get(k.value, 0) for k in MarketKind}
            | {k: n for k, n in counts.items() if k not in {m.value for m in MarketKind}},
        ),
        hours_counted=totals.hours_counted,
        hours_contested=sum(contested.values(), ZERO),
        contested_by_company=_contested_by_company(contested, engagements),
        hours_work=totals.hours_work,
        hours_training=totals.hours_training,
        hours_owed=totals.hours_owed,
        hours_to_date=totals.hours_to_date,
        contracts=totals.contracts,
        persons=totals.persons,
        hours_by_month=rollup.months(month_rows),
        typology=_typology(typo, rulebook),
        contract_types=_contract_type_rows(ctypes, rulebook),
        exits=exits,
        persons_exited=exited,
        companies=sorted(_company_lines(engagements, eng_rows, company_persons),
                         key=lambda c: (folded(c.name), c.company_id)),
        engagements=sorted(engagements, key=lambda e: (
            folded(e.company_name), e.company_id, e.market_reference, e.lot_number)),
        market_lines=sorted(rollup.market_lines(market_rows, eng_rows, contract_counts,
                                                scope.at),
                            key=lambda m: (folded(m.donneur_name), m.reference)),
        means=_means_rows(engagements),
        donneurs=sorted(donneur_lines, key=lambda d: folded(d.name)),
        notes=notes,
        progress_method=method,
        headline=rollup.headline(engagements),
        apart=rollup.apart(market_rows, eng_rows, contract_counts),
        persons_entered=contract_counts.entered,
        persons_in_paths=contract_counts.paths,
        relation_events=[_event_line(e) for e in events],
        followups=None if followup_counts is None else _followup_rows(followup_counts, rulebook),
        synthesis=[_note(r) for r in synthesis_rows],
    )


def _contested_by_company(contested: dict[int, Decimal],
                          engagements: list[EngagementLine]) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for e in engagements:
        if contested.get(e.engagement_id):
            out[e.company_id] = out.get(e.company_id, ZERO) + contested[e.engagement_id]
    return out


def _memo_fold() -> Callable[[str], str]:
    """:func:`fold` computed once per distinct name: the sort keys repeat each company's name on
    every engagement line and each donneur's on every market line."""
    cache: dict[str, str] = {}

    def folded(text: str) -> str:
        value = cache.get(text)
        if value is None:
            value = cache[text] = fold(text)
        return value

    return folded


def _count_rows(counts: dict[str, int], labels: dict[str, str], order: list[str] | None = None,
                ) -> list[CountRow]:
    keys = order if order is not None else sorted(
        counts, key=lambda k: (k == "non_renseigne", -counts[k], k.lower()))
    return [CountRow(k, labels.get(k, k), counts[k]) for k in keys if k in counts]


def _typology(typo: dict[str, dict[str, int]], rulebook: Any) -> Typology:
    return Typology(
        age_bands=_count_rows(typo["age_band"], AGE_LABELS, list(AGE_BANDS)),
        genders=_count_rows(typo["gender"], GENDER_LABELS, [*GENDER_LABELS, *sorted(
            set(typo["gender"]) - set(GENDER_LABELS))]),
        communes=_count_rows(typo["commune"], {"non_renseigne": "Non renseignée"}),
        qpv=_count_rows(typo["qpv"], QPV_LABELS, ["qpv", "hors_qpv"]),
        status_at_entry=_status_rows(typo["status"], rulebook),
    )


def _status_rows(counts: dict[str, int], rulebook: Any) -> list[CountRow]:
    criteria = rules.criterion_labels(rulebook)
    rows = _count_rows(counts, {k: label for k, (label, _) in criteria.items()}
                       | {"non_renseigne": "Non renseigné"})
    return [CountRow(r.key, r.label, r.count, sensitive=criteria.get(r.key, ("", False))[1])
            for r in rows]


def _contract_type_rows(rows: list[tuple[str, int, int, Decimal]], rulebook: Any,
                        ) -> list[ContractTypeRow]:
    out = []
    for key, contracts, persons, hours in rows:
        label, durable = rules.contract_type_info(rulebook, key)
        out.append(ContractTypeRow(key, label, durable, contracts, persons, hours))
    return sorted(out, key=lambda r: (-r.contracts, r.label.lower()))


def _exit_rows(counts: dict[str, int], rulebook: Any) -> tuple[list[ExitCategoryRow], int]:
    categories = rules.exit_categories(rulebook)
    known = {s for _, _, situations in categories for s in situations}
    rows = []
    for key, label, situations in categories:
        lines = [CountRow(s, lbl, counts[s]) for s, lbl in situations.items() if counts.get(s)]
        if key == rules.OTHER_CATEGORY:
            # a situation the rulebook no longer knows is still an exit: report it, as "autre"
            lines += [CountRow(s, s, n) for s, n in sorted(counts.items()) if s not in known]
        rows.append(ExitCategoryRow(key, label, sum(line.count for line in lines), lines))
    return rows, sum(counts.values())


def _engagement_lines(rows: list[q.EngagementRow], scope: q.Scope, rulebook: Any,
                      ) -> tuple[list[EngagementLine], str]:
    """One line per engagement row, its progress by the shared rule. A territory has tens of
    thousands: the loop keeps its lookups (cutoff, functions) out of the per-row work."""
    lines: list[EngagementLine] = []
    append = lines.append
    progress, relation, cutoff = rules.progress, _relation, scope.cutoff
    method = ""
    for r in rows:
        expected, status, label, method = progress(
            r.hours_owed, r.hours_at_cutoff, r.start, r.end, cutoff, rulebook)
        append(EngagementLine(
            engagement_id=r.engagement_id, market_id=r.market_id,
            market_reference=r.market_reference, lot_number=r.lot_number, lot_label=r.lot_label,
            company_id=r.company_id, company_name=r.company_name, means=r.means,
            hours_owed=r.hours_owed,
            hours_period=r.hours_period, hours_to_date=r.hours_to_date,
            hours_at_cutoff=r.hours_at_cutoff, hours_expected=expected,
            contracts=r.contracts, persons=r.persons, progress=status, progress_label=label,
            relation=relation(r.severity, status), market_kind=r.market_kind,
        ))
    return lines, method


def _relation(severity: int, progress: str) -> RelationStatus:
    if severity >= q.SEVERITY_DEFAULT:
        return RelationStatus.DEFAILLANTE
    if severity >= q.SEVERITY_OPEN:
        return RelationStatus.SOUS_PROCEDURE
    if progress == "en_retard":
        return RelationStatus.EN_RETARD
    return RelationStatus.A_JOUR


def _company_lines(lines: list[EngagementLine], rows: list[q.EngagementRow],
                   persons: dict[int, int]) -> list[CompanyLine]:
    """Group the engagement lines (already aggregated rows) per company; the worst relation wins.

    One pass over the lines, each company's sums kept in a list (a territory has tens of
    thousands of lines: a pass per figure cost as much as the rest of the assembly)."""
    kinds = {r.company_id: r.company_kind for r in rows}
    # [name, engagements, owed, period, to date, expected, contracts, worst relation]
    acc: dict[int, list[Any]] = {}
    for line in lines:
        a = acc.get(line.company_id)
        if a is None:
            acc[line.company_id] = [line.company_name, 1, ZERO + line.hours_owed,
                                    ZERO + line.hours_period, ZERO + line.hours_to_date,
                                    ZERO + line.hours_expected, line.contracts, line.relation]
            continue
        a[1] += 1
        a[2] += line.hours_owed
        a[3] += line.hours_period
        a[4] += line.hours_to_date
        a[5] += line.hours_expected
        a[6] += line.contracts
        if line.relation.severity > a[7].severity:  # the first of the worst, as max() kept
            a[7] = line.relation
    return [
        CompanyLine(
            company_id=company_id, name=name, kind=kinds[company_id], engagements=n,
            hours_owed=owed, hours_period=period, hours_to_date=to_date,
            hours_expected=expected, contracts=contracts,
            persons=persons.get(company_id, 0), relation=relation,
        )
        for company_id, (name, n, owed, period, to_date, expected, contracts, relation)
        in acc.items()
    ]


def _means_rows(lines: list[EngagementLine]) -> list[MeansRow]:
    """Engagement lines (already aggregated rows) summed by the way the clause is met."""
    acc: dict[str, list[Any]] = {}
    for line in lines:
        a = acc.get(line.means)
        if a is None:
            acc[line.means] = [1, ZERO + line.hours_owed, ZERO + line.hours_period]
        else:
            a[0] += 1
            a[1] += line.hours_owed
            a[2] += line.hours_period
    rows = [MeansRow(key, n, owed, period) for key, (n, owed, period) in acc.items()]
    return sorted(rows, key=lambda r: (-r.engagements, r.key))


def _note(row: tuple[dt.date, str | None, str | None, str | None, str]) -> Note:
    written_on, donneur, market, company, body = row
    parts = []
    if donneur:
        parts.append(donneur)
    if market:
        parts.append(f"marché {market}")
    if company:
        parts.append(company)
    return Note(written_on=written_on, about=" · ".join(parts) or "Général", body=body)


def _event_line(event: q.RelationEvent) -> RelationEventLine:
    if event.source == "reunion":
        label = rules.meeting_label(event.key)
    else:
        label = rules.step_label(event.key)
    return RelationEventLine(
        day=event.at.astimezone(PARIS).date() if event.at.tzinfo else event.at.date(),
        source=event.source, label=label, company_name=event.company_name,
        market_reference=event.market_reference,
        state_label=rules.state_label(event.state) if event.state else None,
        note=event.note,
    )


def _followup_rows(counts: dict[str, int], rulebook: Any) -> list[CountRow]:
    """Situations at six months, labelled like the exit situations (unknown keys as they are)."""
    labels = {s: label for _, _, situations in rules.exit_categories(rulebook)
              for s, label in situations.items()}
    return [CountRow(k, labels.get(k, k), n)
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
