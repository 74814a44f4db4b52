"""Turn due items (:mod:`clauses.due`) into outbox rows and alerts, each exactly once.

Every function here runs inside the caller's transaction and starts by *claiming* the item's
key in the ledger (``key_values``: ``sent:<kind:subject:period>``). The claim is an insert on a
primary key, so of two runs racing for the same item only one gets it; and the claim, the
outbox rows and the alerts commit or roll back together. Outbox rows carry
``<key>:<recipient>`` as their own dedup key, so even a replay that bypassed the ledger could
not queue a message twice.

Who gets what, and how:

* a company: its users (role ``entreprise``) by chat when they linked one, otherwise by e-mail;
  then its contacts by e-mail, skipping addresses already reached;
* a donneur d'ordre: its référents (contacts and users) by e-mail (bilans and notices are
  documents the buyer files);
* the agency: an alert to the facilitator in charge (or every facilitator when nobody is), which
  :func:`clauses.alerts.raise_alert` pushes to their chat or mailbox.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actions import ActionButton, ActionKind
from clauses.actors import Actor
from clauses.alerts import AlertSpec, Button, raise_alert, raise_alerts
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.due import (
    SIAE_KINDS,
    AnnualBilan,
    ConventionRenewal,
    DeclarationGap,
    EscalationDeadline,
    LatenessChange,
    MarketEnd,
    MeetingReminder,
    approval_key,
    ledger_key,
)
from clauses.errors import DomainError
from clauses.formatting import fr_date, fr_hours, fr_month
from clauses.idempotent import insert_once
from clauses.meetings import MEETING_LABELS_FR
from clauses.outbox import chat_message, email_message, enqueue_chat, enqueue_email, queue_many
from storage.db import rowcount
from storage.models import (
    Alert,
    AlertKind,
    ChatLink,
    Company,
    Contact,
    ContactKind,
    Donneur,
    Engagement,
    KeyValue,
    Lot,
    MeetingKind,
    OutboxMessage,
    Role,
    User,
)
from storage.models.base import table_of

WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")



# --- recipients -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One person to reach; ``tag`` makes the per-recipient dedup key (``u12``, ``c5``)."""

    tag: str
    label: str
    email: str | None
    user_id: int | None = None
    chat_id: int | None = None
    chat_resolved: bool = False  # chat_id was looked up with the recipient: None means no chat


def company_recipients(session: Session, company_ids: list[int]) -> dict[int, list[Recipient]]:
    """Users first (chat or e-mail), then contacts whose address no user already covers."""
    out: dict[int, list[Recipient]] = {cid: [] for cid in company_ids}
    if not company_ids:
        return out
    seen: dict[int, set[str]] = {cid: set() for cid in company_ids}
    for u, chat_id in session.execute(
        select(User, ChatLink.chat_id)
        .outerjoin(ChatLink, ChatLink.user_id == User.id)
        .where(User.company_id.in_(company_ids), User.role == Role.ENTREPRISE,
               User.active.is_(True)).order_by(User.id)
    ):
        company_id = u.company_id
        if company_id is None:  # excluded by the query; the column is nullable
            continue
        email = (u.email or "").strip().lower() or None
        out[company_id].append(Recipient(f"u{u.id}", u.display_name, email, u.id,
                                         chat_id=chat_id, chat_resolved=True))
        if email:
            seen[company_id].add(email)
    for c in session.scalars(
        select(Contact).where(Contact.company_id.in_(company_ids),
                              Contact.kind == ContactKind.ENTREPRISE, Contact.active.is_(True),
                              Contact.email.is_not(None)).order_by(Contact.id)
    ):
        email = (c.email or "").strip().lower()
        if c.company_id is not None and email and email not in seen[c.company_id]:
            seen[c.company_id].add(email)
            out[c.company_id].append(Recipient(f"c{c.id}", c.name, email))
    return out


def donneur_recipients(session: Session, donneur_id: int) -> list[Recipient]:
    """The référents of a donneur with an e-mail address (contacts, then users), once each.

    The one référent lookup: bilans, points d'étape, meeting notices and escalation copies all
    go to these, so a référent registered by e-mail alone (no chat account) gets every one."""
    out: list[Recipient] = []
    seen: set[str] = set()
    for c in session.scalars(
        select(Contact).where(Contact.donneur_id == donneur_id,
                              Contact.kind == ContactKind.REFERENT, Contact.active.is_(True),
                              Contact.email.is_not(None)).order_by(Contact.id)
    ):
        email = (c.email or "").strip().lower()
        if email and email not in seen:
            seen.add(email)
            out.append(Recipient(f"r{c.id}", c.name, email))
    for u in session.scalars(
        select(User).where(User.donneur_id == donneur_id, User.role == Role.REFERENT,
                           User.active.is_(True), User.email.is_not(None)).order_by(User.id)
    ):
        email = (u.email or "").strip().lower()
        if email and email not in seen:
            seen.add(email)
            out.append(Recipient(f"u{u.id}", u.display_name, email, u.id))
    return out


def notify(
    session: Session,
    recipients: list[Recipient],
    key: str,
    *,
    subject: str,
    text: str,
    chat_text: str | None = None,
    html: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    prefer_chat: bool = True,
) -> int:
    """Queue one message per recipient (chat when linked and preferred, else e-mail)."""
    queued = 0
    for r in recipients:
        row_key = f"{key}:{r.tag}"
        if prefer_chat and r.user_id is not None and (r.chat_id is not None or not r.chat_resolved):
            sent = enqueue_chat(session, dedup_key=row_key, user_id=r.user_id, chat_id=r.chat_id,
                                text=chat_text or text)
            if sent is not None:
                queued += 1
                continue
        if r.email:
            enqueue_email(session, dedup_key=row_key, to=r.email, subject=subject, text=text,
                          html=html, attachments=attachments)
            queued += 1
    return queued


def of_fr(text: str) -> str:
    """French "de" with elision: "de mai 2025", "d'octobre 2025", "d'août 2025"."""
    return f"d'{text}" if text[:1].lower() in "aeiouéèêâàîôû" else f"de {text}"


# --- the ledger -----------------------------------------------------------------------------


def claim(session: Session, key: str, day: dt.date, now: dt.datetime, **detail: Any) -> bool:
    """Record that ``key`` is being sent; False when it already was (nothing to do then)."""
    row = KeyValue(key=ledger_key(key),
                   value=json.dumps({"day": day.isoformat(), **detail}, default=str),
                   updated_at=now)
    _, created = insert_once(session, row, KeyValue.key, row.key)
    return created


CLAIM_SLICE = 1000
"""Ledger keys looked up per query by :func:`claim_many`."""


def claim_many(session: Session, claims: Sequence[tuple[str, dict[str, Any]]], day: dt.date,
               now: dt.datetime) -> set[str]:
    """The set-based twin of :func:`claim` for the daily jobs' chunks: (key, detail) pairs,
    the ledger rows of the keys not claimed yet in one lookup per slice and one executemany;
    returns the keys claimed now. Claiming one by one is a lookup, a savepoint and an insert
    each. A concurrent run's row makes the insert fail as a whole (unique key): the caller's
    transaction is lost and it takes its items one by one, where :func:`claim` says "already"."""
    fresh: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, detail in claims:
        fresh.setdefault(ledger_key(key), (key, detail))
    keys = list(fresh)
    for low in range(0, len(keys), CLAIM_SLICE):
        for row_key in session.scalars(select(KeyValue.key).where(
                KeyValue.key.in_(keys[low:low + CLAIM_SLICE]))):
            fresh.pop(row_key, None)
    if fresh:
        session.execute(insert(table_of(KeyValue)), [
            {"key": row_key, "value": json.dumps({"day": day.isoformat(), **detail}, default=str),
             "updated_at": now} for row_key, (_key, detail) in fresh.items()])
    return {key for key, _detail in fresh.values()}


def _alert_once(ctx: Context, session: Session, key: str, detail: dict[str, Any], *,
                kind: AlertKind, subject_type: str, subject_id: int, message: str,
                facilitator_id: int | None = None,
                buttons: Sequence[Sequence[Button]] | None = None) -> bool:
    """A scheduled alert, raised once: the claim on `key` (noting `detail`), in the same
    transaction, makes a rerun or a second scheduler a no-op. False when already claimed."""
    if not claim(session, key, ctx.clock.today(), ctx.clock.now(), **detail):
        return False
    raise_alert(session, kind=kind, facilitator_id=facilitator_id, subject_type=subject_type,
                subject_id=subject_id, dedup_key=key, message=message, buttons=buttons)
    return True


def _signature(ctx: Context) -> str:
    return f"\n\n{ctx.policy.agency_name}\n{ctx.policy.agency_email}\n"


# --- declarations ---------------------------------------------------------------------------


def _gap_lines(gap: DeclarationGap) -> str:
    return "\n".join(
        f"• marché {line.market_reference}, lot {line.lot_number} : contrat n° {line.contract_id}"
        f" ({line.initials})"
        for line in gap.lines
    )


def send_declaration_reminder(
    ctx: Context, session: Session, gap: DeclarationGap,
    recipients: list[Recipient] | None = None,
) -> bool:
    """First or second reminder to the company; the second also alerts the facilitator.

    `recipients` may be fetched once for a whole run (see scheduler.jobs) instead of per item.
    The daily job sends a chunk at a time through :func:`send_declaration_reminders`; both
    write the same rows (texts and alert from :func:`_reminder_texts`, :func:`_reminder_alert`).
    """
    today = ctx.clock.today()
    if not claim(session, gap.key, today, ctx.clock.now(), company_id=gap.company_id):
        return False
    if recipients is None:
        recipients = company_recipients(session, [gap.company_id])[gap.company_id]
    subject, text, chat_text = _reminder_texts(ctx, gap)
    queued = notify(session, recipients, gap.key, subject=subject, text=text, chat_text=chat_text)
    spec = _reminder_alert(gap, queued, today)
    if spec is not None:
        # the set-based writer, even for one (as the fee milestones): a chunk redone item by
        # item still joins the digest waiting for the facilitator (clauses.alert_digest)
        raise_alerts(session, [spec])
    return True


def _reminder_texts(ctx: Context, gap: DeclarationGap) -> tuple[str, str, str]:
    """(subject, e-mail text, chat text) of a declaration reminder: one wording for both writers."""
    of_month = of_fr(fr_month(gap.month))
    lines = _gap_lines(gap)
    if gap.stage == 1:
        head = f"Rappel : les heures d'insertion {of_month} ne sont pas encore déclarées"
    else:
        head = (f"Deuxième rappel : les heures d'insertion {of_month} ne sont toujours pas "
                "déclarées")
    chat_text = (f"📅 {head} :\n{lines}\n\nDéclarez-les ici avec /declarer (travail et "
                 "formation, contrat par contrat).")
    text = (
        f"Bonjour,\n\n{head} pour {gap.company_name} :\n{lines}\n\n"
        "Répondez à ce courriel en indiquant, pour chaque contrat, les heures de travail et de "
        "formation du mois (ou en joignant le tableau de déclaration), ou déclarez-les dans le "
        "chat avec /declarer."
        + _signature(ctx)
    )
    subject = f"{'Rappel' if gap.stage == 1 else 'Deuxième rappel'} : déclaration des heures " \
              f"d'insertion {of_month} — {gap.company_name}"
    return subject, text, chat_text


def _reminder_alert(gap: DeclarationGap, queued: int, today: dt.date) -> AlertSpec | None:
    """The facilitator's alert beside a reminder: after the second one, or when nobody of the
    company could be reached (``queued`` messages); None otherwise."""
    of_month = of_fr(fr_month(gap.month))
    if gap.stage == 2:
        nobody = "" if queued else "\nAucun contact joignable pour cette entreprise : appelez-la."
        return AlertSpec(
            kind=AlertKind.DECLARATION_MANQUANTE, facilitator_id=gap.facilitator_id,
            subject_type="company", subject_id=gap.company_id, dedup_key=gap.alert_key,
            message=(f"{gap.company_name} n'a pas déclaré les heures {of_month} malgré deux "
                     f"rappels (le premier le {fr_date(gap.first_sent_on or today)}).\n"
                     f"{_gap_lines(gap)}{nobody}"),
        )
    if not queued:
        return AlertSpec(
            kind=AlertKind.DECLARATION_MANQUANTE, facilitator_id=gap.facilitator_id,
            subject_type="company", subject_id=gap.company_id,
            dedup_key=f"sans_contact:{gap.key}",
            message=(f"Rappel de déclaration {of_month} impossible pour {gap.company_name} : "
                     "aucun contact avec chat ou e-mail. Ajoutez un contact."),
        )
    return None


def _notify_rows(recipients: list[Recipient], key: str, *, subject: str, text: str,
                 chat_text: str) -> list[OutboxMessage]:
    """The rows :func:`notify` queues, for recipients whose chat is resolved (as
    :func:`company_recipients` gives them): the chat when linked, else the e-mail address."""
    rows: list[OutboxMessage] = []
    for r in recipients:
        row_key = f"{key}:{r.tag}"
        if r.user_id is not None and r.chat_id is not None:
            rows.append(chat_message(dedup_key=row_key, chat_id=r.chat_id, user_id=r.user_id,
                                     text=chat_text))
        elif r.email:
            rows.append(email_message(dedup_key=row_key, to=r.email, subject=subject, text=text))
    return rows


def send_declaration_reminders(ctx: Context, session: Session,
                               gaps: Sequence[DeclarationGap]) -> int:
    """:func:`send_declaration_reminder` for a chunk, set-based; how many were sent.

    The claims in one executemany (:func:`claim_many`: a reminder already claimed is skipped),
    the chunk's recipients in one pair of queries, the messages through
    :func:`clauses.outbox.queue_many` and the facilitators' alerts through
    :func:`clauses.alerts.raise_alerts`: a handful of statements whatever the chunk's size
    (one by one, about ten each: 5,908 reminders on the first business day of a national
    catch-up). A concurrent run's row fails the chunk whole; the job then goes one by one.
    """
    today = ctx.clock.today()
    claimed = claim_many(session, [(g.key, {"company_id": g.company_id}) for g in gaps],
                         today, ctx.clock.now())
    todo = {g.key: g for g in gaps if g.key in claimed}
    recipients = company_recipients(session, sorted({g.company_id for g in todo.values()}))
    rows: list[OutboxMessage] = []
    alerts: list[AlertSpec] = []
    for gap in todo.values():
        subject, text, chat_text = _reminder_texts(ctx, gap)
        queued = _notify_rows(recipients[gap.company_id], gap.key, subject=subject, text=text,
                              chat_text=chat_text)
        rows.extend(queued)
        spec = _reminder_alert(gap, len(queued), today)
        if spec is not None:
            alerts.append(spec)
    queue_many(session, rows)
    raise_alerts(session, alerts)
    return len(todo)


# --- lateness -------------------------------------------------------------------------------


def apply_lateness(ctx: Context, session: Session, change: LatenessChange) -> bool:
    """Record the new status; alert the facilitator when the engagement became late.

    The conditional UPDATE is the guard: a duplicate run finds the status already changed and
    does nothing, so one change of status gives one alert.
    """
    previous = (Engagement.last_progress_status.is_(None) if change.previous is None
                else Engagement.last_progress_status == change.previous)
    result = session.execute(
        update(Engagement).where(Engagement.id == change.engagement_id, previous)
        .values(last_progress_status=change.current)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return False
    if change.alerts:
        raise_alerts(session, [_lateness_alert(change)])  # joins the digest, as above
    return True


def _lateness_alert(c: LatenessChange) -> AlertSpec:
    """The facilitator's alert of an engagement become late (figures and names come with the
    change: no per-alert query)."""
    return AlertSpec(
        kind=AlertKind.ENTREPRISE_EN_RETARD, facilitator_id=c.facilitator_id,
        subject_type="engagement", subject_id=c.engagement_id, dedup_key=c.key,
        message=(f"{c.company_name} est en retard sur le marché {c.market_reference}, lot "
                 f"{c.lot_number} : {fr_hours(c.done)} réalisées sur {fr_hours(c.owed)} "
                 f"(attendu fin {fr_month(c.at)} : {fr_hours(c.expected)})."),
        buttons=[[ActionButton("⚖️ Ouvrir une procédure de relance", ActionKind.OPEN_CASE,
                               c.engagement_id)]],
    )


LATENESS_UPDATE_SLICE = 1000
"""Engagement ids per conditional UPDATE of :func:`apply_lateness_many`."""


def apply_lateness_many(ctx: Context, session: Session, changes: Sequence[LatenessChange]) -> int:
    """:func:`apply_lateness` for a chunk of changes, set-based; how many were recorded.

    The guard is the same conditional UPDATE, one per (previous, new) status pair and slice of
    ids, whose ``RETURNING`` says which engagements it changed: a change a concurrent run
    recorded first is skipped and raises no alert, as one by one. The alerts of the engagements
    become late go in with :func:`clauses.alerts.raise_alerts`.
    """
    pairs: dict[tuple[str | None, str], list[LatenessChange]] = {}
    for change in changes:
        pairs.setdefault((change.previous, change.current), []).append(change)
    changed: set[int] = set()
    for (previous, current), group in pairs.items():
        was = (Engagement.last_progress_status.is_(None) if previous is None
               else Engagement.last_progress_status == previous)
        ids = [c.engagement_id for c in group]
        for low in range(0, len(ids), LATENESS_UPDATE_SLICE):
            changed.update(session.scalars(
                update(Engagement).where(Engagement.id.in_(ids[low:low + LATENESS_UPDATE_SLICE]), was)
                .values(last_progress_status=current).returning(Engagement.id)
                .execution_options(synchronize_session=False)))
    raise_alerts(session, [_lateness_alert(c) for c in changes
                           if c.alerts and c.engagement_id in changed])
    return len(changed)


# --- escalation deadlines -------------------------------------------------------------------


def alert_escalation_deadline(ctx: Context, session: Session, item: EscalationDeadline) -> bool:
    """The company let the letter's deadline pass: tell the facilitator, buyer alert ready."""
    return _alert_once(
        ctx, session, item.key, {"case_id": item.case_id},
        kind=AlertKind.ESCALADE_ECHEANCE, facilitator_id=item.facilitator_id,
        subject_type="escalation", subject_id=item.case_id,
        message=(f"Procédure n° {item.case_id} : {item.company_name} (marché "
                 f"{item.market_reference}, lot {item.lot_number}) n'a pas répondu au courrier "
                 f"dans le délai (échéance du {fr_date(item.deadline)}).\nL'alerte de "
                 f"{item.donneur_name} est prête : elle part par e-mail à ses référents quand "
                 "vous la validez."),
        buttons=[[ActionButton("📨 Alerter le donneur d'ordre", ActionKind.ALERT_BUYER,
                               item.case_id)]],
    )


# --- meetings -------------------------------------------------------------------------------


def _meeting_when(item: MeetingReminder) -> str:
    local = item.local_start
    return f"{WEEKDAYS_FR[local.weekday()]} {fr_date(local.date())} à {local:%H:%M}"


def _meeting_recipients(session: Session, item: MeetingReminder) -> list[Recipient]:
    if item.kind in (MeetingKind.SIAE_DEBUT, MeetingKind.SIAE_MI_ANNEE,
                     MeetingKind.SIAE_FIN_ANNEE):
        ids = list(session.scalars(
            select(Company.id).where(Company.kind.in_(SIAE_KINDS)).order_by(Company.id)
        ))
        by_company = company_recipients(session, ids)
        return [r for cid in ids for r in by_company[cid]]
    out: list[Recipient] = []
    if item.market_id is not None:
        ids = list(session.scalars(
            select(Engagement.company_id).join(Lot, Lot.id == Engagement.lot_id)
            .where(Lot.market_id == item.market_id).distinct().order_by(Engagement.company_id)
        ))
        by_company = company_recipients(session, ids)
        out.extend(r for cid in ids for r in by_company[cid])
    if item.donneur_id is not None and item.kind in (MeetingKind.LANCEMENT,
                                                     MeetingKind.PARTENARIAT_ANNUEL):
        # Référents get an e-mail (a meeting notice they may forward), never a chat message.
        out.extend(Recipient(f"d{r.tag}", r.label, r.email) for r in
                   donneur_recipients(session, item.donneur_id))
    return out


def send_meeting_reminder(ctx: Context, session: Session, item: MeetingReminder) -> bool:
    if not claim(session, item.key, ctx.clock.today(), ctx.clock.now(), meeting_id=item.meeting_id):
        return False
    label = MEETING_LABELS_FR.get(item.kind, "réunion")
    about = f" du marché {item.market_reference} « {item.market_title} »" if item.market_reference else ""
    with_whom = f" avec {item.donneur_name}" if item.kind == MeetingKind.PARTENARIAT_ANNUEL and item.donneur_name else ""
    where = f", lieu : {item.location}" if item.location else ""
    head = f"Rappel : {label}{about}{with_whom} le {_meeting_when(item)}{where}."
    note = f"\n{item.note}" if item.note else ""
    text = f"Bonjour,\n\n{head}{note}" + _signature(ctx)
    subject = f"Rappel : {label} le {fr_date(item.local_start.date())}"
    notify(session, _meeting_recipients(session, item), item.key, subject=subject, text=text,
           chat_text=f"📆 {head}{note}")
    raise_alert(session, kind=AlertKind.REUNION, facilitator_id=item.facilitator_id,
                subject_type="meeting", subject_id=item.meeting_id, dedup_key=item.key,
                message=f"{head}{note}")
    return True


# --- conventions, market ends ---------------------------------------------------------------


def alert_convention_renewal(ctx: Context, session: Session, item: ConventionRenewal) -> bool:
    return _alert_once(
        ctx, session, item.key, {"convention_id": item.convention_id},
        kind=AlertKind.CONVENTION, subject_type="convention", subject_id=item.convention_id,
        message=(f"La convention {item.reference} avec {item.donneur_name} se termine le "
                 f"{fr_date(item.end_date)} (préavis de {item.notice_months} mois) : préparez son "
                 "renouvellement avec le donneur d'ordre."),
    )


def prompt_final_bilan(ctx: Context, session: Session, item: MarketEnd) -> bool:
    return _alert_once(
        ctx, session, item.key, {"market_id": item.market_id},
        kind=AlertKind.BILAN_FINAL, facilitator_id=item.facilitator_id,
        subject_type="market", subject_id=item.market_id,
        message=(f"Le marché {item.reference} « {item.title} » ({item.donneur_name}) est terminé "
                 f"depuis le {fr_date(item.end_date)} : établissez son bilan final synthétique "
                 f"(/point {item.reference}) puis clôturez le marché (clausebot marche clore "
                 f"{item.reference}). Sa remise déclenche la "
                 "facturation du solde de la convention."),
    )


# --- annual bilans --------------------------------------------------------------------------


@dataclass(frozen=True)
class BilanMail:
    """A rendered bilan, ready for the outbox (attachments are stored document ids)."""

    subject: str
    text: str
    html: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)


def ask_bilan_approval(ctx: Context, session: Session, item: AnnualBilan) -> bool:
    return _alert_once(
        ctx, session, item.key, {"donneur_id": item.donneur_id},
        kind=AlertKind.BILAN_ANNUEL, subject_type="donneur", subject_id=item.donneur_id,
        message=(f"Le bilan annuel {item.year} de {item.donneur_name} est prêt à partir vers ses "
                 f"référents. Relisez-le (/bilan {item.year} {item.donneur_name}) puis "
                 "approuvez l'envoi."),
        buttons=[[("✅ Approuver l'envoi", f"bilan:ok:{item.donneur_id}:{item.year}")]],
    )


def send_annual_bilan(
    ctx: Context, session: Session, item: AnnualBilan, render: Callable[[], BilanMail]
) -> bool:
    """E-mail the bilan to each référent; alert the agency when nobody can receive it.

    ``render`` is called only once the sending is claimed, so a duplicate run or a donneur
    without référent renders (and stores charts) for nothing.
    """
    recipients = donneur_recipients(session, item.donneur_id)
    if not recipients:
        raise_alert(
            session, kind=AlertKind.BILAN_ANNUEL, subject_type="donneur",
            subject_id=item.donneur_id, dedup_key=f"sans_referent:{item.key}",
            message=(f"Le bilan annuel {item.year} de {item.donneur_name} ne peut pas partir : "
                     "aucun référent avec une adresse e-mail. Ajoutez-en un ; il partira au "
                     "prochain passage."),
        )
        return False
    if not claim(session, item.key, ctx.clock.today(), ctx.clock.now(),
                 donneur_id=item.donneur_id, approved_by=item.approved_by,
                 to=[r.email for r in recipients]):
        return False
    mail = render()
    notify(session, recipients, item.key, subject=mail.subject, text=mail.text, html=mail.html,
           attachments=mail.attachments, prefer_chat=False)
    audit.record(session, Actor.system(), "bilan.annual.sent", "donneur", item.donneur_id,
                 year=item.year, count=len(recipients))
    return True


def approve_annual_bilan(
    ctx: Context, session: Session, actor: Actor, donneur_id: int, year: int
) -> bool:
    """The facilitator's "approve" button: the next run of the job sends the bilan.

    Returns False when it was already approved (a double press changes nothing).
    """
    authorize(session, actor, Action.ADMIN_WRITE)
    name = session.scalar(select(Donneur.name).where(Donneur.id == donneur_id))
    if name is None:
        raise DomainError("Donneur d'ordre introuvable.", "Unknown donneur.")
    if not 2000 <= year <= ctx.clock.today().year:
        raise DomainError(f"Année invalide pour un bilan annuel : {year}.", "Invalid year.")
    now = ctx.clock.now()
    row = KeyValue(key=approval_key(donneur_id, year),
                   value=json.dumps({"by": actor.label, "user_id": actor.user_id,
                                     "at": now.isoformat()}),
                   updated_at=now)
    _, created = insert_once(session, row, KeyValue.key, row.key)
    if created:
        session.execute(
            update(Alert)
            .where(Alert.dedup_key == f"bilan_annuel_approbation:donneur:{donneur_id}:{year}",
                   Alert.handled_at.is_(None))
            .values(handled_at=now, handled_by_id=actor.user_id)
            .execution_options(synchronize_session=False)
        )
        audit.record(session, actor, "bilan.annual.approved", "donneur", donneur_id, year=year)
    return created

