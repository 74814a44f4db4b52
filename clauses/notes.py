"""Qualitative notes: the « grille de suivi »'s qualitative commitments, kept for the bilans.

A note is about an engagement (a company on a market: training given, tutoring, site visits)
or about a donneur as a whole (the annual synthesis). The facilitator writes it in the chat
(``/note``) or the CLI (``clausebot note add``); the bilans quote them in their « relation
entreprise » section.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, NotAllowed, authorize
from clauses.bilan.lookup import find_donneur, find_market
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fold
from storage.models import Company, Donneur, Engagement, Lot, Market, QualitativeNote, User

TOPICS: dict[str, str] = {
    "formation": "formation",
    "tutorat": "tutorat",
    "visite": "visite de chantier",
    "autre": "autre",
}
"""The grille de suivi's headings (key -> French label)."""
MAX_BODY = 2000


@dataclass(frozen=True)
class NoteView:
    id: int
    written_on: dt.date
    topic: str | None
    topic_label: str
    about: str
    body: str
    author: str | None


def add_note(ctx: Context, session: Session, actor: Actor, body: str, *, topic: str | None = None,
             market_reference: str | None = None, company: str | None = None,
             donneur: str | None = None) -> NoteView:
    """Record a note on a market × company (an engagement) or on a donneur; refuses anything
    else with what to enter."""
    authorize(session, actor, Action.ADMIN_WRITE)
    text = " ".join((body or "").split())
    if len(text) < 3:
        raise DomainError("La note est vide : écrivez quelques mots (ce qui a été fait, par qui).",
                          "Empty note.")
    if len(text) > MAX_BODY:
        raise DomainError(f"Note trop longue ({len(text)} caractères, {MAX_BODY} au plus).",
                          "Note too long.")
    key = fold(topic) if topic else "autre"
    key = {"visite de chantier": "visite", "visites": "visite"}.get(key, key)
    if key not in TOPICS:
        raise DomainError(f"Thème inconnu « {topic} » : {', '.join(TOPICS)}.", "Unknown topic.")
    note = QualitativeNote(written_on=ctx.clock.today(), body=text, topic=key,
                           author_id=actor.user_id)
    if market_reference:
        market = find_market(session, market_reference)
        if not company:
            raise DomainError(
                f"Précisez l'entreprise du marché {market.reference} (la note porte sur son "
                "engagement), ou le donneur d'ordre pour une synthèse annuelle.",
                "Company missing.")
        note.market_id, note.company_id = market.id, _company_on(session, market, company).id
    elif donneur:
        note.donneur_id = find_donneur(session, donneur).id
    else:
        raise DomainError("Dites sur quoi porte la note : un marché et une entreprise, ou un "
                          "donneur d'ordre.", "Nothing to attach the note to.")
    session.add(note)
    session.flush()
    audit.record(session, actor, "note.add", "qualitative_note", note.id, topic=key)
    return _views(session, [note.id])[0]


def list_notes(session: Session, actor: Actor, *, market_reference: str | None = None,
               donneur: str | None = None, limit: int = 50) -> list[NoteView]:
    """Notes, newest first: of a market, of a donneur (its own and its markets'), or all.
    Staff only for now: the référents read them in their bilans."""
    authorize(session, actor, Action.BILAN_READ)
    if not actor.is_staff:
        raise NotAllowed()
    q = select(QualitativeNote.id)
    if market_reference:
        q = q.where(QualitativeNote.market_id == find_market(session, market_reference).id)
    elif donneur:
        d = find_donneur(session, donneur)
        markets = select(Market.id).where(Market.donneur_id == d.id)
        q = q.where(or_(QualitativeNote.donneur_id == d.id, QualitativeNote.market_id.in_(markets)))
    ids = list(session.scalars(q.order_by(QualitativeNote.written_on.desc(),
                                          QualitativeNote.id.desc()).limit(limit)))
    return _views(session, ids)


def _company_on(session: Session, market: Market, company: str) -> Company:
    wanted = fold(company)
    found = list(session.scalars(
        select(Company).join(Engagement, Engagement.company_id == Company.id)
        .join(Lot, Lot.id == Engagement.lot_id).where(Lot.market_id == market.id).distinct()))
    match = [c for c in found if wanted and wanted in fold(c.name)]
    if len(match) != 1:
        names = ", ".join(sorted(c.name for c in found)) or "aucune"
        raise DomainError(
            f"{'Plusieurs' if match else 'Aucune'} entreprise(s) « {company} » sur le marché "
            f"{market.reference}. Entreprises du marché : {names}.", "Company not found.")
    return match[0]


def _views(session: Session, ids: list[int]) -> list[NoteView]:
    if not ids:
        return []
    rows = session.execute(
        select(QualitativeNote, Market.reference, Company.name, Donneur.name, User.display_name)
        .outerjoin(Market, Market.id == QualitativeNote.market_id)
        .outerjoin(Company, Company.id == QualitativeNote.company_id)
        .outerjoin(Donneur, Donneur.id == QualitativeNote.donneur_id)
        .outerjoin(User, User.id == QualitativeNote.author_id)
        .where(QualitativeNote.id.in_(ids))).all()
    order = {note_id: i for i, note_id in enumerate(ids)}
    out = []
    for n, ref, company, donneur, author in sorted(rows, key=lambda r: order[r[0].id]):
        about = f"{company} · marché {ref}" if ref else f"{donneur} (synthèse)"
        out.append(NoteView(id=n.id, written_on=n.written_on, topic=n.topic,
                            topic_label=TOPICS.get(n.topic or "", n.topic or "—"), about=about,
                            body=n.body, author=author))
    return out
