"""Who is writing to us: an e-mail address mapped to a role and scope, or nobody."""

from __future__ import annotations

from email.utils import parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.actors import Actor
from storage.models import Contact, ContactKind, Role, User


def normalise_address(address: str) -> str:
    return parseaddr(address or "")[1].strip().lower()


def identify_sender(session: Session, address: str) -> Actor | None:
    """Known contacts first (a company's, a donneur's référent, a prescriber), then users,
    then a prescriber's accepted e-mail domain (any adviser of France Travail writes from it).

    An address attached to several organisations is ambiguous and treated as unknown: acting
    for the wrong company would be worse than asking. Ended contacts and deactivated
    prescribers are not recognised any more.

    Addresses are stored lower-cased (every writer goes through ``parse_email``), so each
    lookup is an equality on the indexed ``email`` column: its cost does not grow with the
    number of contacts (``lower(email) = …`` scanned the whole table on every message).
    """
    email = normalise_address(address)
    if not email:
        return None
    contacts = list(session.scalars(select(Contact).where(Contact.email == email,
                                                            Contact.active.is_(True))))
    owners = {(c.kind, c.company_id, c.donneur_id, c.prescriber_id) for c in contacts}
    if len(owners) == 1:
        kind, company_id, donneur_id, prescriber_id = owners.pop()
        role = {
            ContactKind.ENTREPRISE: Role.ENTREPRISE,
            ContactKind.REFERENT: Role.REFERENT,
            ContactKind.PRESCRIPTEUR: Role.PRESCRIPTEUR,
        }[kind]
        return Actor.from_email(email, role=role, company_id=company_id,
                                donneur_id=donneur_id, prescriber_id=prescriber_id)
    if len(owners) > 1:
        return None
    users = list(session.scalars(select(User).where(User.email == email, User.active.is_(True))))
    if len(users) == 1:
        u = users[0]
        actor = Actor.from_user(u, channel=Actor.from_email(email, role=None).channel)
        return actor
    from clauses.registries import prescriber_for_domain

    prescriber = prescriber_for_domain(session, email.rpartition("@")[2])
    if prescriber is not None:
        return Actor.from_email(email, role=Role.PRESCRIPTEUR, prescriber_id=prescriber.id)
    return None
