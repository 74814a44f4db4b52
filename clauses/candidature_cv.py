"""The facilitator opens a candidate's CV from the candidature alert.

The chat channel carries text only, so the CV goes by e-mail to the facilitator who asked — to
nobody else — as an attachment of the stored document; the access is audited (RGPD: reading a
person's CV is reading personal data). Pressing the button again the same day sends nothing
more (the outbox key), and says where it went.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.outbox import ANSWER, enqueue_email
from storage.models import Candidature, Document, Participant, User


def send_cv_to_staff(ctx: Context, session: Session, actor: Actor, candidature_id: int) -> tuple[str, bool]:
    """(address, queued now) — the CV e-mailed to the acting facilitator only."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE, "candidature", candidature_id)
    cand = session.get(Candidature, candidature_id)
    if cand is None:
        raise NotAllowed()
    doc = session.get(Document, cand.cv_document_id) if cand.cv_document_id else None
    if doc is None:
        raise DomainError(f"Aucun CV n'est joint à la candidature n° {candidature_id}.")
    user = session.get(User, actor.user_id) if actor.user_id else None
    address = ((user.email if user else None) or actor.email or "").strip().lower()
    if not address:
        raise DomainError("Votre compte n'a pas d'adresse e-mail : le CV ne peut vous être envoyé. "
                          "Demandez à un·e administrateur·rice de l'ajouter.")
    participant = session.get(Participant, cand.participant_id)
    name = participant.display_name if participant else ""
    _, created = enqueue_email(
        session, dedup_key=f"cv:{candidature_id}:user:{actor.user_id}:{ctx.clock.today().isoformat()}",
        to=address, subject=f"CV — candidature n° {candidature_id} ({name})",
        text=(f"Le CV de {name} (candidature n° {candidature_id}), à votre demande.\n"
              "Il contient des données personnelles : ne le transférez pas.\n"),
        attachments=[{"document_id": doc.id}], priority=ANSWER)
    if created:  # a second press sends nothing, so nobody reads anything more
        audit.record(session, actor, "candidature.cv_read", "participant", cand.participant_id,
                     candidature_id=candidature_id, document_id=doc.id, sent_to=address)
    return address, created
