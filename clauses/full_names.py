"""Split a full name (« Marie DUPONT », « Dupont Marie-Claire ») against the sender's own people.

Why against the database: a « Participant » column holds first and last names in either order,
and compound names (« DA SILVA Ana ») cannot be split by rule. The company's own persons in
insertion (the contracts it may declare for) are few; a full name is taken only when exactly one
of them matches, otherwise the line is refused with a message saying what to write — a guess
would record hours on the wrong person.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.authz import Action, scope_contracts
from storage.models import Contract, Engagement, Participant


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def split_full_names(session: Session, actor: Actor, full_names: set[str]
                     ) -> dict[str, tuple[str, str | None] | None]:
    """`full name -> (last, first)` as stored, or None when no single person of `actor` matches."""
    people: dict[tuple[str, str], set[tuple[str, str | None]]] = {}
    rows = session.execute(
        select(Participant.last_name, Participant.first_name)
        .join(Contract, Contract.participant_id == Participant.id)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .where(scope_contracts(actor, Action.DECLARATION_WRITE), Participant.anonymised_at.is_(None))
        .distinct()
    )
    for last, first in rows:
        people.setdefault((_fold(last), _fold(first or "")), set()).add((last, first))
    out: dict[str, tuple[str, str | None] | None] = {}
    for full in full_names:
        tokens = _fold(full).split()
        hits: set[tuple[str, str | None]] = set()
        for cut in range(1, len(tokens)):
            a, b = " ".join(tokens[:cut]), " ".join(tokens[cut:])
            hits |= people.get((a, b), set()) | people.get((b, a), set())
        if not hits and len(tokens) == 1:
            hits = {p for (last, _), ps in people.items() if last == tokens[0] for p in ps}
        out[full] = next(iter(hits)) if len(hits) == 1 else None
    return out
