"""Finding a donneur or a market from what a person typed (CLI, chat), with close matches.

Names are compared without case, accents or extra spaces; when nothing matches exactly, a unique
partial match is accepted, and otherwise the error lists the closest names so the person can retry.
"""

from __future__ import annotations

import difflib
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.bilan.errors import UnknownDonneurError, UnknownMarketError
from clauses.formatting import fold
from storage.models import Donneur, Market

MAX_SUGGESTIONS = 5


def _suggest(typed: str, candidates: dict[str, str]) -> list[str]:
    """Closest original names: fuzzy matches first, then names sharing a word."""
    folded = fold(typed)
    close = difflib.get_close_matches(folded, list(candidates), n=MAX_SUGGESTIONS, cutoff=0.5)
    words = {w for w in re.split(r"\W+", folded) if len(w) >= 3}
    for key in sorted(candidates):
        if len(close) >= MAX_SUGGESTIONS:
            break
        if key not in close and words & set(re.split(r"\W+", key)):
            close.append(key)
    return [candidates[k] for k in close]


def find_donneur(session: Session, name: str) -> Donneur:
    """The donneur named ``name`` (exact, then unique partial match), else UnknownDonneurError."""
    donneurs = list(session.scalars(select(Donneur).order_by(Donneur.name)))
    by_fold = {fold(d.name): d for d in donneurs}
    folded = fold(name)
    if folded in by_fold:
        return by_fold[folded]
    partial = [d for key, d in by_fold.items() if folded and folded in key]
    if len(partial) == 1:
        return partial[0]
    names = {key: d.name for key, d in by_fold.items()}
    if len(partial) > 1:
        raise UnknownDonneurError(name, [d.name for d in partial][:MAX_SUGGESTIONS], ambiguous=True)
    close = _suggest(name, names)
    if close:
        raise UnknownDonneurError(name, close)
    raise UnknownDonneurError(name, [d.name for d in donneurs][:MAX_SUGGESTIONS], close=False)


def find_market(session: Session, reference: str) -> Market:
    """The market whose reference is ``reference`` (case and spaces ignored)."""
    wanted = fold(reference).replace(" ", "")
    market = session.scalar(select(Market).where(Market.reference == reference.strip()))
    if market is not None:
        return market
    rows = session.execute(select(Market.reference, Market.title)).all()
    refs = {fold(ref).replace(" ", ""): ref for ref, _ in rows}
    if wanted in refs:
        found = session.scalar(select(Market).where(Market.reference == refs[wanted]))
        if found is not None:
            return found
    close = _suggest(wanted, refs)
    if close:
        raise UnknownMarketError(reference, close)
    raise UnknownMarketError(reference, sorted(refs.values())[:MAX_SUGGESTIONS], close=False)
