"""/note: a facilitator's qualitative note (the « grille de suivi »), quoted by the bilans."""

from __future__ import annotations

import re

from bot.turn import Turn
from clauses.formatting import fr_date
from clauses.notes import TOPICS, add_note

USAGE = (
    "Note qualitative (grille de suivi) :\n"
    "• /note <marché> <entreprise> : [thème] texte — ex. « /note 2025-017 BTP Rhône : tutorat "
    "Un tuteur désigné pour les deux salariés »\n"
    "• /note donneur <nom> : texte — synthèse annuelle d'un donneur d'ordre\n"
    f"Thèmes : {', '.join(TOPICS)} (autre par défaut)."
)
_FORM = re.compile(r"^(?P<what>.+?)\s*:\s*(?P<body>.+)$", re.S)


def cmd_note(t: Turn, args: str) -> None:
    match = _FORM.match(args.strip())
    if match is None:
        t.say(USAGE)
        return
    what, body = match.group("what").split(), match.group("body").strip()
    first, _, rest = body.partition(" ")
    topic = first.lower() if first.lower() in TOPICS else None
    if topic is not None:
        body = rest
    actor = t.need_actor()
    if what and what[0].lower() == "donneur":
        note = add_note(t.ctx, t.session, actor, body, topic=topic, donneur=" ".join(what[1:]))
    elif len(what) >= 2:
        note = add_note(t.ctx, t.session, actor, body, topic=topic, market_reference=what[0],
                        company=" ".join(what[1:]))
    else:
        t.say(USAGE)
        return
    t.say(f"📝 Note n° {note.id} enregistrée le {fr_date(note.written_on)} ({note.topic_label}) : "
          f"{note.about}. Elle figurera dans les bilans.")
