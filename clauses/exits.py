"""Exits and follow-up in employment: what became of a person after the clause's contract.

The bilans report the situation of the persons at their exit (seed annex §2B: emploi durable,
emploi de transition, sortie positive, autres sorties; the situations are rulebook data). Only
the employer and the facilitator know it, so:

* when a contract has ended (its end date passed, planned or early) and the person has no other
  contract running, the scheduler asks the employer once « Que devient … ? » — chat buttons when
  the company has a linked chat account, else an e-mail with a numbered list to answer by reply;
* the answer (or the facilitator, from the CLI) records the exit with :func:`record_exit`, which
  sets ``Participant.exit_situation`` / ``exit_date`` (what the bilans read), audits the change
  and sends the prescriber the post-mission feedback (once);
* six months after the exit, the same employer is asked again (« suivi dans l'emploi »); that
  answer is kept in ``exit_followups`` only.

Every question is one ``exit_followups`` row, unique per (contract, kind): asking twice, a button
pressed twice or an e-mail answered twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, exists, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import AlertSpec, keyboard, raise_alerts
from clauses.authz import Action, NotAllowed, authorize, is_allowed
from clauses.context import Context
from clauses.counting import add_months
from clauses.declaring.lookup import is_still_running_after, still_running_after
from clauses.errors import DomainError, UnknownSituationError
from clauses.formatting import fr_date
from clauses.importing.values import ValueProblem, parse_date
from clauses.outbox import chat_message, email_message, queue_many
from clauses.prescriber_feedback import prescriber_recipients, send_feedback
from clauses.reminders import Recipient, company_recipients
from storage.models import (
    AlertKind,
    Company,
    Contract,
    ExitFollowup,
    OutboxMessage,
    Participant,
    Role,
    person_name,
)
from storage.models.base import table_of
from storage.models.exits import EXIT_QUESTION, FOLLOWUP_QUESTION

ASK_WINDOW_DAYS = 92
"""Contracts that ended longer ago than this are not asked about by the scheduler (at the first
run on a database loaded with history, that would be hundreds of questions about old contracts):
the facilitator records those exits (``clausebot sortie list --manquantes``)."""

FOLLOWUP_MONTHS = 6
"""The follow-up in employment is asked this many months after the exit."""

CALLBACK = "ex"
"""Prefix of the chat buttons of the questions (handled by :mod:`bot.flows.exit`)."""

SUBJECT_TAG = re.compile(r"\[(sortie|suivi)\s+n[°o]?\s*(\d{1,9})\]", re.IGNORECASE)
"""The tag the question's e-mail subject carries, kept by « Re: » in the employer's answer."""

KIND_WORD = {EXIT_QUESTION: "sortie", FOLLOWUP_QUESTION: "suivi"}


# --- the rulebook's situations ------------------------------------------------------------------


def numbered_situations(ctx: Context) -> list[tuple[str, str]]:
    """(situation key, « Catégorie — situation ») in the rulebook's order: the e-mail's list
    numbers them from 1, and the answer « 3 » is read back with the same list."""
    return [
        (key, f"{category.label_fr} — {situation.label_fr}")
        for category in ctx.rulebook.exits.categories.values()
        for key, situation in category.situations.items()
    ]


def situation_label(ctx: Context, key: str) -> str:
    """« Emploi durable — CDI » for ``cdi``; refuses a key the rulebook does not know."""
    for situation, label in numbered_situations(ctx):
        if situation == key:
            return label
    raise UnknownSituationError(key, [k for k, _ in numbered_situations(ctx)])


def parse_exit_date(text: str) -> dt.date:
    """JJ/MM/AAAA (or AAAA-MM-JJ), with a French message saying how to write it."""
    try:
        return parse_date(text)
    except ValueProblem as exc:
        raise DomainError(f"Date de sortie : {exc}") from None


# --- which contracts are running ----------------------------------------------------------------


class ContractSpan(Protocol):
    """What the exit rules read of a contract (a stored one, or one a history file is about to
    record: no id yet)."""

    @property
    def id(self) -> int | None: ...
    @property
    def contract_type(self) -> str: ...
    @property
    def start_date(self) -> dt.date: ...
    @property
    def end_date(self) -> dt.date | None: ...


def _contract_line(ctx: Context, c: ContractSpan) -> str:
    kind = ctx.rulebook.contract_types.get(c.contract_type)
    label = kind.label_fr if kind is not None else c.contract_type
    end = f"jusqu'au {fr_date(c.end_date)}" if c.end_date else "sans date de fin"
    number = f"contrat n° {c.id}" if c.id is not None else "contrat"
    return f"{number} ({label}, du {fr_date(c.start_date)}, {end})"


def check_exit(ctx: Context, name: str, contracts: Sequence[ContractSpan], exit_date: dt.date) -> None:
    """The rules of an exit on the person's contracts, without the database (shared by
    :func:`record_exit` and the history import's batch check): a contract exists, the date is
    not in the future nor before the first contract, no contract goes on after it."""
    if not contracts:
        raise DomainError(f"Aucun contrat n'est enregistré pour {name} : une sortie se note à la "
                          "fin d'un contrat. Enregistrez d'abord l'embauche.")
    if exit_date > ctx.clock.today():
        raise DomainError(f"La date de sortie {fr_date(exit_date)} est dans le futur : une sortie "
                          "s'enregistre une fois le contrat terminé.")
    first = min(contracts, key=lambda c: (c.start_date, c.id is None, c.id or 0))
    if exit_date < first.start_date:
        raise DomainError(f"La date de sortie {fr_date(exit_date)} précède le début du "
                          f"{_contract_line(ctx, first)} : vérifiez la date.")
    running = [c for c in contracts if is_still_running_after(c.start_date, c.end_date, exit_date)]
    if running:
        shown = min(running, key=lambda c: (c.id is None, c.id or 0))
        raise DomainError(
            f"{name} est encore sous contrat le {fr_date(exit_date)} ({_contract_line(ctx, shown)}) : "
            "enregistrez d'abord la fin de ce contrat, ou indiquez une date de sortie postérieure.")


# --- recording an exit --------------------------------------------------------------------------


def _may_act_on_contract(session: Session, actor: Actor, contract_id: int) -> bool:
    """The facilitator, or the company whose engagement or employees the contract is."""
    if actor.is_staff:
        return True
    return actor.role == Role.ENTREPRISE and is_allowed(
        session, actor, Action.DECLARATION_WRITE, "contract", contract_id)


def record_exit(
    ctx: Context,
    session: Session,
    actor: Actor,
    participant_id: int,
    *,
    situation: str,
    exit_date: dt.date,
) -> Participant:
    """Record (or correct) a person's exit; audited; the prescriber hears of it once.

    Refused, writing nothing: a situation the rulebook does not know, a date in the future, a
    person with no contract, a date before the start of their first contract, a person still
    under contract on that date (end that contract first).
    """
    participant = session.get(Participant, participant_id)
    contracts = list(session.scalars(
        select(Contract).where(Contract.participant_id == participant_id)
        .order_by(Contract.start_date, Contract.id)))
    if participant is None or participant.anonymised_at is not None:
        raise NotAllowed()
    last = max(contracts, key=lambda c: (c.end_date or dt.date.max, c.start_date, c.id), default=None)
    if not actor.is_staff and (last is None or not _may_act_on_contract(session, actor, last.id)):
        raise NotAllowed()
    label = situation_label(ctx, situation)
    name = participant.display_name
    check_exit(ctx, name, contracts, exit_date)
    before = (participant.exit_situation, participant.exit_date)
    participant.exit_situation = situation
    participant.exit_date = exit_date
    participant.last_activity_at = ctx.clock.now()
    ended = max((c for c in contracts if c.start_date <= exit_date),
                key=lambda c: (c.end_date or dt.date.min, c.id))
    row = _question_row(session, ended.id, EXIT_QUESTION)
    if row is None:
        row = ExitFollowup(participant_id=participant_id, contract_id=ended.id, kind=EXIT_QUESTION,
                           asked_at=ctx.clock.now())
        session.add(row)
    row.answered_at = ctx.clock.now()
    row.situation = situation
    row.answered_by_user_id = actor.user_id
    row.answered_by_email = None if actor.user_id else actor.email
    audit.record(session, actor, "participant.exit", "participant", participant_id,
                 situation=situation, exit_date=exit_date.isoformat(), contract_id=ended.id,
                 previous_situation=before[0],
                 previous_date=before[1].isoformat() if before[1] else None)
    _tell_prescriber(ctx, session, participant, ended, label, exit_date)
    session.flush()
    return participant


def _question_row(session: Session, contract_id: int, kind: str) -> ExitFollowup | None:
    return session.scalar(select(ExitFollowup).where(ExitFollowup.contract_id == contract_id,
                                                     ExitFollowup.kind == kind))


def _tell_prescriber(ctx: Context, session: Session, participant: Participant, contract: Contract,
                     label: str, exit_date: dt.date) -> None:
    """The post-mission feedback (annex D), once per person: a later correction is not resent.
    Least data that serves: the person's initials, the employer, the dates, the situation."""
    employer = session.scalar(select(Company.name).where(Company.id == contract.employer_id)) or ""
    who = f"{participant.last_name.upper()} {participant.first_name[:1]}."
    text = (
        f"Bonjour,\n\nRetour de fin de mission pour la personne que vous avez orientée : {who}\n"
        f"• employeur : {employer}\n"
        f"• contrat : du {fr_date(contract.start_date)}"
        + (f" au {fr_date(contract.end_date)}" if contract.end_date else "") + "\n"
        f"• situation à la sortie ({fr_date(exit_date)}) : {label}\n\n"
        "Un point de suivi dans l'emploi sera fait dans six mois.\n\n"
        f"{ctx.policy.agency_name}\n{ctx.policy.agency_email}\n"
    )
    send_feedback(session, prescriber_recipients(session, participant.id),
                  dedup_key=f"exit:participant:{participant.id}:prescriber",
                  subject=f"Retour de fin de mission : {who}", text=text)


# --- the questions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One question due: the exit of a contract that ended, or its 6-month follow-up."""

    key: str
    kind: str
    contract_id: int
    participant_id: int
    employer_id: int


def questions_due(session: Session, today: dt.date) -> list[Question]:
    """Exit questions (contract ended in the last ASK_WINDOW_DAYS, nothing else running today,
    no exit recorded since, never asked) and follow-ups (exit answered FOLLOWUP_MONTHS ago)."""
    other = aliased(Contract)
    asked = exists().where(ExitFollowup.contract_id == Contract.id, ExitFollowup.kind == EXIT_QUESTION)
    # Another contract not ended yet (running, or already signed to start later: a renewal)
    # means the person has not left.
    still_working = exists().where(
        other.participant_id == Contract.participant_id, other.id != Contract.id,
        or_(other.end_date.is_(None), other.end_date >= today))
    ended = session.execute(
        select(Contract.id, Contract.participant_id, Contract.employer_id)
        .join(Participant, Participant.id == Contract.participant_id)
        .where(Contract.end_date < today,
               Contract.end_date >= today - dt.timedelta(days=ASK_WINDOW_DAYS),
               Participant.anonymised_at.is_(None),
               or_(Participant.exit_date.is_(None), Participant.exit_date < Contract.end_date),
               ~asked, ~still_working)
        .order_by(Contract.id)
    ).all()
    out = [Question(f"sortie:contrat:{cid}", EXIT_QUESTION, cid, pid, eid) for cid, pid, eid in ended]
    followed = aliased(ExitFollowup)
    # Exits of about six months ago (a month's window, so a few days of downtime are caught up);
    # the exact day is add_months(exit, 6): 31/08 → 28/02.
    cutoff = add_months(today, -FOLLOWUP_MONTHS) + dt.timedelta(days=3)
    due = session.execute(
        select(Contract.id, Contract.participant_id, Contract.employer_id, Participant.exit_date)
        .join(ExitFollowup, and_(ExitFollowup.contract_id == Contract.id,
                                 ExitFollowup.kind == EXIT_QUESTION))
        .join(Participant, Participant.id == Contract.participant_id)
        .where(ExitFollowup.answered_at.is_not(None), Participant.exit_date <= cutoff,
               Participant.exit_date > add_months(cutoff, -1),
               Participant.anonymised_at.is_(None),
               ~exists().where(followed.contract_id == Contract.id,
                               followed.kind == FOLLOWUP_QUESTION))
        .order_by(Contract.id)
    ).all()
    out += [Question(f"suivi:contrat:{cid}", FOLLOWUP_QUESTION, cid, pid, eid)
            for cid, pid, eid, left in due
            if left is not None and add_months(left, FOLLOWUP_MONTHS) <= today]
    return out


def category_keyboard(ctx: Context, followup_id: int) -> list[list[tuple[str, str]]]:
    """The first screen of the chat question: one button per exit category."""
    return [[(c.label_fr, f"{CALLBACK}:c:{followup_id}:{key}")]
            for key, c in ctx.rulebook.exits.categories.items()]


def situation_keyboard(ctx: Context, followup_id: int, category: str) -> list[list[tuple[str, str]]]:
    """The second screen: the category's situations, and a way back."""
    cat = ctx.rulebook.exits.categories.get(category)
    if cat is None:
        raise DomainError("Catégorie de sortie inconnue : choisissez-en une dans la liste.")
    rows = [[(s.label_fr[:60], f"{CALLBACK}:s:{followup_id}:{key}")] for key, s in cat.situations.items()]
    rows.append([("↩️ Autre catégorie", f"{CALLBACK}:b:{followup_id}")])
    return rows


def _day(day: dt.date | None) -> str:
    """A question is only asked about an ended contract, so the date is there; the column is
    nullable (a CDI has no planned end), hence a plain word rather than a crash."""
    return fr_date(day) if day is not None else "(date inconnue)"


def question_text(ctx: Context, kind: str, name: str, contract: Contract, exit_date: dt.date | None) -> str:
    if kind == FOLLOWUP_QUESTION:
        return (f"Suivi dans l'emploi : six mois après sa sortie du {_day(exit_date or contract.end_date)}, "
                f"que devient {name} ?")
    return (f"Le contrat de {name} a pris fin le {_day(contract.end_date)}. Que devient {name} ? "
            "Votre réponse alimente le bilan de la clause (situation à la sortie).")


def ask_question(ctx: Context, session: Session, item: Question) -> bool:
    """Ask the employer once (the row's unique key); chat when a company account is linked,
    else e-mail; nobody to ask → the facilitator gets an alert to record it."""
    row = _question_row(session, item.contract_id, item.kind)
    if row is not None:
        return False
    row = ExitFollowup(participant_id=item.participant_id, contract_id=item.contract_id,
                       kind=item.kind, asked_at=ctx.clock.now())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent run asked first: the unique key says so
        return False
    participant = session.get(Participant, item.participant_id)
    contract = session.get(Contract, item.contract_id)
    assert participant is not None and contract is not None
    recipients = company_recipients(session, [item.employer_id])[item.employer_id]
    facilitator = session.scalar(select(Company.facilitator_id).where(Company.id == item.employer_id))
    rows, alert = _asking(ctx, item, row.id, participant, contract, recipients, facilitator)
    queue_many(session, rows)
    raise_alerts(session, [alert] if alert else [])
    return True


def _asking(ctx: Context, item: Question, followup_id: int, participant: Participant,
            contract: Contract, recipients: list[Recipient], facilitator: int | None
            ) -> tuple[list[OutboxMessage], AlertSpec | None]:
    """What asks the question: chat when a company account is linked, else e-mail, else an
    alert to the facilitator in charge (one rule for :func:`ask_question` and
    :func:`ask_questions`)."""
    name = person_name(participant.last_name, participant.first_name)
    text = question_text(ctx, item.kind, name, contract, participant.exit_date)
    chats = [r for r in recipients if r.user_id is not None and r.chat_id is not None]
    key = f"{KIND_WORD[item.kind]}:{followup_id}"
    if chats:
        markup = keyboard(category_keyboard(ctx, followup_id))
        return [chat_message(dedup_key=f"{key}:{r.tag}", user_id=r.user_id, chat_id=r.chat_id,
                             text=f"❓ {text}", reply_markup=markup)
                for r in chats if r.chat_id is not None], None
    emails = [r for r in recipients if r.email]
    if emails:
        lines = [f"{n}. {label}" for n, (_, label) in enumerate(numbered_situations(ctx), start=1)]
        body = (f"Bonjour,\n\n{text}\n\nRépondez simplement à ce message en indiquant le numéro de "
                "la situation (par exemple « 1 ») :\n\n" + "\n".join(lines)
                + f"\n\nMerci.\n{ctx.policy.agency_name}\n{ctx.policy.agency_email}\n")
        subject = f"Que devient {name} ? [{KIND_WORD[item.kind]} n° {followup_id}]"
        return [email_message(dedup_key=f"{key}:{r.tag}", to=r.email, subject=subject, text=body)
                for r in emails if r.email], None
    return [], AlertSpec(
        kind=AlertKind.AUTRE, facilitator_id=facilitator, subject_type="participant",
        subject_id=item.participant_id, dedup_key=f"{key}:sans_contact",
        message=(f"{'Suivi à 6 mois' if item.kind == FOLLOWUP_QUESTION else 'Sortie'} à "
                 f"enregistrer pour {name} (contrat n° {contract.id}) : l'employeur n'a ni "
                 "compte de discussion ni adresse e-mail. Notez-la avec « clausebot sortie "
                 "record »."))


def ask_questions(ctx: Context, session: Session, items: Sequence[Question]) -> int:
    """:func:`ask_question` for a chunk, set-based; how many were asked.

    The claim is the same row per contract and kind (unique): rows already there are skipped,
    and a concurrent run's row makes the flush fail as a whole, so the caller takes the items
    one by one. The persons, contracts, recipients and facilitators of the chunk are read in
    one query each, the claims, messages and alerts written in one executemany each.
    """
    have = set()
    ids = sorted({i.contract_id for i in items})
    for cid, kind in session.execute(select(ExitFollowup.contract_id, ExitFollowup.kind)
                                     .where(ExitFollowup.contract_id.in_(ids))):
        have.add((cid, kind))
    todo: dict[tuple[int, str], Question] = {}
    for item in items:
        if (item.contract_id, item.kind) not in have:
            todo.setdefault((item.contract_id, item.kind), item)
    if not todo:
        return 0
    now = ctx.clock.now()
    session.execute(insert(table_of(ExitFollowup)), [
        {"participant_id": i.participant_id, "contract_id": i.contract_id, "kind": i.kind,
         "asked_at": now} for i in todo.values()])
    claimed = {(cid, kind): fid for fid, cid, kind in session.execute(
        select(ExitFollowup.id, ExitFollowup.contract_id, ExitFollowup.kind)
        .where(ExitFollowup.contract_id.in_([i.contract_id for i in todo.values()])))}
    claims = [ExitFollowup(id=claimed[key], participant_id=i.participant_id,
                           contract_id=i.contract_id, kind=i.kind, asked_at=now)
              for key, i in todo.items()]
    people = {p.id: p for p in session.scalars(select(Participant).where(
        Participant.id.in_({i.participant_id for i in todo.values()})))}
    contracts = {c.id: c for c in session.scalars(select(Contract).where(Contract.id.in_(ids)))}
    employers = sorted({i.employer_id for i in todo.values()})
    recipients = company_recipients(session, employers)
    facilitators = {cid: fac for cid, fac in session.execute(
        select(Company.id, Company.facilitator_id).where(Company.id.in_(employers)))}
    rows: list[OutboxMessage] = []
    alerts: list[AlertSpec] = []
    for item, claim in zip(todo.values(), claims, strict=True):
        queued, alert = _asking(ctx, item, claim.id, people[item.participant_id],
                                contracts[item.contract_id], recipients[item.employer_id],
                                facilitators.get(item.employer_id))
        rows.extend(queued)
        alerts.extend([alert] if alert else [])
    queue_many(session, rows)
    raise_alerts(session, alerts)
    return len(claims)


def answer_question(ctx: Context, session: Session, actor: Actor, followup_id: int,
                    situation: str) -> ExitFollowup:
    """The employer's (or the facilitator's) answer; refused when already answered."""
    row = session.get(ExitFollowup, followup_id)
    if row is None or not _may_act_on_contract(session, actor, row.contract_id):
        raise NotAllowed()
    participant = session.get(Participant, row.participant_id)
    name = participant.display_name if participant else "cette personne"
    if row.answered_at is not None:
        done = situation_label(ctx, row.situation) if row.situation else "?"
        raise DomainError(
            f"La réponse pour {name} est déjà enregistrée (« {done} »). Pour la corriger, "
            "écrivez à votre facilitateur·rice.")
    label = situation_label(ctx, situation)
    if row.kind == EXIT_QUESTION:
        contract = session.get(Contract, row.contract_id)
        assert contract is not None and contract.end_date is not None
        record_exit(ctx, session, actor, row.participant_id, situation=situation,
                    exit_date=contract.end_date)
        session.refresh(row)
        return row
    row.situation = situation
    row.answered_at = ctx.clock.now()
    row.answered_by_user_id = actor.user_id
    row.answered_by_email = None if actor.user_id else actor.email
    audit.record(session, actor, "participant.followup", "participant", row.participant_id,
                 situation=situation, label=label, contract_id=row.contract_id)
    session.flush()
    return row


def answer_by_number(ctx: Context, session: Session, actor: Actor, followup_id: int,
                     text: str) -> ExitFollowup:
    """An e-mailed answer: the first number of the text, in :func:`numbered_situations`."""
    listed = numbered_situations(ctx)
    m = re.search(r"(?<![\d/.:,])(\d{1,3})(?![\d/:]|[.,]\d|\s*h\b)", text)  # not a date, nor an hour
    if m is None or not 1 <= int(m.group(1)) <= len(listed):
        raise DomainError(
            f"Réponse non comprise : indiquez seulement le numéro de la situation, de 1 à {len(listed)} "
            "(la liste est dans notre message, cité plus bas).")
    return answer_question(ctx, session, actor, followup_id, listed[int(m.group(1)) - 1][0])


# --- the facilitator's view ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExitView:
    participant_id: int
    name: str
    last_end: dt.date | None
    situation: str | None
    exit_date: dt.date | None
    followup: str | None


def exits_overview(ctx: Context, session: Session, actor: Actor, *, missing_only: bool = False,
                   limit: int = 200) -> list[ExitView]:
    """Persons whose last contract has ended, with their exit and 6-month follow-up (staff)."""
    authorize(session, actor, Action.ADMIN_WRITE)
    today = ctx.clock.today()
    rows: dict[int, ExitView] = {}
    q = (select(Participant, Contract.end_date)
         .join(Contract, Contract.participant_id == Participant.id)
         .where(Participant.anonymised_at.is_(None), Contract.end_date.is_not(None),
                Contract.end_date < today)
         .order_by(Contract.end_date.desc(), Participant.id))
    followups = dict(session.execute(
        select(ExitFollowup.participant_id, ExitFollowup.situation)
        .where(ExitFollowup.kind == FOLLOWUP_QUESTION, ExitFollowup.situation.is_not(None))).all())
    for p, end in session.execute(q):
        if p.id in rows or end is None:  # the query keeps ended contracts only
            continue
        running = session.scalar(select(Contract.id).where(
            Contract.participant_id == p.id, still_running_after(today)).limit(1))
        if running is not None:
            continue
        if missing_only and p.exit_situation is not None and (p.exit_date or dt.date.min) >= end:
            continue
        rows[p.id] = ExitView(p.id, p.display_name, end, p.exit_situation, p.exit_date,
                              followups.get(p.id))
        if len(rows) >= limit:
            break
    audit.record(session, actor, "participants.exits", "participant", None, count=len(rows))
    return list(rows.values())
