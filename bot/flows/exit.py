"""The employer's answer to « Que devient … ? » (exit, then the 6-month follow-up), by buttons.

The scheduler pushes the question with one button per exit category (:mod:`clauses.exits`);
a category opens its situations; a situation records the answer. Every press is re-authorised
by the domain (the button is only a hint), and a second press on an answered question says the
answer is already recorded, writing nothing.
"""

from __future__ import annotations

from bot import texts
from bot.turn import Turn
from clauses import exits


def on_callback(t: Turn, parts: list[str]) -> None:
    """ex:c:<question>:<category>, ex:s:<question>:<situation>, ex:b:<question>."""
    if len(parts) < 2 or not parts[1].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    verb, question_id = parts[0], int(parts[1])
    if verb == "b" and len(parts) == 2:
        t.say("Dans quelle catégorie ?", exits.category_keyboard(t.ctx, question_id), replace=True)
    elif verb == "c" and len(parts) == 3:
        t.say("Quelle situation ?", exits.situation_keyboard(t.ctx, question_id, parts[2]),
              replace=True)
    elif verb == "s" and len(parts) == 3:
        t.clear_source_keyboard = True
        row = exits.answer_question(t.ctx, t.session, t.need_actor(), question_id, parts[2])
        label = exits.situation_label(t.ctx, parts[2])
        what = "sortie" if row.kind == "sortie" else "suivi à 6 mois"
        t.notify("Réponse enregistrée.")
        t.say(f"✅ Merci : {what} enregistrée — « {label} ».")
    else:
        t.notify(texts.BAD_BUTTON)


SORTIE_USAGE = ("Enregistrer ou corriger une sortie : /sortie <n° de personne> <situation> <JJ/MM/AAAA>, "
                "par exemple « /sortie 12 cdi 30/06/2025 ». Situations : {keys}.")


def cmd_sortie(t: Turn, args: str) -> None:
    """/sortie 12 cdi 30/06/2025 — the facilitator records or corrects an exit (same use case
    as the employer's answer and the CLI)."""
    parts = args.split()
    keys = ", ".join(k for k, _ in exits.numbered_situations(t.ctx))
    if len(parts) != 3 or not parts[0].isdigit():
        t.say(SORTIE_USAGE.format(keys=keys))
        return
    p = exits.record_exit(t.ctx, t.session, t.need_actor(), int(parts[0]), situation=parts[1],
                          exit_date=exits.parse_exit_date(parts[2]))
    t.say(f"✅ Sortie enregistrée pour {p.display_name} au {parts[2]} : "
          f"{exits.situation_label(t.ctx, parts[1])}.")
