"""Alerts to facilitators: recorded once (dedup key) and pushed to their chat, or by e-mail.

Buttons travel as Bot API `inline_keyboard` JSON in the outbox row; callback data are short
verbs with an id (`cand:ok:12`), and the bot re-checks the actor's rights on every press, so a
tampered button gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.actions import ActionButton
from clauses.idempotent import insert_once
from clauses.outbox import enqueue_chat, enqueue_email
from storage.models import Alert, AlertKind, Role, User, utcnow

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
        alert, created = insert_once(session, alert, Alert.dedup_key, dedup_key)
        if not created:
            return alert, False
    else:
        session.add(alert)
        session.flush()
    # An alert with decision buttons is handled by the decision: « Traitée » only when it has
    # none (a « ✅ Valider » beside a « ✅ Traitée » made facilitators press the wrong one).
    rows = list(buttons or []) or [[("☑️ Traitée", f"alert:done:{alert.id}")]]
    markup = keyboard(rows)
    users = recipients(session, facilitator_id, territory)
    for user in users:
        key = f"alert:{alert.id}:user:{user.id}"
        sent = enqueue_chat(session, dedup_key=key, user_id=user.id, text=f"🔔 {message}",
                            reply_markup=markup)
        if sent is None and user.email:
            enqueue_email(session, dedup_key=key, to=user.email,
                          subject=f"[clausebot] {message.splitlines()[0][:120]}", text=message)
    if not users and _shared_inbox is not None:
        enqueue_email(session, dedup_key=f"alert:{alert.id}:shared", to=_shared_inbox,
                      subject=f"[clausebot] {message.splitlines()[0][:120]}", text=message)
    return alert, True


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


def open_alerts(session: Session, facilitator_id: int | None = None, limit: int = 50) -> list[Alert]:
    q = select(Alert).where(Alert.handled_at.is_(None)).order_by(Alert.created_at.desc()).limit(limit)
    if facilitator_id is not None:
        q = q.where((Alert.facilitator_id == facilitator_id) | Alert.facilitator_id.is_(None))
    return list(session.scalars(q))
