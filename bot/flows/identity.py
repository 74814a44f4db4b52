"""Buttons of the « doublon possible » alert: the facilitator merges two records or keeps them
apart (the rule and the moves are in :mod:`clauses.identity`)."""

from __future__ import annotations

from bot import texts
from bot.turn import Turn
from clauses.identity import keep_apart, merge_participants


def _ids(parts: list[str]) -> tuple[int, int] | None:
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def on_merge(t: Turn, parts: list[str]) -> None:
    """idm:<kept id>:<duplicate id>."""
    ids = _ids(parts)
    if ids is None:
        t.notify(texts.BAD_BUTTON)
        return
    keep = merge_participants(t.ctx, t.session, t.need_actor(), *ids)
    t.clear_source_keyboard = True
    t.say(f"🔗 Fiches fusionnées : {keep.display_name} (n° {keep.id}) porte désormais les "
          f"candidatures, documents et contrats de la fiche n° {ids[1]}, qui est supprimée.")


def on_keep_apart(t: Turn, parts: list[str]) -> None:
    """idk:<known id>:<new id>."""
    ids = _ids(parts)
    if ids is None:
        t.notify(texts.BAD_BUTTON)
        return
    keep_apart(t.session, t.need_actor(), *ids)
    t.clear_source_keyboard = True
    t.say(f"Noté : les fiches n° {ids[0]} et n° {ids[1]} sont deux personnes différentes.")
