"""Meetings the agency organises: entered by a facilitator, reminded by the scheduler.

The seed's calendar: a launch meeting per market with the company; for reserved and insertion
markets, a collective meeting with the buyer and the SIAE at the start, an individual one during
each year and a collective one at the end of each year; an annual partnership meeting per
donneur d'ordre. :mod:`clauses.meeting_planning` prompts the facilitator when one is missing;
:func:`clauses.due.meeting_reminders` reminds the invited before those that are scheduled.

Times are entered and shown in Paris time, stored in UTC like every timestamp.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.bilan.errors import UnknownDonneurError, UnknownMarketError
from clauses.bilan.lookup import find_donneur, find_market
from clauses.clock import PARIS, Clock
from clauses.errors import DomainError
from clauses.formatting import fold
from storage.db import rowcount
from storage.models import (
    Alert,
    Donneur,
    Market,
    Meeting,
    MeetingKind,
    OutboxMessage,
    OutboxStatus,
)

MEETING_LABELS_FR: dict[MeetingKind, str] = {
    MeetingKind.LANCEMENT: "réunion de lancement",
    MeetingKind.SIAE_DEBUT: "réunion collective des SIAE (démarrage)",
    MeetingKind.SIAE_MI_ANNEE: "réunion de mi-année avec les SIAE",
    MeetingKind.SIAE_FIN_ANNEE: "réunion collective des SIAE (fin d'année)",
    MeetingKind.PARTENARIAT_ANNUEL: "réunion annuelle de partenariat",
    MeetingKind.SUIVI: "réunion de suivi",
}

#: What a facilitator types (CLI option, chat command) for each kind.
KIND_WORDS: dict[str, MeetingKind] = {
    "lancement": MeetingKind.LANCEMENT,
    "siae-debut": MeetingKind.SIAE_DEBUT,
    "siae-mi-annee": MeetingKind.SIAE_MI_ANNEE,
    "siae-fin": MeetingKind.SIAE_FIN_ANNEE,
    "partenariat": MeetingKind.PARTENARIAT_ANNUEL,
    "suivi": MeetingKind.SUIVI,
}

#: Kinds about one market. The SIAE meetings may be about one reserved market or, without a
#: market, gather every SIAE of the territory; the partnership meeting is about a donneur.
MARKET_KINDS = frozenset({MeetingKind.LANCEMENT, MeetingKind.SUIVI})

_WHEN = re.compile(
    r"^\s*(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"
    r"(?:\s+(?:à\s+)?(?P<h>\d{1,2})\s*[hH:]\s*(?P<min>\d{2})?)?(?=\s|$)"
)
MAX_LOCATION = 200  # meetings.location
MAX_ID = 2**63 - 1


class MeetingError(DomainError):
    """A meeting that cannot be recorded as asked; the message says how to fix it."""


def kind_from_word(word: str) -> MeetingKind:
    key = fold(word).replace(" ", "-").replace("_", "-")
    if key in KIND_WORDS:
        return KIND_WORDS[key]
    raise MeetingError(f"Type de réunion inconnu : « {word} ». Types possibles : "
                       f"{', '.join(KIND_WORDS)}.")


def parse_when(text: str) -> dt.datetime:
    """'03/12/2026 14h30', '3/12/2026 à 9h', '03/12/2026 14:30' (Paris time) → aware datetime.

    A date alone means 9 h: meetings without a time are morning meetings in practice.
    """
    when, rest = parse_when_prefix(text)
    if rest:
        raise MeetingError(f"Date de réunion illisible : « {text} ». Écrivez par exemple "
                           "« 03/12/2026 14h30 ».")
    return when


def parse_when_prefix(text: str) -> tuple[dt.datetime, str]:
    """The date and time that ``text`` starts with, and what follows (the chat's one-line
    ``/reunion … 03/12/2026 à 14h30 Mairie``: the rest is the place)."""
    m = _WHEN.match(text)
    if not m:
        raise MeetingError(f"Date de réunion illisible : « {text} ». Écrivez par exemple "
                           "« 03/12/2026 14h30 ».")
    rest = text[m.end():].strip()
    try:
        hour = int(m["h"]) if m["h"] else 9
        minute = int(m["min"]) if m["min"] else 0
        when = dt.datetime(int(m["y"]), int(m["m"]), int(m["d"]), hour, minute, tzinfo=PARIS)
    except ValueError:
        raise MeetingError(f"Date de réunion impossible : « {m.group(0).strip()} ».") from None
    return when, rest


@dataclass(frozen=True)
class MeetingView:
    """A meeting as listed to staff (no personal data: organisations and places only)."""

    id: int
    kind: MeetingKind
    at: dt.datetime
    market_reference: str | None
    donneur_name: str | None
    location: str | None

    @property
    def label_fr(self) -> str:
        return MEETING_LABELS_FR.get(self.kind, "réunion")

    def line_fr(self) -> str:
        local = self.at.astimezone(PARIS)
        about = f" — marché {self.market_reference}" if self.market_reference else ""
        who = f" — {self.donneur_name}" if self.donneur_name else ""
        where = f" — {self.location}" if self.location else ""
        return f"n° {self.id} : {local:%d/%m/%Y à %H:%M}, {self.label_fr}{about}{who}{where}"


def resolve_target(session: Session, text: str) -> tuple[str | None, str | None]:
    """What a facilitator typed after the type: a market reference, or a donneur's name.

    Returns (market reference, donneur name), found as every other command finds them
    (:mod:`clauses.bilan.lookup`: case, accents and spaces ignored, close names suggested).
    """
    text = text.strip()
    if not text:
        raise MeetingError("Indiquez la référence du marché ou le nom du donneur d'ordre.")
    try:
        return find_market(session, text).reference, None
    except UnknownMarketError:
        pass
    try:
        return None, find_donneur(session, text).name
    except UnknownDonneurError as exc:
        raise MeetingError(f"Ni marché ni donneur d'ordre « {text} ». Vérifiez la référence du "
                           f"marché (/marches). {exc.message_fr}") from None


def _market(session: Session, reference: str) -> Market:
    try:
        return find_market(session, reference)
    except UnknownMarketError as exc:
        raise MeetingError(exc.message_fr) from None


def _donneur(session: Session, name: str) -> Donneur:
    try:
        return find_donneur(session, name)
    except UnknownDonneurError as exc:
        raise MeetingError(exc.message_fr) from None


def schedule_meeting(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    kind: MeetingKind,
    at: dt.datetime,
    market_reference: str | None = None,
    donneur: str | None = None,
    location: str | None = None,
    note: str | None = None,
) -> Meeting:
    """Record a meeting; the scheduler reminds the invited 7 days and 1 day before.

    A launch or follow-up meeting needs its market; a partnership meeting needs its donneur (or
    a market, whose donneur it takes); an SIAE meeting without a market invites every SIAE.
    A past date is refused: it would never be reminded and is most likely a typo in the year.
    """
    authorize(session, actor, Action.ADMIN_WRITE)
    location = " ".join((location or "").split()) or None
    if location is not None and len(location) > MAX_LOCATION:
        raise MeetingError(f"Lieu trop long ({len(location)} caractères) : {MAX_LOCATION} au "
                           "plus. Mettez le détail dans la note.")
    market = _market(session, market_reference) if market_reference else None
    donneur_id = _donneur(session, donneur).id if donneur else None
    if kind in MARKET_KINDS and market is None:
        raise MeetingError(f"Une {MEETING_LABELS_FR[kind]} concerne un marché : indiquez sa référence.")
    if kind == MeetingKind.PARTENARIAT_ANNUEL:
        donneur_id = donneur_id or (market.donneur_id if market else None)
        if donneur_id is None:
            raise MeetingError("Une réunion annuelle de partenariat concerne un donneur d'ordre : "
                               "indiquez-le.")
        market = None
    elif donneur_id is not None and market is None:
        raise MeetingError(f"Une {MEETING_LABELS_FR[kind]} concerne un marché ou l'ensemble des "
                           "SIAE, pas un donneur d'ordre : indiquez la référence du marché.")
    if at.tzinfo is None:
        at = at.replace(tzinfo=PARIS)
    if at <= clock.now():
        raise MeetingError(f"La date du {at.astimezone(PARIS):%d/%m/%Y à %H:%M} est passée : "
                           "indiquez une date à venir.")
    meeting = Meeting(kind=kind, market_id=market.id if market else None,
                      donneur_id=donneur_id if market is None else None,
                      scheduled_at=at.astimezone(dt.UTC), location=location, note=(note or None))
    session.add(meeting)
    session.flush()
    audit.record(session, actor, "meeting.schedule", "meeting", meeting.id, kind=kind.value)
    return meeting


def cancel_meeting(session: Session, actor: Actor, meeting_id: int) -> int:
    """Remove a meeting that will not take place; its reminders already queued and not yet
    sent are cancelled too (returns how many), so that "no reminder will go out" holds."""
    authorize(session, actor, Action.ADMIN_WRITE)
    meeting = session.get(Meeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        raise MeetingError(f"Aucune réunion n° {meeting_id}.")
    session.delete(meeting)
    prefix = reminder_key_prefix(meeting_id)
    # the reminders to the invited, and the pushes of the facilitator's alert about them
    alert_ids = list(session.scalars(select(Alert.id).where(Alert.dedup_key.like(f"{prefix}%"))))
    keys = [OutboxMessage.dedup_key.like(f"{prefix}%"),
            *(OutboxMessage.dedup_key.like(f"alert:{a}:%") for a in alert_ids)]
    cancelled = rowcount(session.execute(
        update(OutboxMessage)
        .where(or_(*keys), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.DEAD, last_error="réunion annulée"),
        execution_options={"synchronize_session": False},
    ))
    audit.record(session, actor, "meeting.cancel", "meeting", meeting_id, reminders=cancelled)
    return cancelled


def reminder_key_prefix(meeting_id: int) -> str:
    """What every reminder of one meeting is keyed with (see :func:`clauses.due.meeting_reminders`)."""
    return f"reunion:meeting:{meeting_id}:"


def upcoming_meetings(session: Session, actor: Actor, now: dt.datetime,
                      limit: int = 30) -> list[MeetingView]:
    """The next meetings, soonest first (staff only)."""
    authorize(session, actor, Action.ADMIN_WRITE)
    rows = session.execute(
        select(Meeting.id, Meeting.kind, Meeting.scheduled_at, Market.reference, Donneur.name,
               Meeting.location)
        .outerjoin(Market, Market.id == Meeting.market_id)
        .outerjoin(Donneur, Donneur.id == Meeting.donneur_id)
        .where(Meeting.scheduled_at > now)
        .order_by(Meeting.scheduled_at, Meeting.id)
        .limit(limit)
    ).all()
    return [MeetingView(*row) for row in rows]
