"""The agency's fee milestones (seed art. 7) and the market life cycle that reaches them.

A market is « prévu » until its clause starts, « en cours » from its start date, « clos » once
its final bilan is delivered. Each step past « prévu » reaches a fee milestone: 50 % (the
convention's start share) at the start, the rest at the final bilan. A milestone is one row
per market and kind (unique), written with the alert to the facilitator in charge and its
outbox message in one transaction, so it is reached once, whichever of the daily job or the
closing command gets there first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import AlertSpec, raise_alerts
from clauses.authz import Action, authorize
from clauses.bilan.lookup import find_donneur, find_market
from clauses.formatting import fr_date, fr_money
from clauses.registries import RegistryError, convention_covering, convention_in_force
from storage.models import (
    AlertKind,
    Convention,
    Donneur,
    FeeMilestone,
    Market,
    MarketStatus,
)
from storage.models.base import table_of

START = "demarrage"
FINAL = "bilan_final"
KIND_FR = {START: "démarrage (calibrage de la clause)", FINAL: "bilan final synthétique"}
CENT = Decimal("0.01")
ALERT_WITHIN_DAYS = 31
"""A milestone older than this when first seen is recorded without an alert."""


def status_for_new_market(start: dt.date, today: dt.date) -> MarketStatus:
    """A market whose clause starts later is « prévu »; the daily job starts it on its day."""
    return MarketStatus.PREVU if start > today else MarketStatus.EN_COURS


@dataclass(frozen=True)
class MilestoneDue:
    """A milestone reached and not yet recorded (what the daily job hands over)."""

    key: str
    market_id: int
    kind: str
    on: dt.date
    alert: bool = True
    """False for a milestone reached long ago (a first run on an imported history): it is
    recorded and listed by `clausebot facturation`, without one alert per old market."""


def _recent(on: dt.date, today: dt.date) -> bool:
    return (today - on).days <= ALERT_WITHIN_DAYS


def final_reached_on(closed_on: dt.date | None, end_date: dt.date, today: dt.date) -> dt.date:
    """The day a closed market reached its final milestone: its closing day; unknown (a market
    loaded as closed, without the day its final bilan was delivered), its end date if that is
    past, else today.

    Why not today for all: a history loaded with markets closed years ago would « reach » every
    one of their final milestones today, each with an alert (66,000 facilitator alerts in a
    national catch-up); dated at their end, they are old milestones, recorded without one.
    """
    if closed_on is not None:
        return closed_on
    return min(end_date, today)


def milestones_due(session: Session, today: dt.date, *,
                   market_range: tuple[int, int] | None = None) -> list[MilestoneDue]:
    """Markets started (or « prévu » whose start has come) without their start milestone, and
    closed markets without their final one.

    ``market_range`` (from, to) limits them to those market ids: the daily job walks the
    markets a slice at a time, so that a first run on a national history (140,000 milestones)
    never holds them all (about 30 MB).

    The missing milestones are found in SQL (outer joins on the unique key): a steady national
    day otherwise read its 140,000 milestones and 74,000 markets into Python to find a dozen
    (1 s). Joins, not EXISTS in the select list, which PostgreSQL costs as a subquery per
    market (2 million) and then compiles with its JIT (0.8 s of 1.3 s)."""
    started = aliased(FeeMilestone)
    finished = aliased(FeeMilestone)
    no_start = started.id.is_(None)
    no_final = finished.id.is_(None)
    markets = [Market.start_date <= today]
    if market_range is not None:
        markets += [Market.id >= market_range[0], Market.id < market_range[1]]
    items = []
    for market_id, start, end, status, closed_on, start_missing, final_missing in session.execute(
            select(Market.id, Market.start_date, Market.end_date, Market.status, Market.closed_on,
                   no_start.label("no_start"), no_final.label("no_final"))
            .outerjoin(started, (started.market_id == Market.id) & (started.kind == START))
            .outerjoin(finished, (finished.market_id == Market.id) & (finished.kind == FINAL))
            .where(*markets, or_(no_start, (Market.status == MarketStatus.CLOS) & no_final))
            .order_by(Market.start_date, Market.id)):
        if start_missing:
            items.append(MilestoneDue(f"honoraires:{START}:market:{market_id}", market_id, START,
                                      start, _recent(start, today)))
        if status == MarketStatus.CLOS and final_missing:
            on = final_reached_on(closed_on, end, today)
            items.append(MilestoneDue(f"honoraires:{FINAL}:market:{market_id}", market_id, FINAL,
                                      on, _recent(on, today)))
    return items


def _amount(conv: Convention | None, kind: str) -> Decimal | None:
    if conv is None or conv.fee_amount is None:
        return None
    share = conv.fee_start_share if kind == START else Decimal(1) - conv.fee_start_share
    return (conv.fee_amount * share).quantize(CENT, rounding=ROUND_HALF_UP)


def record_past_milestones(session: Session, items: Sequence[MilestoneDue]) -> int:
    """Record milestones reached long ago (``alert`` False) set-based; how many were new
    (:func:`record_milestones` of those alone)."""
    return record_milestones(session, [i for i in items if not i.alert])


def record_milestones(session: Session, items: Sequence[MilestoneDue]) -> int:
    """What :func:`reach_milestone` does for each item, set-based; how many were new.

    Why not :func:`reach_milestone` for each: the first run after an agency's history is
    loaded finds every market it ever followed (at national size 140,000 milestones; eleven
    statements each, half an hour). Here the same rows, amounts, audit entries
    and alerts (:func:`clauses.alerts.raise_alerts`) take a handful of statements per chunk. A
    row recorded concurrently makes the insert fail as a whole (unique market + kind): the
    caller then takes the items one at a time.
    """
    if not items:
        return 0
    market_ids = sorted({i.market_id for i in items})
    have = {(m, k) for m, k in session.execute(select(FeeMilestone.market_id, FeeMilestone.kind)
                                                .where(FeeMilestone.market_id.in_(market_ids)))}
    markets = {row.id: row for row in session.execute(
        select(Market.id, Market.donneur_id, Market.status, Market.reference, Market.title,
               Market.facilitator_id).where(Market.id.in_(market_ids)))}
    donneur_ids = {m.donneur_id for m in markets.values()}
    conventions: dict[int, list[Convention]] = {}
    for read in session.scalars(select(Convention).where(Convention.donneur_id.in_(donneur_ids))):
        conventions.setdefault(read.donneur_id, []).append(read)
    names: dict[int, str] = {}
    if any(i.alert for i in items):
        names = {d: n for d, n in session.execute(
            select(Donneur.id, Donneur.name).where(Donneur.id.in_(donneur_ids)))}
    rows: list[dict[str, object]] = []
    audits: list[tuple[str, str, int | None, dict[str, object]]] = []
    alerts: list[AlertSpec] = []
    started: list[MilestoneDue] = []
    for item in items:
        if (item.market_id, item.kind) in have or item.market_id not in markets:
            continue
        have.add((item.market_id, item.kind))
        market = markets[item.market_id]
        conv = convention_covering(conventions.get(market.donneur_id, ()), item.on)
        amount = _amount(conv, item.kind)
        rows.append({"market_id": item.market_id, "kind": item.kind, "reached_on": item.on,
                     "convention_id": conv.id if conv else None, "amount": amount})
        if item.kind == START and market.status == MarketStatus.PREVU:
            started.append(item)
            audits.append(("market.started", "market", item.market_id, {"on": item.on.isoformat()}))
        audits.append(("fee.milestone_reached", "market", item.market_id, {
            "kind": item.kind, "on": item.on.isoformat(),
            "amount": str(amount) if amount is not None else None}))
        if item.alert:
            alerts.append(AlertSpec(
                kind=AlertKind.FACTURATION, facilitator_id=market.facilitator_id,
                subject_type="market", subject_id=item.market_id, dedup_key=item.key,
                message=_alert_message(item, market.reference, market.title,
                                       names.get(market.donneur_id, "?"), conv, amount)))
    if rows:  # Core, not the ORM's bulk insert: that one splits the rows by their None columns
        session.execute(insert(table_of(FeeMilestone)), rows)
    if started:
        session.execute(update(Market).where(Market.id.in_([i.market_id for i in started]))
                        .values(status=MarketStatus.EN_COURS))
    audit.record_many(session, Actor.system(), audits)
    raise_alerts(session, alerts)
    return len(rows)


def _alert_message(item: MilestoneDue, reference: str, title: str, donneur_name: str,
                   conv: Convention | None, amount: Decimal | None) -> str:
    """The facilitator's alert of a milestone reached (one text for both writers)."""
    if conv is None:
        terms = (f"aucune convention de {donneur_name} ne couvre le {fr_date(item.on)} : "
                 "enregistrez-la (« clausebot convention create ») avant de facturer")
    elif amount is None:
        terms = (f"convention {conv.reference}, montant à préciser (« clausebot convention "
                 "modifier --montant »)")
    else:
        terms = f"convention {conv.reference}, {fr_money(amount, ht=True)} à facturer"
    return (f"Facturation : le jalon « {KIND_FR[item.kind]} » du marché {reference} "
            f"« {title} » ({donneur_name}) est atteint le {fr_date(item.on)} — "
            f"{terms}. Une fois la facture émise : clausebot facturation marquer "
            f"--marche {reference} --jalon {item.kind} --date JJ/MM/AAAA.")


def reach_milestone(session: Session, item: MilestoneDue) -> bool:
    """Record the milestone, start a « prévu » market, alert the facilitator in charge.

    Returns False when it was already recorded (another run or the closing command did it).
    """
    market = session.get(Market, item.market_id)
    if market is None:
        return False
    if session.scalar(select(FeeMilestone.id).where(
            FeeMilestone.market_id == market.id, FeeMilestone.kind == item.kind)) is not None:
        return False
    if item.kind == START and market.status == MarketStatus.PREVU:
        market.status = MarketStatus.EN_COURS
        audit.record(session, Actor.system(), "market.started", "market", market.id,
                     on=item.on.isoformat())
    conv = convention_in_force(session, market.donneur_id, item.on)
    row = FeeMilestone(market_id=market.id, kind=item.kind, reached_on=item.on,
                       convention_id=conv.id if conv else None, amount=_amount(conv, item.kind))
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent run recorded it first (unique market + kind)
        return False
    audit.record(session, Actor.system(), "fee.milestone_reached", "market", market.id,
                 kind=item.kind, on=item.on.isoformat(),
                 amount=str(row.amount) if row.amount is not None else None)
    if not item.alert:
        return True
    donneur = session.get(Donneur, market.donneur_id)
    # the set-based writer, even for one: a chunk redone item by item still joins the digest
    # waiting for the facilitator (clauses.alert_digest) instead of pushing each alone
    raise_alerts(session, [AlertSpec(
        kind=AlertKind.FACTURATION, facilitator_id=market.facilitator_id,
        subject_type="market", subject_id=market.id, dedup_key=item.key,
        message=_alert_message(item, market.reference, market.title,
                               donneur.name if donneur else "?", conv, row.amount))])
    return True


def close_market(session: Session, actor: Actor, reference: str, on: dt.date) -> tuple[Market, bool]:
    """Close a market on the day its final bilan is delivered; reaches the final milestone
    at once (and the start one if it was never reached). Returns (market, final reached)."""
    authorize(session, actor, Action.ADMIN_WRITE)
    market = find_market(session, reference)
    if market.status == MarketStatus.CLOS:
        raise RegistryError(f"Le marché {market.reference} est déjà clos (le "
                            f"{fr_date(market.closed_on) if market.closed_on else '?'}).")
    if on < market.start_date:
        raise RegistryError(f"Clôture au {fr_date(on)} refusée : le marché {market.reference} "
                            f"commence le {fr_date(market.start_date)}.")
    if session.scalar(select(FeeMilestone.id).where(
            FeeMilestone.market_id == market.id, FeeMilestone.kind == START)) is None:
        reach_milestone(session, MilestoneDue(f"honoraires:{START}:market:{market.id}",
                                              market.id, START, market.start_date,
                                              _recent(market.start_date, on)))
    market.status = MarketStatus.CLOS
    market.closed_on = on
    audit.record(session, actor, "market.closed", "market", market.id, on=on.isoformat())
    reached = reach_milestone(session, MilestoneDue(f"honoraires:{FINAL}:market:{market.id}",
                                                    market.id, FINAL, on))
    return market, reached


def mark_invoiced(session: Session, actor: Actor, reference: str, kind: str, on: dt.date,
                  invoice: str | None = None) -> FeeMilestone:
    """Record that the milestone's invoice was issued on ``on``."""
    authorize(session, actor, Action.ADMIN_WRITE)
    if kind not in KIND_FR:
        raise RegistryError(f"Jalon inconnu « {kind} » : {START} ou {FINAL}.")
    market = find_market(session, reference)
    row = session.scalar(select(FeeMilestone).where(FeeMilestone.market_id == market.id,
                                                    FeeMilestone.kind == kind))
    if row is None:
        raise RegistryError(f"Le jalon « {KIND_FR[kind]} » du marché {market.reference} n'est "
                            "pas encore atteint : rien à facturer.")
    if row.invoiced_on is not None:
        raise RegistryError(f"Ce jalon est déjà facturé (le {fr_date(row.invoiced_on)}).")
    if on < row.reached_on:
        raise RegistryError(f"Date de facture {fr_date(on)} antérieure au jalon "
                            f"({fr_date(row.reached_on)}).")
    row.invoiced_on = on
    row.invoice_reference = (invoice or "").strip()[:60] or None
    audit.record(session, actor, "fee.invoiced", "market", market.id, kind=kind,
                 on=on.isoformat(), invoice=row.invoice_reference)
    return row


@dataclass(frozen=True)
class FeeLine:
    convention: str | None
    donneur: str
    market: str
    kind: str
    reached_on: dt.date
    amount: Decimal | None
    invoiced_on: dt.date | None
    invoice: str | None


def fee_lines(session: Session, actor: Actor, *, donneur: str | None = None,
              pending_only: bool = False) -> list[FeeLine]:
    """Milestones reached, per convention and market: what is due, what was invoiced."""
    authorize(session, actor, Action.ADMIN_WRITE)
    q = (select(FeeMilestone, Market.reference, Donneur.name, Convention.reference)
         .join(Market, Market.id == FeeMilestone.market_id)
         .join(Donneur, Donneur.id == Market.donneur_id)
         .outerjoin(Convention, Convention.id == FeeMilestone.convention_id))
    if donneur:
        q = q.where(Market.donneur_id == find_donneur(session, donneur).id)
    if pending_only:
        q = q.where(FeeMilestone.invoiced_on.is_(None))
    rows = session.execute(q.order_by(Donneur.name, Convention.reference, Market.reference,
                                      FeeMilestone.reached_on)).all()
    return [FeeLine(conv, d, ref, m.kind, m.reached_on, m.amount, m.invoiced_on,
                    m.invoice_reference) for m, ref, d, conv in rows]
