"""Facilitators, on a candidature: « Voir le CV » (alert button) and /completer (typology).

Both are domain use cases (:mod:`clauses.candidature_cv`, :mod:`clauses.typology`), which
authorise the facilitator and audit the access or the change.
"""

from __future__ import annotations

import re

from bot import texts
from bot.turn import Turn

_FIELDS = {"naissance": "birth_date", "ne": "birth_date", "née": "birth_date", "genre": "gender",
           "sexe": "gender", "commune": "commune", "ville": "commune", "qpv": "qpv",
           "statut": "status_at_entry"}
_SPLIT = re.compile(r"(?i)\b(" + "|".join(sorted(_FIELDS, key=len, reverse=True)) + r")\s*:?\s+")
USAGE = ("Complétez le profil d'un candidat pour le bilan, par exemple :\n"
         "/completer 12 naissance 14/03/1990 genre F commune Oullins qpv oui statut rsa\n"
         "(chaque élément est facultatif ; « naissance » accepte aussi l'année seule ; "
         "genre F, H ou X ; statut : un critère d'éligibilité, ex. rsa, deld).")


def on_cv(t: Turn, parts: list[str]) -> None:
    """cv:<candidature id>: the CV is e-mailed to the facilitator who pressed."""
    if len(parts) != 1 or not parts[0].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    from clauses.candidature_cv import send_cv_to_staff

    address, created = send_cv_to_staff(t.ctx, t.session, t.need_actor(), int(parts[0]))
    t.notify("CV envoyé." if created else "Déjà envoyé aujourd'hui.")
    t.say(f"📄 Le CV de la candidature n° {parts[0]} vous est envoyé par e-mail ({address}), "
          "à vous seul·e." if created else
          f"Le CV de la candidature n° {parts[0]} vous a déjà été envoyé aujourd'hui ({address}).")


def parse_fields(text: str) -> dict[str, str]:
    """« naissance 1990 genre F commune Saint-Genis-Laval » → {birth_date: 1990, ...}."""
    pieces = _SPLIT.split(text)
    if pieces[0].strip():
        raise ValueError(pieces[0].strip())
    out: dict[str, str] = {}
    for word, value in zip(pieces[1::2], pieces[2::2], strict=True):
        out[_FIELDS[word.lower()]] = value.strip()
    return out


def cmd_completer(t: Turn, args: str) -> None:
    number, _, rest = args.strip().partition(" ")
    if not number.isdigit() or not rest.strip():
        t.say(USAGE)
        return
    try:
        fields = parse_fields(rest)
    except ValueError as exc:
        t.say(f"Je ne comprends pas « {str(exc)[:40]} ». {USAGE}")
        return
    from clauses.typology import complete_typology, profile_summary

    p = complete_typology(t.ctx, t.session, t.need_actor(), int(number), **fields)
    t.say(f"✅ Candidature n° {number} : {profile_summary(t.ctx, p, int(number))}")


def validation_hint(t: Turn, candidature_id: int) -> str:
    """After « Valider »: the person's profile for the bilan, and how to complete it."""
    from clauses.typology import profile_summary
    from storage.models import Candidature, Participant

    cand = t.session.get(Candidature, candidature_id)
    participant = t.session.get(Participant, cand.participant_id) if cand else None
    return f"\n{profile_summary(t.ctx, participant, candidature_id)}" if participant else ""
