"""Facilitators: /reunion records a meeting the scheduler will remind, /reunions lists them.

One line, as a facilitator would jot it down:
``/reunion lancement 2025-017 03/12/2026 14h30 Mairie d'Oullins`` or
``/reunion partenariat Ville d'Oullins 05/03/2027 10h``. The same domain functions serve the
CLI, so every refusal reads the same.
"""

from __future__ import annotations

import re

from bot.turn import Turn
from clauses.clock import PARIS
from clauses.meetings import (
    KIND_WORDS,
    MEETING_LABELS_FR,
    MeetingError,
    cancel_meeting,
    kind_from_word,
    parse_when_prefix,
    resolve_target,
    schedule_meeting,
    upcoming_meetings,
)

USAGE = (
    "Pour enregistrer une réunion :\n"
    "/reunion <type> <marché ou donneur> <JJ/MM/AAAA> [HHhMM] [lieu]\n"
    "(sans marché, une réunion SIAE réunit toutes les SIAE du territoire)\n"
    "Exemples :\n"
    "/reunion lancement 2025-017 03/12/2026 14h30 Mairie d'Oullins\n"
    "/reunion partenariat Ville d'Oullins 05/03/2027 10h\n"
    f"Types : {', '.join(KIND_WORDS)}.\n"
    "Pour en supprimer une : /reunion annuler <n°>. Liste : /reunions."
)

_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d+$")
"""Where the date starts in the line; :func:`clauses.meetings.parse_when_prefix` reads it."""
_NUMBER = re.compile(r"^(?:n°\s*)?([0-9]+)$")


def cmd_reunion(t: Turn, args: str) -> None:
    words = args.split()
    if not words:
        t.say(USAGE)
        return
    if words[0].lower() == "annuler":
        number = _NUMBER.match(" ".join(words[1:]))
        if number is None:
            t.say("Indiquez le numéro de la réunion à supprimer, par exemple : /reunion annuler 12")
            return
        cancelled = cancel_meeting(t.session, t.need_actor(), int(number.group(1)))
        queued = f" ({cancelled} rappel(s) déjà prévu(s) annulé(s))" if cancelled else ""
        t.say(f"Réunion n° {number.group(1)} supprimée : aucun rappel ne partira{queued}.")
        return
    kind = kind_from_word(words[0])
    at_date = next((i for i, w in enumerate(words) if _DATE.match(w)), None)
    if at_date is None:
        raise MeetingError("Il manque la date de la réunion.\n\n" + USAGE)
    when, place = parse_when_prefix(" ".join(words[at_date:]))
    target = " ".join(words[1:at_date])
    market_reference, donneur = resolve_target(t.session, target) if target else (None, None)
    meeting = schedule_meeting(
        t.session, t.ctx.clock, t.need_actor(), kind=kind, at=when,
        market_reference=market_reference, donneur=donneur, location=place or None,
    )
    local = meeting.scheduled_at.astimezone(PARIS)
    t.say(f"✅ {MEETING_LABELS_FR[kind].capitalize()} enregistrée (n° {meeting.id}) le "
          f"{local:%d/%m/%Y à %H:%M}. Les invités en seront rappelés 7 jours et la veille.")


def cmd_reunions(t: Turn, args: str) -> None:
    views = upcoming_meetings(t.session, t.need_actor(), t.now)
    if not views:
        t.say("Aucune réunion à venir.\n\n" + USAGE)
        return
    t.say("\n".join(["Réunions à venir :", *(v.line_fr() for v in views),
                     "", "Pour en supprimer une : /reunion annuler <n°>."]))
