"""Alerts to facilitators: recorded once (dedup key) and pushed to their chat, or by e-mail.

Buttons travel as Bot API `inline_keyboard` JSON in the outbox row; callback data are short
verbs with an id (`cand:ok:12`), and the bot re-checks the actor's rights on every press, so a
tampered button gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from clauses.actions import ActionButton
from clauses.alert_digest import Push, fold_pushes
from clauses.idempotent import insert_once
from clauses.outbox import (
    chat_message,
    email_message,
    enqueue_chat,
    enqueue_email,
    queue_many,
    written,
)
from storage.models import (
    Alert,
    AlertKind,
    ChatLink,
    Role,
    User,
    utcnow,
)
from storage.models.base import table_of

Button = tuple[str, str] | ActionButton  # (label, callback_data), or a typed action


def _button(button: Button) -> dict[str, Any]:
    if isinstance(button, ActionButton):
        return button.to_json()  # the chat adapter encodes it when it delivers the message
    label, data = button
    return {"text": label, "callback_data": data}


def keyboard(rows: Sequence[Sequence[Button]]) -> dict[str, Any]:
    return {"inline_keyboard": [[_button(b) for b in row] for row in rows]}


SMALL_TEAM = 5
"""Up to this many active facilitators and admins, an alert nobody is in charge of is pushed to
each of them (a small team wants it so); beyond, pushing it to everyone (240 people at
national size) is noise: it goes to the shared inbox, or stays one row in everybody's list."""

_shared_inbox: str | None = None


def configure_shared_inbox(address: str | None) -> None:
    """Where alerts without a facilitator nor a territory go (the wiring sets it from settings)."""
    global _shared_inbox
    _shared_inbox = (address or "").strip().lower() or None


def _active_staff(session: Session, ids: Iterable[int] | None = None, limit: int | None = None) -> list[User]:
    q = select(User).where(User.active.is_(True), User.role.in_([Role.FACILITATEUR, Role.ADMIN]))
    if ids is not None:
        q = q.where(User.id.in_(list(ids)))
    return list(session.scalars(q.order_by(User.id).limit(limit)))


def recipients(session: Session, facilitator_id: int | None,
               territory: Iterable[int] | None = None) -> list[User]:
    """Who is pushed an alert: the facilitator in charge; else the facilitators of the
    territory concerned (the companies of the sender or the market); else, in a small team,
    every facilitator and admin; else nobody (see :func:`raise_alert`: one shared row)."""
    if facilitator_id is not None:
        user = session.get(User, facilitator_id)
        if user is not None and user.active:
            return [user]
    ids = sorted(set(territory or ()))
    if ids:
        found = _active_staff(session, ids)
        if found:
            return found
    team = _active_staff(session, limit=SMALL_TEAM + 1)
    return team if len(team) <= SMALL_TEAM else []


def raise_alert(
    session: Session,
    *,
    kind: AlertKind,
    message: str,
    facilitator_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    dedup_key: str | None = None,
    buttons: Sequence[Sequence[Button]] | None = None,
    territory: Iterable[int] | None = None,
) -> tuple[Alert, bool]:
    """Record an alert and notify; raising the same `dedup_key` again changes nothing.

    `territory`: the facilitators concerned when nobody is in charge (those following the
    sender's or the market's companies). Without them, a large team gets one notification in
    the shared inbox when one is configured; the alert row itself (no facilitator) is listed
    to every facilitator either way.
    """
    alert = Alert(
        kind=kind,
        facilitator_id=facilitator_id,
        subject_type=subject_type,
        subject_id=subject_id,
        message=message,
        dedup_key=dedup_key,
    )
    if dedup_key is not None:
        alert, created = insert_once(session, alert, Alert.dedup_key, dedup_key,
                                       written=written(session))
        if not created:
            return alert, False
    else:
        session.add(alert)
        session.flush()
    markup = _markup(alert.id, buttons)
    users = recipients(session, facilitator_id, territory)
    for user in users:
        key = f"alert:{alert.id}:user:{user.id}"
        sent = enqueue_chat(session, dedup_key=key, user_id=user.id, text=f"🔔 {message}",
                            reply_markup=markup)
        if sent is None and user.email:
            enqueue_email(session, dedup_key=key, to=user.email, user_id=user.id,
                          subject=_subject(message), text=message)
    if not users and _shared_inbox is not None:
        enqueue_email(session, dedup_key=f"alert:{alert.id}:shared", to=_shared_inbox,
                      subject=_subject(message), text=message)
    return alert, True


def _markup(alert_id: int, buttons: Sequence[Sequence[Button]] | None) -> dict[str, Any]:
    # An alert with decision buttons is handled by the decision: « Traitée » only when it has
    # none (a « ✅ Valider » beside a « ✅ Traitée » made facilitators press the wrong one).
    return keyboard(list(buttons or []) or [[("☑️ Traitée", f"alert:done:{alert_id}")]])


def _subject(message: str) -> str:
    return f"[clausebot] {message.splitlines()[0][:120]}"


@dataclass(frozen=True)
class AlertSpec:
    """One alert for :func:`raise_alerts` (the arguments of :func:`raise_alert`, keyed)."""

    kind: AlertKind
    message: str
    dedup_key: str
    facilitator_id: int | None = None
    subject_type: str | None = None
    subject_id: int | None = None
    buttons: Sequence[Sequence[Button]] | None = None


def raise_alerts(session: Session, specs: Sequence[AlertSpec]) -> list[Alert]:
    """The set-based twin of :func:`raise_alert` for the daily jobs: the same rows, recipients
    and notifications, in a handful of statements for a whole chunk (at national size a first
    run raises tens of thousands of alerts; one by one that is six statements each).

    Alerts already raised (dedup key) are skipped; returns those created. Nobody in charge
    follows the same rule as :func:`recipients` without a territory (the small team, else the
    shared inbox). More alerts than the digest threshold for one person reach them as one
    digest (:func:`clauses.alert_digest.fold_pushes`), recorded one by one all the same. A concurrent run's row makes a flush fail as a whole: the caller's
    transaction is lost and it takes its items one by one.
    """
    fresh: dict[str, AlertSpec] = {}
    for spec in specs:
        fresh.setdefault(spec.dedup_key, spec)
    keys = list(fresh)
    for low in range(0, len(keys), _SLICE):
        for key in session.scalars(select(Alert.dedup_key).where(
                Alert.dedup_key.in_(keys[low:low + _SLICE]))):
            fresh.pop(key or "", None)
    if not fresh:
        return []
    alerts = [Alert(kind=a.kind, facilitator_id=a.facilitator_id, subject_type=a.subject_type,
                    subject_id=a.subject_id, message=a.message, dedup_key=a.dedup_key)
              for a in fresh.values()]
    # one executemany, the ids read back by key (the ORM would insert a row per statement)
    session.execute(insert(table_of(Alert)), [{
        "kind": a.kind, "facilitator_id": a.facilitator_id, "subject_type": a.subject_type,
        "subject_id": a.subject_id, "message": a.message, "dedup_key": a.dedup_key}
        for a in alerts])
    ids: dict[str, int] = {}
    keys = list(fresh)
    for low in range(0, len(keys), _SLICE):
        ids.update((key or "", alert_id) for alert_id, key in session.execute(
            select(Alert.id, Alert.dedup_key).where(Alert.dedup_key.in_(keys[low:low + _SLICE]))))
    for alert in alerts:
        alert.id = ids[alert.dedup_key or ""]
    written(session).extend(alerts)
    in_charge = sorted({a.facilitator_id for a in alerts if a.facilitator_id is not None})
    users: dict[int, User] = {}
    for low in range(0, len(in_charge), _SLICE):
        users.update((u.id, u) for u in session.scalars(select(User).where(
            User.id.in_(in_charge[low:low + _SLICE]), User.active.is_(True))))
    team: list[User] | None = None
    pushed: list[tuple[Alert, AlertSpec, list[User]]] = []
    for alert, spec in zip(alerts, fresh.values(), strict=True):
        user = users.get(alert.facilitator_id) if alert.facilitator_id is not None else None
        if user is None and team is None:
            team = _active_staff(session, limit=SMALL_TEAM + 1)
            team = team if len(team) <= SMALL_TEAM else []
        pushed.append((alert, spec, [user] if user is not None else list(team or [])))
    linked = sorted({u.id for _a, _s, who in pushed for u in who})
    chats: dict[int, int] = {}
    for low in range(0, len(linked), _SLICE):
        chats.update((user_id, chat_id) for user_id, chat_id in session.execute(
            select(ChatLink.user_id, ChatLink.chat_id).where(
                ChatLink.user_id.in_(linked[low:low + _SLICE]))))
    per_user: dict[int, Push] = {}
    for alert, _spec, who in pushed:
        for user in who:
            per_user.setdefault(user.id, Push(user.id, chats.get(user.id), user.email, [])
                                ).alerts.append(alert)
    digested, rows = fold_pushes(session, per_user)  # a burst for one person: one digest
    for alert, spec, who in pushed:
        markup = _markup(alert.id, spec.buttons)
        for user in who:
            if user.id in digested:
                continue
            key = f"alert:{alert.id}:user:{user.id}"
            if user.id in chats:
                rows.append(chat_message(dedup_key=key, chat_id=chats[user.id], user_id=user.id,
                                         text=f"🔔 {alert.message}", reply_markup=markup))
            elif user.email:
                rows.append(email_message(dedup_key=key, to=user.email, user_id=user.id,
                                          subject=_subject(alert.message), text=alert.message))
        if not who and _shared_inbox is not None:
            rows.append(email_message(dedup_key=f"alert:{alert.id}:shared", to=_shared_inbox,
                                      subject=_subject(alert.message), text=alert.message))
    queue_many(session, rows)
    return alerts


_SLICE = 1000


def handle_alert(session: Session, alert_id: int, user_id: int | None) -> Alert | None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    if alert.handled_at is None:
        alert.handled_at = utcnow()
        alert.handled_by_id = user_id
    return alert


def resolve_alerts(session: Session, subject_type: str, subject_id: int, user_id: int,
                   kind: AlertKind | None = None) -> int:
    """A decision answers the alerts that asked for it: mark those still open handled."""
    q = select(Alert.id).where(Alert.subject_type == subject_type, Alert.subject_id == subject_id,
                               Alert.handled_at.is_(None))
    if kind is not None:
        q = q.where(Alert.kind == kind)
    ids = list(session.scalars(q))
    for alert_id in ids:
        handle_alert(session, alert_id, user_id)
    return len(ids)


def open_alerts(session: Session, facilitator_id: int | None = None, limit: int = 50,
                kind: AlertKind | None = None) -> list[Alert]:
    q = select(Alert).where(Alert.handled_at.is_(None)).order_by(Alert.created_at.desc(),
                                                                  Alert.id.desc()).limit(limit)
    if facilitator_id is not None:
        q = q.where((Alert.facilitator_id == facilitator_id) | Alert.facilitator_id.is_(None))
    if kind is not None:
        q = q.where(Alert.kind == kind)
    return list(session.scalars(q))


def open_alert_counts(session: Session, facilitator_id: int | None = None) -> dict[AlertKind, int]:
    """How many alerts are still to handle, per kind, in the same scope as :func:`open_alerts`
    (what a digest's reader finds when the list shows only the latest ones)."""
    q = select(Alert.kind, func.count()).where(Alert.handled_at.is_(None)).group_by(Alert.kind)
    if facilitator_id is not None:
        q = q.where((Alert.facilitator_id == facilitator_id) | Alert.facilitator_id.is_(None))
    return {AlertKind(kind): count for kind, count in session.execute(q)}
